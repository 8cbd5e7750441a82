"""The moderation queue on a 3-node Redis Cluster: every script's keys share a slot."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import RedisCluster

from service.moderation import keys
from service.moderation.queue import ModerationQueue
from tests.integration.test_moderation_queue import scored

pytestmark = pytest.mark.cluster


@pytest.fixture
async def cluster(redis_cluster_url: str) -> AsyncIterator[RedisCluster]:
    client = RedisCluster.from_url(redis_cluster_url)
    yield client
    await client.aclose()


async def test_queue_claim_decide_feedback_on_a_cluster(cluster: RedisCluster) -> None:
    run = uuid.uuid4().hex[:8]
    product = f"p-{run}"
    linked: list[str] = []

    async def link(review_id: str) -> bool:
        linked.append(review_id)
        return True

    queue = ModerationQueue(cluster, lease_s=30, on_confirmed_fake=link)
    await queue.setup()
    before = await queue.reason_precision()
    reviews = [scored(f"r-{run}-{i}", 0.5 + i / 100, product_id=product) for i in range(12)]
    for review in reviews:
        assert await queue.record(review) is True
        assert await queue.record(review) is False
    allowed = scored(f"r-{run}-allowed", 0.1, decision="allow", product_id=product)
    await queue.record(allowed)
    # Records of unqueued reviews spread over the slots; the queue's keys all sit in one.
    assert len({keys.record_key(f"r-{run}-{i}") for i in range(3)}) == 3

    first = await queue.list(product_id=product, limit=5)
    rest = await queue.list(product_id=product, limit=50, cursor=first.next_cursor)
    ids = [i.scored.review_id for i in (*first.items, *rest.items)]
    assert ids == [r.review_id for r in reversed(reviews)]

    top = ids[0]
    await queue.claim(top, "alice")
    outcome = await queue.decide(top, "fake", moderator_id="alice")
    assert outcome.is_new and outcome.linked_to_fraud is True
    feedback = await queue.feedback(allowed.review_id, "genuine", source="appeal")
    assert feedback.is_new
    assert linked == [top]

    after = await queue.reason_precision()
    assert after.overall.decided - before.overall.decided == 2
    assert after.overall.fake - before.overall.fake == 1
    remaining = await queue.list(product_id=product, limit=50)
    assert top not in [i.scored.review_id for i in remaining.items]
    examples = {e.scored.review_id: e.verdict async for e in queue.labelled_examples()}
    assert examples[top] == "fake" and examples[allowed.review_id] == "genuine"
    entries = await cluster.xrange(keys.stream_key())
    mine = [f for _, f in entries if f[b"review_id"].decode().startswith(f"r-{run}")]
    assert [f[b"verdict"] for f in mine] == [b"fake", b"genuine"]

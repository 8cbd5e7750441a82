"""The moderation queue on a real Redis: exactly once, order, filters, leases, verdicts, stream."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from service.features.mux import RedisMux
from service.moderation import keys
from service.moderation.errors import (
    AlreadyClaimed,
    AlreadyDecided,
    FraudLinkFailed,
    InvalidCursor,
    NotClaimHolder,
    NotInQueue,
    ReviewNotFound,
    VerdictConflict,
)
from service.moderation.metrics import ModerationMetrics
from service.moderation.models import QueueItem
from service.moderation.queue import ModerationQueue, Reason, ScoredReview

T0 = 1_795_000_000.0


def scored(
    review_id: str,
    risk: float,
    *,
    decision: str = "review",
    product_id: str = "p-1",
    codes: tuple[str, ...] = ("DEVICE_SHARED",),
    at: float = T0,
    text: str | None = "Amazing!!! Best purchase ever!!!",
) -> ScoredReview:
    return ScoredReview(
        review_id=review_id,
        product_id=product_id,
        risk_score=risk,
        decision=decision,
        reasons=tuple(Reason(code, f"{code.lower()} triggered", 0.5) for code in codes),
        text=text,
        scored_at=at,
        model_version="text-test / fusion-test",
        features={"device_accounts_24h": 7, "account_age_s": 2580.0, "has_text": True},
    )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def queue(redis: aioredis.Redis) -> ModerationQueue:
    return ModerationQueue(redis)


async def all_items(queue: ModerationQueue, **filters: object) -> list[QueueItem]:
    page = await queue.list(limit=200, **filters)  # type: ignore[arg-type]
    assert page.next_cursor is None
    return list(page.items)


async def test_retried_record_queues_exactly_once(queue: ModerationQueue) -> None:
    review = scored("r-1", 0.9)
    results = await asyncio.gather(*(queue.record(review) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert await queue.record(review) is False
    items = await all_items(queue)
    assert [i.scored for i in items] == [review]


async def test_only_queue_decisions_are_queued(
    queue: ModerationQueue, redis: aioredis.Redis
) -> None:
    assert await queue.record(scored("r-allow", 0.1, decision="allow")) is False
    assert await queue.record(scored("r-reject", 0.99, decision="reject")) is True
    assert [i.scored.review_id for i in await all_items(queue)] == ["r-reject"]
    assert await redis.exists(keys.record_key("r-allow")) == 1
    only_review = ModerationQueue(redis, queue_decisions=frozenset({"review"}))
    assert await only_review.record(scored("r-reject-2", 0.99, decision="reject")) is False


async def test_order_is_highest_risk_then_oldest_and_pages_cover_all_once(
    queue: ModerationQueue,
) -> None:
    rng = random.Random(7)
    # 150 exact ties (longer than one chunk the queue reads from Redis) among other risks and times.
    reviews = [scored(f"r-tie-{i:03d}" + "é" * (i % 10 == 0), 0.9) for i in range(150)] + [
        scored(f"r-{i:03d}", rng.choice([0.6, 0.75, 0.9]), at=T0 + rng.choice([-60, 60]))
        for i in range(110)
    ]
    rng.shuffle(reviews)
    for review in reviews:
        await queue.record(review)
    seen: list[QueueItem] = []
    cursor = None
    for _ in range(100):
        page = await queue.list(limit=7, cursor=cursor)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    ids = [i.scored.review_id for i in seen]
    assert len(ids) == len(set(ids)) == len(reviews)
    order = [(-i.scored.risk_score, i.scored.scored_at) for i in seen]
    assert order == sorted(order)


async def test_filters(queue: ModerationQueue) -> None:
    await queue.record(scored("a", 0.95, product_id="p-1", codes=("DEVICE_SHARED", "ACCOUNT_NEW")))
    await queue.record(scored("b", 0.70, product_id="p-2", codes=("ACCOUNT_NEW",)))
    await queue.record(scored("c", 0.60, product_id="p-1", codes=("TEXT_MODEL",)))
    await queue.record(scored("d", 0.85, product_id="p-2", codes=("DEVICE_SHARED",)))

    async def ids(**filters: object) -> list[str]:
        return [i.scored.review_id for i in await all_items(queue, **filters)]

    assert await ids() == ["a", "d", "b", "c"]
    assert await ids(product_id="p-1") == ["a", "c"]
    assert await ids(reason_code="ACCOUNT_NEW") == ["a", "b"]
    assert await ids(product_id="p-2", reason_code="DEVICE_SHARED") == ["d"]
    assert await ids(min_risk=0.8) == ["a", "d"]
    assert await ids(reason_code="ACCOUNT_NEW", min_risk=0.8) == ["a"]
    assert await ids(product_id="p-404") == []
    await queue.claim("a", "mod-1")
    assert await ids(include_claimed=False) == ["d", "b", "c"]
    with pytest.raises(InvalidCursor):
        await queue.list(cursor="not-a-cursor")


async def test_lease_blocks_others_until_it_expires(redis: aioredis.Redis) -> None:
    queue = ModerationQueue(redis, lease_s=0.4)
    await queue.record(scored("r-1", 0.9))
    first = await queue.claim("r-1", "alice")
    assert not first.is_renewal
    [item] = await all_items(queue)
    assert item.lease is not None and item.lease.moderator_id == "alice"
    with pytest.raises(AlreadyClaimed):
        await queue.claim("r-1", "bob")
    with pytest.raises(AlreadyClaimed):
        await queue.decide("r-1", "genuine", moderator_id="bob")
    renewed = await queue.claim("r-1", "alice")
    assert renewed.is_renewal and renewed.expires_at_s >= first.expires_at_s
    await asyncio.sleep(0.5)
    [item] = await all_items(queue)
    assert item.lease is None  # expired: shown as free again, no background job involved
    assert (await queue.claim("r-1", "bob")).moderator_id == "bob"
    with pytest.raises(NotClaimHolder):
        await queue.release("r-1", "alice")
    await queue.release("r-1", "bob")
    [item] = await all_items(queue)
    assert item.lease is None
    with pytest.raises(NotInQueue):
        await queue.claim("r-unknown", "bob")


async def test_decision_removes_from_queue_and_is_final(queue: ModerationQueue) -> None:
    await queue.record(scored("r-1", 0.9, product_id="p-7", codes=("DEVICE_SHARED",)))
    await queue.record(scored("r-2", 0.8))
    await queue.claim("r-1", "alice")
    outcome = await queue.decide("r-1", "fake", moderator_id="alice", note="ring")
    assert outcome.is_new and outcome.verdict == "fake" and outcome.moderator_id == "alice"
    assert [i.scored.review_id for i in await all_items(queue)] == ["r-2"]
    assert await all_items(queue, product_id="p-7") == []
    assert [i.scored.review_id for i in await all_items(queue, reason_code="DEVICE_SHARED")] == [
        "r-2"
    ]
    again = await queue.decide("r-1", "fake", moderator_id="bob")
    assert not again.is_new and again.moderator_id == "alice"
    assert again.decided_at_s == outcome.decided_at_s
    with pytest.raises(VerdictConflict):
        await queue.decide("r-1", "genuine", moderator_id="alice")
    with pytest.raises(AlreadyDecided):
        await queue.claim("r-1", "bob")
    # A scoring retry after the decision does not bring it back.
    assert await queue.record(scored("r-1", 0.9, product_id="p-7")) is False
    assert [i.scored.review_id for i in await all_items(queue)] == ["r-2"]
    report = await queue.reason_precision()
    assert report.overall.decided == 1 and report.overall.fake == 1


async def test_feedback_on_any_scored_review(queue: ModerationQueue) -> None:
    await queue.record(scored("r-allowed", 0.2, decision="allow", codes=("TEXT_MODEL",)))
    await queue.record(scored("r-queued", 0.9))
    await queue.claim("r-queued", "alice")
    # An outside source decides regardless of a moderator's lease.
    chargeback = await queue.feedback("r-queued", "fake", source="chargeback")
    assert chargeback.is_new and chargeback.moderator_id is None
    allowed = await queue.feedback("r-allowed", "fake", source="customer_report")
    assert allowed.is_new and allowed.source == "customer_report"
    assert await all_items(queue) == []
    with pytest.raises(ReviewNotFound):
        await queue.feedback("r-never-scored", "fake", source="x")
    with pytest.raises(NotInQueue):
        await queue.decide("r-never-scored", "fake", moderator_id="alice")
    examples = [e async for e in queue.labelled_examples()]
    assert {(e.scored.review_id, e.verdict, e.source) for e in examples} == {
        ("r-queued", "fake", "chargeback"),
        ("r-allowed", "fake", "customer_report"),
    }


async def test_fake_verdict_links_to_confirmed_fraud(redis: aioredis.Redis) -> None:
    linked: list[str] = []
    failing = True

    async def link(review_id: str) -> bool:
        if failing:
            raise ConnectionError("feature store down")
        linked.append(review_id)
        return True

    queue = ModerationQueue(redis, on_confirmed_fake=link)
    await queue.record(scored("r-fake", 0.9))
    await queue.record(scored("r-genuine", 0.8))
    with pytest.raises(FraudLinkFailed):
        await queue.decide("r-fake", "fake", moderator_id="alice")
    failing = False
    retried = await queue.decide("r-fake", "fake", moderator_id="alice")
    assert not retried.is_new and retried.linked_to_fraud is True
    genuine = await queue.decide("r-genuine", "genuine", moderator_id="alice")
    assert genuine.linked_to_fraud is None
    assert linked == ["r-fake"]
    report = await queue.reason_precision()
    assert (report.overall.decided, report.overall.fake) == (2, 1)


async def test_decision_stream_for_other_systems(
    queue: ModerationQueue, redis: aioredis.Redis
) -> None:
    await queue.setup()
    await queue.setup()  # idempotent
    await queue.record(scored("r-1", 0.9, codes=("DEVICE_SHARED", "ACCOUNT_NEW")))
    await queue.decide("r-1", "fake", moderator_id="alice")
    await queue.decide("r-1", "fake", moderator_id="alice")  # a repeat adds no event
    await queue.record(scored("r-2", 0.2, decision="allow"))
    await queue.feedback("r-2", "genuine", source="appeal")
    reply = await redis.xreadgroup(
        keys.DECISIONS_GROUP, "consumer-1", {keys.stream_key(): ">"}, count=10
    )
    [(_, entries)] = reply
    events = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]
    assert [(e["review_id"], e["verdict"], e["source"]) for e in events] == [
        ("r-1", "fake", "moderator"),
        ("r-2", "genuine", "appeal"),
    ]
    assert events[0]["reason_codes"] == "DEVICE_SHARED,ACCOUNT_NEW"
    assert float(events[0]["risk_score"]) == 0.9
    assert events[0]["moderator_id"] == "alice"


async def test_reason_precision_and_metrics(redis: aioredis.Redis) -> None:
    registry = CollectorRegistry()
    queue = ModerationQueue(redis, metrics=ModerationMetrics.for_registry(registry))
    assert ModerationMetrics.for_registry(registry) is ModerationMetrics.for_registry(registry)
    plan = [
        ("r-1", ("DEVICE_SHARED", "ACCOUNT_NEW"), "fake"),
        ("r-2", ("DEVICE_SHARED",), "fake"),
        ("r-3", ("DEVICE_SHARED", "TEXT_MODEL"), "genuine"),
        ("r-4", ("ACCOUNT_NEW",), "genuine"),
    ]
    for review_id, codes, verdict in plan:
        await queue.record(scored(review_id, 0.9, codes=codes))
        await queue.decide(review_id, verdict, moderator_id="alice")
    await queue.decide("r-1", "fake", moderator_id="alice")  # counted once
    report = await queue.reason_precision()
    by_code = {r.code: (r.decided, r.fake) for r in report.reasons}
    assert by_code == {"DEVICE_SHARED": (3, 2), "ACCOUNT_NEW": (2, 1), "TEXT_MODEL": (1, 0)}
    assert report.reasons[0].code == "DEVICE_SHARED"
    assert report.overall.precision == 0.5

    def sample(name: str, code: str) -> float | None:
        return registry.get_sample_value(name, {"code": code})

    assert sample("reviewguard_reason_precision", "DEVICE_SHARED") == pytest.approx(2 / 3)
    assert sample("reviewguard_reason_precision", "TEXT_MODEL") == 0.0
    assert sample("reviewguard_reason_decided", "ACCOUNT_NEW") == 2
    assert sample("reviewguard_reason_precision", "*") == 0.5
    assert (
        registry.get_sample_value(
            "reviewguard_moderation_verdicts_total", {"verdict": "fake", "source": "moderator"}
        )
        == 2
    )


async def test_every_key_has_a_ttl_and_a_bounded_name(
    redis: aioredis.Redis, queue: ModerationQueue
) -> None:
    long_id = "r-" + "ü" * 126
    await queue.record(scored(long_id, 0.9, product_id="p/" + "x" * 120))
    await queue.record(scored("r-allow", 0.1, decision="allow"))
    await queue.claim(long_id, "alice")
    await queue.decide(long_id, "fake", moderator_id="alice")
    await queue.record(scored("r-2", 0.9))
    found = [key.decode() async for key in redis.scan_iter("rg:v1:mod:*")]
    assert len(found) >= 8
    for key in found:
        assert 0 < await redis.ttl(key) <= 31 * 86400, key
        assert len(key) < 80, key
    [example] = [e async for e in queue.labelled_examples()]
    assert example.scored.review_id == long_id


async def test_retention_applies_to_records(redis: aioredis.Redis) -> None:
    queue = ModerationQueue(redis, retention_s=1)
    await queue.record(scored("r-allow", 0.1, decision="allow"))
    await queue.record(scored("r-queued", 0.9))
    assert 0 < await redis.pttl(keys.record_key("r-allow")) <= 1000
    assert 0 < await redis.pttl(keys.item_key("r-queued")) <= 1000
    assert 0 < await redis.pttl(keys.queue_key()) <= 1000


async def test_expired_items_leave_the_listing_and_the_indexes(
    redis: aioredis.Redis, queue: ModerationQueue
) -> None:
    await queue.record(scored("r-1", 0.9, product_id="p-1"))
    await queue.record(scored("r-2", 0.8, product_id="p-1"))
    await redis.delete(keys.item_key("r-1"))  # what its TTL does after the retention period
    assert [i.scored.review_id for i in await all_items(queue, product_id="p-1")] == ["r-2"]
    assert await redis.zrange(keys.product_index_key("p-1"), 0, -1) == [b"r-2"]
    assert await redis.zrange(keys.queue_key(), 0, -1) == [b"r-2"]


@pytest.mark.parametrize("count", [0, 1, 4, 5, 6, 10, 11])
async def test_last_page_has_no_cursor(queue: ModerationQueue, count: int) -> None:
    for i in range(count):
        await queue.record(scored(f"r-{i}", 0.5 + i / 100))
    pages, cursor = [], None
    while True:
        page = await queue.list(limit=5, cursor=cursor)
        pages.append(len(page.items))
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sum(pages) == count
    assert 0 not in pages[:-1] and (pages[-1] > 0 or count == 0)


async def test_a_client_that_decodes_responses_is_refused(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses"):
        ModerationQueue(client)
    await client.aclose()


async def test_posted_records_land_as_awaited_ones_do(
    redis: aioredis.Redis, redis_url: str
) -> None:
    mux = RedisMux.from_url(redis_url)
    assert mux is not None
    registry = CollectorRegistry()
    queue = ModerationQueue(redis, mux=mux, metrics=ModerationMetrics.for_registry(registry))
    errors: list[Exception] = []
    try:
        await mux.call("PING")  # posting needs the connection open
        assert await redis.script_flush() is not None  # the ENQUEUE script must be reloaded
        assert queue.post(scored("r-allow", 0.1, decision="allow"), errors.append)
        assert queue.post(scored("r-review", 0.7, decision="review"), errors.append)
        assert queue.post(scored("r-review", 0.7, decision="review"), errors.append)  # a retry
        assert queue.post(scored("r-reject", 0.99, decision="reject"), errors.append)
        await mux.sync()
        await queue.settle()
        assert errors == []
        assert await redis.exists(keys.record_key("r-allow")) == 1
        items = await all_items(queue)
        assert [i.scored for i in items] == [
            scored("r-reject", 0.99, decision="reject"),
            scored("r-review", 0.7, decision="review"),
        ]
        enqueued = {
            s.labels["decision"]: s.value
            for m in registry.collect()
            if m.name == "reviewguard_moderation_enqueued"
            for s in m.samples
            if s.name.endswith("_total")
        }
        assert enqueued == {"review": 1.0, "reject": 1.0}
    finally:
        await mux.aclose()
    # Without a pipelined connection the caller awaits `record` instead.
    assert not ModerationQueue(redis).post(scored("r-x", 0.7), errors.append)

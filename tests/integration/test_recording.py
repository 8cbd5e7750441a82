"""Writes after answering, posted to the pipelined connection: the same data as awaited writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from service.features.mux import RedisMux
from service.features.store import FeatureStore
from service.moderation import keys as moderation_keys
from service.moderation.models import key_id
from service.moderation.queue import ModerationQueue
from service.recording import FailureLog, PostedWrites, scored_review
from service.scorer import FraudScorer, Scored
from service.scoring.fusion import FusionConfig
from service.scoring.review import Account, Device, Review
from service.settings import DEFAULT_ARTIFACT_DIR
from service.text_model import TextModel

RETENTION_S = 3600
HMAC_KEY = b"test-hmac-key"


def reviews() -> list[Review]:
    return [
        Review(
            review_id=f"r-{i}",
            product_id="p-1",
            rating=5 if i % 2 else 2,
            submitted_at=1_790_000_000.0 + i * 30,
            text="Best kettle ever!!! Buy it now!!!" if i % 3 == 0 else "Boils fast, a bit loud.",
            account=Account(id=f"a-{i % 4}", created_at=1_789_990_000.0, username=f"user{i}"),
            device=Device(fingerprint="fp-shared", ip=f"198.51.100.{i % 3}"),
        )
        for i in range(24)
    ]


@pytest.fixture(scope="module")
def classifier() -> TextModel:
    return TextModel.load(DEFAULT_ARTIFACT_DIR)


@pytest.fixture
async def two_dbs(redis_url: str) -> AsyncIterator[tuple[str, str]]:
    base = redis_url.rsplit("/", 1)[0]
    urls = (f"{base}/7", f"{base}/8")
    for url in urls:
        client = Redis.from_url(url)
        await client.flushdb()
        await client.aclose()
    yield urls


async def dump(redis: Redis) -> dict[bytes, tuple[bytes, object]]:
    """Every key: its type and value (hashes as dicts, sorted sets with scores)."""
    out: dict[bytes, tuple[bytes, object]] = {}
    for key in sorted(await redis.keys("*")):
        kind = await redis.type(key)
        ttl = await redis.ttl(key)
        assert 0 < ttl <= RETENTION_S, key
        if kind == b"hash":
            value: object = await redis.hgetall(key)
        elif kind == b"zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == b"string":
            value = await redis.get(key)
        else:
            value = kind
        out[key] = (kind, value)
    return out


async def test_posted_writes_store_what_the_awaited_ones_store(
    two_dbs: tuple[str, str], classifier: TextModel
) -> None:
    stored = []
    verdicts = []
    for posted, url in zip((True, False), two_dbs, strict=True):
        redis, mux = Redis.from_url(url), RedisMux.from_url(url)
        assert mux is not None
        store = FeatureStore(redis, HMAC_KEY, retention_s=RETENTION_S, mux=mux)
        queue = ModerationQueue(redis, mux=mux, retention_s=RETENTION_S)
        replays: list[bool] = []

        def seen(scored: Scored, replays: list[bool] = replays) -> None:
            replays.append(scored.is_replay)

        async def record(scored: Scored, queue: ModerationQueue = queue) -> None:
            await queue.record(scored_review(scored))

        poster = PostedWrites(mux, store, queue) if posted else None
        scorer = FraudScorer(
            store,
            classifier,
            None,
            FusionConfig(),
            budget_s=1.0,
            recorders=[record],
            observers=[seen],
            poster=poster,
        )
        try:
            first = [await scorer.score(review) for review in reviews()]
            await scorer.drain()
            again = [await scorer.score(review) for review in reviews()]  # retries: replays
            await scorer.drain()
            assert [v.body for v in again] == [v.body for v in first]
            assert replays == [False] * len(first) + [True] * len(first)
            stored.append(await dump(redis))
            verdicts.append([v.body for v in first])
            queued = await redis.zcard(moderation_keys.queue_key())
            assert queued == sum(v.decision != "allow" for v in first)
        finally:
            await mux.aclose()
            await redis.aclose()
    assert verdicts[0] == verdicts[1]
    # Queue items carry Redis's own enqueue time: compare them without it.
    for dumped in stored:
        for kind, value in dumped.values():
            if kind == b"hash" and isinstance(value, dict):
                value.pop(b"enq_ms", None)
    assert stored[0] == stored[1]


def test_failures_are_counted_and_logged_at_most_once_a_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    failures = FailureLog(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="reviewguard.recording"):
        for _ in range(5):
            failures(ConnectionError("gone"))
        now[0] += 1.0
        failures(TimeoutError())
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "recording scored reviews failed: ConnectionError (1 writes)",
        "recording scored reviews failed: TimeoutError (5 writes)",
    ]


async def test_records_of_reviews_answered_in_one_turn_all_land(
    two_dbs: tuple[str, str], classifier: TextModel
) -> None:
    url = two_dbs[0]
    redis, mux = Redis.from_url(url), RedisMux.from_url(url)
    assert mux is not None
    store = FeatureStore(redis, HMAC_KEY, retention_s=RETENTION_S, mux=mux)
    queue = ModerationQueue(redis, mux=mux, retention_s=RETENTION_S)
    errors: list[Exception] = []
    poster = PostedWrites(mux, store, queue, on_error=errors.append)
    scorer = FraudScorer(store, classifier, None, FusionConfig(), budget_s=1.0, poster=poster)
    try:
        batch = reviews()
        verdicts = await asyncio.gather(*(scorer.score(review) for review in batch))
        await scorer.drain()
        assert errors == []
        queued = set(await redis.zrange(moderation_keys.queue_key(), 0, -1))
        for verdict in verdicts:
            if verdict.decision == "allow":
                assert await redis.exists(moderation_keys.record_key(verdict.review_id))
            else:
                assert await redis.hget(moderation_keys.item_key(verdict.review_id), "rec")
                assert key_id(verdict.review_id).encode() in queued
        assert len(queued) == sum(v.decision != "allow" for v in verdicts) > 0
    finally:
        await mux.aclose()
        await redis.aclose()


async def test_a_record_that_cannot_be_posted_is_reported_and_the_answer_stands(
    two_dbs: tuple[str, str], classifier: TextModel
) -> None:
    url = two_dbs[0]
    redis, mux = Redis.from_url(url), RedisMux.from_url(url)
    assert mux is not None
    store = FeatureStore(redis, HMAC_KEY, retention_s=RETENTION_S, mux=mux)
    no_pipeline = ModerationQueue(redis, mux=None, retention_s=RETENTION_S)
    errors: list[Exception] = []
    poster = PostedWrites(mux, store, no_pipeline, on_error=errors.append)
    scorer = FraudScorer(store, classifier, None, FusionConfig(), budget_s=1.0, poster=poster)
    try:
        verdicts = [await scorer.score(review) for review in reviews()[:5]]
        await scorer.drain()
        assert all(not v.degraded for v in verdicts)
        assert [type(e) for e in errors] == [RuntimeError] * 5
        # the answers are still cached: a retry replays them
        assert (await scorer.score(reviews()[0])).body == verdicts[0].body
        assert not await redis.keys("rg:v1:mod:*")
    finally:
        await mux.aclose()
        await redis.aclose()

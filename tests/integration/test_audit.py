"""The audit trail on a real Redis: each new decision once, degraded ones too, capped, TTLs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from prometheus_client import Counter
from redis.asyncio import Redis

from service.breaker import CircuitBreaker
from service.features.store import FeatureStore
from service.monitoring.audit import STREAM_KEY, AuditTrail, entry_key, statement_of_reasons
from service.scorer import FraudScorer, Scored, Verdict
from service.scoring.fusion import FusionConfig
from service.scoring.review import Account, Device, Review
from tests.conftest import free_port

RETENTION_S = 3600


class FixedText:
    """A stand-in text model: the same probability for every text."""

    version = "fixed-text"
    train_prior = 0.5

    def predict(self, text: str) -> float:
        return 0.3

    def predict_many(self, texts: Sequence[str]) -> list[float]:
        return [0.3] * len(texts)


def a_review(review_id: str) -> Review:
    return Review(
        review_id=review_id,
        product_id="p-1",
        rating=5,
        submitted_at=1_790_000_000.0,
        text="Solid kettle, boils fast.",
        account=Account(id="a-1", created_at=1_700_000_000.0, username="maria"),
        device=Device(fingerprint="fp-1", ip="198.51.100.7"),
    )


def a_verdict(review_id: str) -> Verdict:
    return Verdict(review_id, 0.2, "medium", "allow", (), "fixed-text / none", False)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


def scorer_with(redis: Redis, trail: AuditTrail) -> FraudScorer:
    return FraudScorer(
        FeatureStore(redis, b"test-hmac-key", retention_s=RETENTION_S),
        FixedText(),
        None,
        FusionConfig(),
        budget_s=1.0,
        breaker=CircuitBreaker(failure_threshold=1000),
        observers=[trail.observe],
    )


async def test_each_decision_is_audited_once_with_a_ttl(redis: Redis) -> None:
    trail = AuditTrail(redis, maxlen=1000, retention_s=RETENTION_S, config_version="cfg-1")
    scorer = scorer_with(redis, trail)
    verdict = await scorer.score(a_review("r-1"))
    await scorer.drain()
    assert await trail.entry("r-1") is None  # buffered: nothing written while answering
    assert await trail.flush()
    await scorer.score(a_review("r-1"))  # a replay: the same decision, not a new one
    await scorer.drain()
    assert trail.pending == 0
    assert await redis.xlen(STREAM_KEY) == 1
    entry = await trail.entry("r-1")
    assert entry is not None
    assert entry["decision"] == verdict.decision and entry["risk_score"] == verdict.risk_score
    assert entry["config_version"] == "cfg-1" and entry["model_version"] == verdict.model_version
    assert 0 < await redis.ttl(entry_key("r-1")) <= RETENTION_S
    assert 0 < await redis.ttl(STREAM_KEY) <= RETENTION_S
    ((_, fields),) = await redis.xrange(STREAM_KEY)
    assert fields[b"review_id"] == b"r-1"
    raw = fields[b"entry"].decode()
    for personal in ("198.51.100.7", "fp-1", "maria", "kettle"):
        assert personal not in raw


async def test_degraded_answers_are_audited_too(redis: Redis) -> None:
    trail = AuditTrail(redis, maxlen=1000, retention_s=RETENTION_S, config_version="cfg-1")
    # The features' Redis is unreachable; the audit trail's is up (a partial outage).
    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    scorer = scorer_with(unreachable, trail)
    try:
        verdict = await scorer.score(a_review("r-degraded"))
        await scorer.drain()
        assert await trail.flush()
    finally:
        await unreachable.aclose()
    assert verdict.degraded
    entry = await trail.entry("r-degraded")
    assert entry is not None and entry["degraded"] is True
    statement = statement_of_reasons(entry)
    assert statement["degraded"] is True and statement["degraded_note"]
    assert "FEATURES_UNAVAILABLE" in [r["code"] for r in statement["contributions"]["reasons"]]


async def test_entries_wait_while_the_breaker_is_open(redis: Redis) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_s=60)
    trail = AuditTrail(
        redis, maxlen=1000, retention_s=RETENTION_S, config_version="cfg-1", breaker=breaker
    )
    scorer = scorer_with(redis, trail)
    await scorer.score(a_review("r-open"))
    await scorer.drain()
    breaker.record_failure()
    assert not await trail.flush()  # Redis is not tried while the breaker is open
    assert trail.pending == 1 and await redis.xlen(STREAM_KEY) == 0
    breaker.record_success()
    assert await trail.flush()
    assert trail.pending == 0 and await trail.entry("r-open") is not None


async def test_entries_wait_while_redis_is_down(redis_url: str) -> None:
    port = free_port()
    down = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    errors, dropped = Counter("e", "e", registry=None), Counter("d", "d", registry=None)
    trail = AuditTrail(
        down, maxlen=1000, retention_s=RETENTION_S, config_version="c", max_pending=2,
        errors=errors, dropped=dropped,
    )  # fmt: skip
    for i in range(3):
        trail.observe(Scored(a_review(f"w-{i}"), a_verdict(f"w-{i}"), None, is_replay=False))
    assert not await trail.flush()
    assert trail.pending == 2
    assert errors._value.get() == 1 and dropped._value.get() == 1
    await down.aclose()


async def test_the_stream_is_capped(redis: Redis) -> None:
    trail = AuditTrail(redis, maxlen=50, retention_s=RETENTION_S, config_version="cfg-1")
    scorer = scorer_with(redis, trail)
    await scorer.score_many([a_review(f"cap-{i}") for i in range(400)])
    await scorer.drain()
    assert await trail.flush(batch=30)
    # MAXLEN ~ trims whole radix-tree nodes (100 entries by default): about the cap, not exactly.
    assert 50 <= await redis.xlen(STREAM_KEY) <= 150
    assert await trail.entry("cap-0") is not None  # still answerable by review id

"""The audit trail on a real Redis: each new decision once, degraded ones too, capped, TTLs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from redis.asyncio import Redis

from service.breaker import CircuitBreaker
from service.features.store import FeatureStore
from service.monitoring.audit import STREAM_KEY, AuditTrail, entry_key, statement_of_reasons
from service.scorer import FraudScorer
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


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


def scorer_with(
    redis: Redis, trail: AuditTrail, *, breaker: CircuitBreaker | None = None
) -> FraudScorer:
    return FraudScorer(
        FeatureStore(redis, b"test-hmac-key", retention_s=RETENTION_S),
        FixedText(),
        None,
        FusionConfig(),
        budget_s=1.0,
        breaker=breaker or CircuitBreaker(failure_threshold=1000),
        auditors=[trail.record],
    )


async def test_each_decision_is_audited_once_with_a_ttl(redis: Redis) -> None:
    trail = AuditTrail(redis, maxlen=1000, retention_s=RETENTION_S, config_version="cfg-1")
    scorer = scorer_with(redis, trail)
    verdict = await scorer.score(a_review("r-1"))
    await scorer.drain()
    await scorer.score(a_review("r-1"))  # a replay: the same decision, not a new one
    await scorer.drain()
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
    finally:
        await unreachable.aclose()
    assert verdict.degraded
    entry = await trail.entry("r-degraded")
    assert entry is not None and entry["degraded"] is True
    statement = statement_of_reasons(entry)
    assert statement["degraded"] is True and statement["degraded_note"]
    assert "FEATURES_UNAVAILABLE" in [r["code"] for r in statement["contributions"]["reasons"]]


async def test_no_audit_write_while_the_breaker_is_open(redis: Redis) -> None:
    trail = AuditTrail(redis, maxlen=1000, retention_s=RETENTION_S, config_version="cfg-1")
    breaker = CircuitBreaker(failure_threshold=1, reset_s=60)
    breaker.record_failure()
    scorer = scorer_with(redis, trail, breaker=breaker)
    verdict = await scorer.score(a_review("r-open"))
    await scorer.drain()
    assert verdict.degraded
    assert await trail.entry("r-open") is None
    assert await redis.xlen(STREAM_KEY) == 0


async def test_the_stream_is_capped(redis: Redis) -> None:
    trail = AuditTrail(redis, maxlen=50, retention_s=RETENTION_S, config_version="cfg-1")
    scorer = scorer_with(redis, trail)
    await scorer.score_many([a_review(f"cap-{i}") for i in range(400)])
    await scorer.drain()
    # MAXLEN ~ trims whole radix-tree nodes (100 entries by default): about the cap, not exactly.
    assert 50 <= await redis.xlen(STREAM_KEY) <= 150
    assert await trail.entry("cap-0") is not None  # still answerable by review id

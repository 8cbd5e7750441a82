"""The audit trail's two ways of writing (script calls on a single Redis, the pipeline a Cluster
uses) store the same stream entries, entries by review id and TTLs as the pipeline always did."""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from service.features.mux import RedisMux
from service.monitoring.audit import (
    SCRIPT_CHUNK,
    STREAM_KEY,
    AuditTrail,
    entry_key,
    entry_payload,
)
from service.scorer import Scored, Verdict
from service.scoring.fusion import Reason
from service.scoring.review import Account, Review
from tests.unit.factories import VERDICTS, answer_fields

RETENTION_S = 3600


def audit_entry(scored: Scored, config_version: str, recorded_at_s: float) -> dict[str, Any]:
    """The entry as a plain dict: the answer, field by field, with when and under which
    configuration it was given; the definition entry_payload must match."""
    return {
        **answer_fields(scored.verdict),
        "recorded_at": round(recorded_at_s, 3),
        "config_version": config_version,
    }


def scored(verdict: Verdict) -> Scored:
    review = Review(verdict.review_id, "p-1", 5, 1_790_000_000.0, Account("a-1"), text="Fine.")
    return Scored(review, verdict, None, is_replay=False)


@settings(max_examples=500, deadline=None)
@given(VERDICTS, st.text(max_size=12), st.floats(0, 4e9))
def test_entry_payload_is_the_entry_as_json(verdict: Verdict, config: str, at: float) -> None:
    expected = orjson.loads(orjson.dumps(audit_entry(scored(verdict), config, at)))
    assert orjson.loads(entry_payload(verdict, config, at)) == expected


@pytest.fixture
async def two_dbs(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    base = redis_url.rsplit("/", 1)[0]
    first, second = Redis.from_url(f"{base}/5"), Redis.from_url(f"{base}/6")
    for client in (first, second):
        await client.flushdb()
    yield first, second
    for client in (first, second):
        await client.flushdb()
        await client.aclose()


async def stored(redis: Redis, review_ids: list[str]) -> tuple[object, ...]:
    entries = [fields for _, fields in await redis.xrange(STREAM_KEY)]
    by_id = [await redis.get(entry_key(review_id)) for review_id in review_ids]
    ttls = [await redis.ttl(entry_key(review_id)) for review_id in review_ids]
    assert all(RETENTION_S - 5 <= ttl <= RETENTION_S for ttl in ttls)
    assert RETENTION_S - 5 <= await redis.ttl(STREAM_KEY) <= RETENTION_S
    return entries, by_id, sorted(await redis.keys("*"))


def ticking() -> Callable[[], float]:
    ticks = itertools.count()
    return lambda: 1_790_000_000.0 + next(ticks) / 7


def many_verdicts() -> tuple[list[str], list[Verdict]]:
    n = SCRIPT_CHUNK * 2 + 7  # whole chunks and a partial one
    ids = [f"r-{i}" for i in range(n)] + ["r-\u00e9t\u00e9 {x}"]
    verdicts = [
        Verdict(
            review_id,
            i / n,
            "low",
            "allow",
            (Reason("TEXT_MODEL", f"text {i}", -0.5), Reason("X", "", math.inf)),
            "text / behaviour",
            i % 3 == 0,
        )
        for i, review_id in enumerate(ids)
    ]
    return ids, verdicts


async def test_script_and_pipeline_store_the_same(two_dbs: tuple[Redis, Redis]) -> None:
    by_script, by_pipeline = two_dbs
    ids, verdicts = many_verdicts()
    trails = [
        AuditTrail(
            redis, maxlen=1000, retention_s=RETENTION_S, config_version="cfg", clock=ticking()
        )
        for redis in (by_script, by_pipeline)
    ]
    trails[1]._write_script = None  # the Cluster's way: one pipeline
    for trail in trails:
        for verdict in verdicts:
            trail.observe(scored(verdict))
        assert await trail.flush(batch=150)
        assert trail.pending == 0
    script_stored = await stored(by_script, ids)
    assert script_stored == await stored(by_pipeline, ids)
    entries, by_id, _ = script_stored
    assert [fields[b"review_id"] for fields in entries] == [i.encode() for i in ids]  # type: ignore[attr-defined]
    assert [fields[b"entry"] for fields in entries] == by_id  # type: ignore[attr-defined]


async def test_the_pipelined_connection_stores_what_redis_py_stores(
    two_dbs: tuple[Redis, Redis], redis_url: str
) -> None:
    by_redis_py, by_mux = two_dbs
    ids, verdicts = many_verdicts()
    mux = RedisMux.from_url(redis_url.rsplit("/", 1)[0] + "/6")
    assert mux is not None
    try:
        trails = [
            AuditTrail(
                redis,
                maxlen=1000,
                retention_s=RETENTION_S,
                config_version="cfg",
                clock=ticking(),
                mux=connection,
            )
            for redis, connection in ((by_redis_py, None), (by_mux, mux))
        ]
        await by_mux.script_flush()  # the first chunk meets NOSCRIPT: redis-py loads it
        for trail in trails:
            for verdict in verdicts:
                trail.observe(scored(verdict))
            assert await trail.flush(batch=150)
            assert trail.pending == 0
        assert await stored(by_redis_py, ids) == await stored(by_mux, ids)
    finally:
        await mux.aclose()

"""The feature store over the mux (the hot path: the batch command's bytes built at once, the
replies decoded in C where built) gives what the store over redis-py and the replay state give."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio

from service.features.memory import MemoryFeatureState
from service.features.mux import RedisMux
from service.features.store import FeatureStore, FeaturesUnavailable
from tests.conftest import RedisServer
from tests.integration.test_feature_store import HMAC_KEY, make_sequence


@pytest.fixture
async def two(redis_url: str) -> AsyncIterator[tuple[FeatureStore, FeatureStore]]:
    """A store over the mux on db 5 and one over redis-py alone on db 6, both flushed."""
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    conns, muxes = [], []
    for db in (5, 6):
        conn = redis_asyncio.Redis.from_url(f"{base}/{db}")
        await conn.flushdb()
        conns.append(conn)
    mux = RedisMux.from_url(f"{base}/5")
    assert mux is not None
    muxes.append(mux)
    retention_s = 3 * 86400
    try:
        yield (
            FeatureStore(conns[0], HMAC_KEY, retention_s=retention_s, mux=mux),
            FeatureStore(conns[1], HMAC_KEY, retention_s=retention_s),
        )
    finally:
        for m in muxes:
            await m.aclose()
        for conn in conns:
            await conn.aclose()


async def test_mux_store_equals_plain_store_and_replay(
    two: tuple[FeatureStore, FeatureStore],
) -> None:
    on_mux, plain = two
    memory = MemoryFeatureState(HMAC_KEY, retention_s=3 * 86400)
    sequence = make_sequence(seed=11, n=200)
    duplicates = 0
    for review in sequence:
        fast = await on_mux.observe(review)
        slow = await plain.observe(review)
        assert fast == slow, review.review_id
        assert fast.features == memory.observe(review), review.review_id
        duplicates += fast.features.duplicate_accounts_7d > 0
    assert duplicates  # the sequence exercised the band replies
    await on_mux.store_answer(sequence[0].review_id, b"answer")
    await plain.store_answer(sequence[0].review_id, b"answer")
    assert (await on_mux.observe(sequence[0])).cached_answer == b"answer"
    assert await on_mux.observe(sequence[0]) == await plain.observe(sequence[0])


async def test_mux_store_reloads_flushed_scripts(two: tuple[FeatureStore, FeatureStore]) -> None:
    on_mux, _ = two
    review = make_sequence(seed=5, n=1)[0]
    first = await on_mux.observe(review)
    await on_mux._redis.script_flush()
    assert (await on_mux.observe(review)).features == first.features


async def test_mux_store_past_its_deadline_times_out(own_redis: RedisServer) -> None:
    review = make_sequence(seed=2, n=1)[0]
    conn = redis_asyncio.Redis.from_url(own_redis.url)
    mux = RedisMux.from_url(own_redis.url)
    assert mux is not None and own_redis.proc is not None
    store = FeatureStore(conn, HMAC_KEY, mux=mux)
    try:
        await store.load_scripts()
        await store.observe(review)
        with own_redis.frozen():
            loop = asyncio.get_running_loop()
            with pytest.raises(TimeoutError):
                await store.observe(review, deadline=loop.time() + 0.1)
        own_redis.stop()  # down: the mux cannot reconnect
        with pytest.raises(FeaturesUnavailable):
            await store.observe(review)
    finally:
        await mux.aclose()
        await conn.aclose()

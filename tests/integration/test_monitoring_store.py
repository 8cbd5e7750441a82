"""The live profile's buckets in Redis: what one flush adds, where, and for how long."""

from __future__ import annotations

from redis.asyncio import Redis

from service.monitoring.live import MINUTE_S, LiveStore, hour_key, minute_key

# A time inside an hour, far enough from its end that the next minute is the same hour.
NOW_S = 1_790_000_000.0 - 1_790_000_000.0 % 3600 + 600


async def test_a_flush_adds_to_the_minute_and_the_hour_bucket_with_their_ttls(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    try:
        store = LiveStore(redis, minute_ttl_s=300, hour_ttl_s=7200)
        await store.add({"risk:3": 2, "decision:1": 5}, NOW_S)
        await store.add({"risk:3": 1, "text_score:0": 4}, NOW_S + 1)
        await store.add({"risk:3": 10}, NOW_S + MINUTE_S)  # the next minute, the same hour
        await store.add({}, NOW_S + 2 * MINUTE_S)  # nothing to add: nothing written

        first, second = minute_key(NOW_S), minute_key(NOW_S + MINUTE_S)
        assert await redis.hgetall(first) == {b"risk:3": b"3", b"decision:1": b"5",
                                              b"text_score:0": b"4"}  # fmt: skip
        assert await redis.hgetall(second) == {b"risk:3": b"10"}
        assert await redis.hgetall(hour_key(NOW_S)) == {b"risk:3": b"13", b"decision:1": b"5",
                                                        b"text_score:0": b"4"}  # fmt: skip
        assert not await redis.exists(minute_key(NOW_S + 2 * MINUTE_S))
        for key, ttl_s in ((first, 300), (second, 300), (hour_key(NOW_S), 7200)):
            assert ttl_s - 5 <= await redis.ttl(key) <= ttl_s
        assert len(await redis.keys("*")) == 3
    finally:
        await redis.aclose()

"""A Redis restart, clean or a crash, keeps the queue's order, its leases and its counts whole."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from service.moderation import keys
from service.moderation.errors import AlreadyClaimed, ModerationUnavailable
from service.moderation.queue import ModerationQueue
from tests.conftest import RedisServer
from tests.integration.test_moderation_queue import scored


def persistent(server: RedisServer, *extra: str) -> RedisServer:
    """The same server, restarted with an append-only file in its own directory."""
    return RedisServer(server.workdir, server.port, "--appendonly", "yes", *extra)


async def snapshot(queue: ModerationQueue) -> list[tuple[str, str | None, float | None]]:
    page = await queue.list(limit=200)
    return [
        (
            i.scored.review_id,
            i.lease.moderator_id if i.lease else None,
            i.lease.expires_at_s if i.lease else None,
        )
        for i in page.items
    ]


async def test_clean_restart_keeps_order_and_leases(own_redis: RedisServer) -> None:
    own_redis.stop()
    server = persistent(own_redis)
    server.start()
    try:
        client = aioredis.Redis.from_url(server.url)
        queue = ModerationQueue(client, lease_s=60)
        short = ModerationQueue(client, lease_s=1.0)
        for i in range(30):
            await queue.record(scored(f"r-{i:02d}", (i % 7) / 10 + 0.3, at=1_795_000_000 + i))
        await queue.claim("r-06", "alice")
        await short.claim("r-13", "carol")
        await queue.decide("r-27", "fake", moderator_id="bob")
        before = await snapshot(queue)
        server.stop()
        server.start()
        await client.aclose()
        client = aioredis.Redis.from_url(server.url)
        queue = ModerationQueue(client, lease_s=60)
        assert await snapshot(queue) == before
        assert before[0][0] == "r-06" and before[0][1] == "alice"
        try:
            await queue.claim("r-06", "bob")
            raise AssertionError("alice's lease did not survive the restart")
        except AlreadyClaimed:
            pass
        assert await queue.record(scored("r-06", 0.9)) is False  # still exactly once
        await asyncio.sleep(1.1)
        assert (await queue.claim("r-13", "bob")).moderator_id == "bob"  # carol's lease ran out
        report = await queue.reason_precision()
        assert (report.overall.decided, report.overall.fake) == (1, 1)
        await client.aclose()
    finally:
        server.stop()


async def test_crash_mid_traffic_leaves_queue_consistent(own_redis: RedisServer) -> None:
    own_redis.stop()
    server = persistent(own_redis, "--appendfsync", "always")
    server.start()
    client = aioredis.Redis.from_url(server.url)
    queue = ModerationQueue(client, lease_s=60)
    acknowledged: list[str] = []
    enough = asyncio.Event()

    async def traffic() -> None:
        for i in range(100_000):
            review_id = f"r-{i:05d}"
            await queue.record(scored(review_id, 0.5 + (i % 50) / 100, codes=("A", "B")))
            if i % 3 == 0:
                await queue.decide(review_id, "fake" if i % 2 else "genuine", moderator_id="m")
            acknowledged.append(review_id)
            if len(acknowledged) == 150:
                enough.set()

    try:
        task = asyncio.create_task(traffic())
        await asyncio.wait_for(enough.wait(), timeout=30)
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
        with contextlib.suppress(ModerationUnavailable, RedisConnectionError):
            await task
        server.start()
        await client.aclose()
        client = aioredis.Redis.from_url(server.url)
        queue = ModerationQueue(client)

        queued = [m.decode() for m in await client.zrange(keys.queue_key(), 0, -1)]
        decided = [m.decode() for m in await client.zrange(keys.decided_key(), 0, -1)]
        assert queued and decided
        # Every write the client saw acknowledged is there, and nothing is half-applied.
        assert set(acknowledged) <= set(queued) | set(decided)
        assert not set(queued) & set(decided)
        for member in queued:
            assert await client.hget(keys.item_key_for_member(member), "status") == b"queued"
        for member in decided:
            assert await client.hget(keys.item_key_for_member(member), "status") == b"decided"
        for code in ("A", "B"):
            index = await client.zrange(keys.reason_index_key(code), 0, -1)
            assert sorted(m.decode() for m in index) == sorted(queued)
        report = await queue.reason_precision()
        assert report.overall.decided == len(decided)
        assert {r.code: r.decided for r in report.reasons} == {"A": len(decided), "B": len(decided)}
        assert await client.xlen(keys.stream_key()) == len(decided)
        page = await queue.list(limit=200)
        risks = [i.scored.risk_score for i in page.items]
        assert risks == sorted(risks, reverse=True)
        await client.aclose()
    finally:
        server.stop()

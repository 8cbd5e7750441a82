"""Moderation cost: Redis memory per scored record and queued item, time per call (loopback).

Run from the repository root: `.venv/bin/python bench/moderation_cost.py`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.moderation import keys
from service.moderation.queue import ModerationQueue, ScoredReview
from tests.conftest import free_port, wait_until_ping
from tests.integration.test_moderation_queue import scored as scored_with
from tests.unit.factories import features

TEXT = (
    "I bought this blender last month. It crushes ice well, the lid seals tightly and cleaning "
    "is easy, but the motor is loud and the jug scratches. Good value for the price overall. "
) * 2
QUEUED_CODES = ("DEVICE_SHARED", "ACCOUNT_NEW", "TEXT_MODEL")
FEATURES = dataclasses.asdict(features())


def scored(*args: Any, **kwargs: Any) -> ScoredReview:
    """A review with the service's full feature snapshot, as the scorer hands it over."""
    return dataclasses.replace(scored_with(*args, **kwargs), features=FEATURES)


async def used_memory(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def measure(port: int, n: int = 2000, m: int = 300) -> None:
    client = aioredis.Redis(port=port)
    queue = ModerationQueue(client)
    before = await used_memory(client)
    for i in range(n):
        review = scored(f"r-allow-{i:06d}", 0.1, decision="allow", text=TEXT, codes=("TEXT_MODEL",))
        await queue.record(review)
    middle = await used_memory(client)
    for i in range(n):
        review = scored(f"r-queue-{i:06d}", 0.5 + (i % 50) / 100, text=TEXT, codes=QUEUED_CODES)
        await queue.record(review)
    after = await used_memory(client)
    record_usage = await client.memory_usage(keys.record_key("r-allow-000001"))
    item_usage = await client.memory_usage(keys.item_key("r-queue-000001"))
    print(
        f"text {len(TEXT)} chars, {len(QUEUED_CODES)} reasons, {len(FEATURES)} features, "
        f"{n} reviews each"
    )
    print(f"record, not queued: {(middle - before) / n:.0f} B each (MEMORY USAGE {record_usage} B)")
    print(
        f"queued item with its index entries: {(after - middle) / n:.0f} B each "
        f"(item hash MEMORY USAGE {item_usage} B)"
    )

    timings: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(m):
        await queue.record(scored(f"r-t-{i:06d}", 0.7, text=TEXT))
    timings["record queued"] = (time.perf_counter() - start) / m
    start = time.perf_counter()
    for i in range(m):
        await queue.record(scored(f"r-a-{i:06d}", 0.1, decision="allow", text=TEXT))
    timings["record not queued"] = (time.perf_counter() - start) / m
    start = time.perf_counter()
    for _ in range(50):
        await queue.list(limit=50)
    timings["list 50"] = (time.perf_counter() - start) / 50
    start = time.perf_counter()
    for i in range(m):
        await queue.decide(f"r-t-{i:06d}", "fake", moderator_id="m")
    timings["decide"] = (time.perf_counter() - start) / m
    print(", ".join(f"{name} {1e3 * s:.2f} ms" for name, s in timings.items()), "(sequential)")
    await client.aclose()


def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            [
                *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_until_ping(port)
            asyncio.run(measure(port))
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()

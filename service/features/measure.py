"""Measure the feature store on a given Redis: round trips, server time and memory per entity.

    redis-server --port 6399 --save '' --appendonly no &
    python -m service.features.measure --redis-url redis://127.0.0.1:6399/0 --accounts 20000

It FLUSHES that database first: point it at a private Redis only. With ``--yelp PATH`` it instead
replays YelpChi offline (day by day, as the behaviour model is fitted) and prints each feature's
single-feature ROC AUC against Yelp's filter labels: what the data can inform.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import time
from collections import defaultdict
from dataclasses import fields
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import redis.asyncio as redis_asyncio
from redis.asyncio.connection import Connection

from service.features.memory import MemoryFeatureState
from service.features.store import FeatureStore
from service.scoring.review import Account, Device, Review

T0 = 1_780_000_000.0


class CountingConnection(Connection):
    """Counts the writes to the socket: one per round trip (a pipeline is one write)."""

    sends = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        await super().send_packed_command(command, check_health)


def workload(accounts: int, seed: int) -> list[Review]:
    """A month of ordinary traffic with a few fraud rings: most accounts write 1-3 reviews on
    their own device and home IP; products follow a long tail; 60% of reviews have text; a ring
    of 20 accounts shares 2 devices and pastes 3 texts."""
    rng = random.Random(seed)
    products = max(10, accounts // 10)
    templates = [
        "great stay lovely staff clean room and a very good breakfast would come back",
        "best purchase ever works perfectly and arrived fast highly recommend to all",
        "awful service cold food and we waited an hour for a table never again",
    ]
    reviews: list[Review] = []
    for a in range(accounts):
        ring = a % 1000 < 20
        n = 1 + min(int(rng.expovariate(0.8)), 30)
        fingerprint = f"ring-{a % 2}" if ring else f"fp-{a}"
        ip = (
            f"198.51.{a % 3}.{a % 250}"
            if ring
            else f"10.{a // 65536 % 256}.{a // 256 % 256}.{a % 256}"
        )
        for i in range(n):
            product = min(int(rng.paretovariate(1.2)) - 1, products - 1)
            if ring:
                text: str | None = rng.choice(templates)
            elif rng.random() < 0.6:
                words = [f"w{rng.randrange(5000)}" for _ in range(rng.randint(8, 60))]
                text = " ".join(words)
            else:
                text = rng.choice(["", None])
            reviews.append(
                Review(
                    review_id=f"rv-{a}-{i}",
                    product_id=f"prod-{product}",
                    rating=rng.choice([1, 2, 3, 4, 4, 5, 5, 5]),
                    submitted_at=T0 + rng.uniform(0, 30 * 86400),
                    account=Account(id=f"acct-{a}", username=f"user{a}", email=f"u{a}@example.org"),
                    device=Device(
                        fingerprint=fingerprint,
                        ip=ip,
                        user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0",
                        accept_language="en-US",
                        timezone="America/Chicago",
                    ),
                    text=text,
                )
            )
    reviews.sort(key=lambda r: r.submitted_at)
    return reviews


def key_group(key: str) -> str:
    tag = key[key.index("{") + 1 : key.index("}")]
    kind = tag.split(":", 1)[0]
    return {
        "a": "account",
        "d": "device",
        "ip": "ip",
        "n": "network",
        "p": "product",
        "t": "text band bucket",
        "r": "review record",
    }.get(kind, kind)


def tag_of(key: str) -> str:
    return key[key.index("{") + 1 : key.index("}")]


async def measure(url: str, accounts: int, seed: int, concurrency: int) -> dict[str, Any]:
    pool = redis_asyncio.ConnectionPool.from_url(url, connection_class=CountingConnection)
    client = redis_asyncio.Redis(connection_pool=pool)
    try:
        await client.flushdb()
        store = FeatureStore(client, b"measure-key-not-a-secret")
        await store.load_scripts()
        reviews = workload(accounts, seed)
        # Open the pool's connections first, so connection set-up is not counted as traffic.
        await asyncio.gather(*(client.ping() for _ in range(concurrency)))
        noop = client.register_script("return 1")
        await client.config_resetstat()
        for _ in range(2000):
            await noop()
        noop_usec = float((await client.info("commandstats"))["cmdstat_evalsha"]["usec_per_call"])
        await client.config_resetstat()
        CountingConnection.sends = 0
        start = time.perf_counter()
        for i in range(0, len(reviews), concurrency):
            await asyncio.gather(*(store.observe(r) for r in reviews[i : i + concurrency]))
        wall_s = time.perf_counter() - start
        sends = CountingConnection.sends
        stats = await client.info("commandstats")
        # Redis 7 also counts the commands a script calls; EVALSHA's own usec already holds them.
        evalsha = stats.get("cmdstat_evalsha", {})
        usec_total = int(evalsha.get("usec", 0))
        calls = int(evalsha.get("calls", 0))
        inner = {
            name.removeprefix("cmdstat_"): round(v["usec"] / len(reviews), 1)
            for name, v in stats.items()
            if isinstance(v, dict) and name != "cmdstat_evalsha"
        }

        bytes_by_group: dict[str, int] = defaultdict(int)
        keys_by_group: dict[str, int] = defaultdict(int)
        tags_by_group: dict[str, set[str]] = defaultdict(set)
        async for raw in client.scan_iter(match="rg:v1:*", count=1000):
            key = raw.decode()
            group = key_group(key)
            usage = await client.memory_usage(key, samples=0)
            bytes_by_group[group] += int(usage or 0)
            keys_by_group[group] += 1
            tags_by_group[group].add(tag_of(key))
        info = await client.info("memory")
        return {
            "reviews": len(reviews),
            "accounts": accounts,
            "round_trips_per_review": sends / len(reviews),
            "evalsha_per_review": calls / len(reviews),
            "server_usec_per_review": usec_total / len(reviews),
            "evalsha_usec_per_call": float(evalsha.get("usec_per_call", 0.0)),
            "noop_script_usec_per_call": noop_usec,
            "inner_command_usec_per_review": inner,
            "client_wall_ms_per_review": 1000 * wall_s / len(reviews),
            "concurrency": concurrency,
            "used_memory_bytes": int(info["used_memory"]) - int(info.get("used_memory_startup", 0)),
            "entities": {
                group: {
                    "count": len(tags_by_group[group]),
                    "keys": keys_by_group[group],
                    "bytes_per_entity": bytes_by_group[group] / max(1, len(tags_by_group[group])),
                }
                for group in sorted(bytes_by_group)
            },
        }
    finally:
        await client.aclose()
        await pool.aclose()


def auc(scores: list[float], labels: list[bool]) -> float:
    """ROC AUC by the rank-sum formula (ties get their mean rank)."""
    values = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(labels, dtype=bool)
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        stop = start
        while stop + 1 < len(values) and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2 + 1
        start = stop + 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def yelp_report(path: Path, retention_days: int) -> dict[str, Any]:
    with path.open() as fh:
        rows = sorted(csv.DictReader(fh), key=lambda row: row["date"])
    state = MemoryFeatureState(b"yelp-replay", retention_s=retention_days * 86400)
    feats, labels = [], []
    start = time.perf_counter()
    for i, (day, group) in enumerate(groupby(rows, key=lambda row: row["date"])):
        at = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
        batch = list(group)
        reviews = [
            Review(
                review_id=f"{i}-{k}",
                product_id=row["product_id"],
                rating=int(row["rating"]),
                submitted_at=at,
                account=Account(id=row["user_id"]),
            )
            for k, row in enumerate(batch)
        ]
        for review in reviews:
            state.observe(review)
        feats += [state.observe(review) for review in reviews]
        labels += [row["label"] == "fake" for row in batch]
    out: dict[str, Any] = {
        "reviews": len(rows),
        "us_per_observe": 1e6 * (time.perf_counter() - start) / (2 * len(rows)),
        "auc": {},
    }
    for field in fields(feats[0]):
        values = [getattr(f, field.name) for f in feats]
        present = [(float(v), y) for v, y in zip(values, labels, strict=True) if v is not None]
        if len({v for v, _ in present}) < 2:
            continue
        out["auc"][field.name] = {
            "auc": round(auc([v for v, _ in present], [y for _, y in present]), 3),
            "coverage": round(len(present) / len(values), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url")
    parser.add_argument("--yelp", type=Path, help="yelpchi.csv: single-feature AUCs instead")
    parser.add_argument("--retention-days", type=int, default=3650)
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.yelp is not None:
        print(json.dumps(yelp_report(args.yelp, args.retention_days), indent=2))
        return
    if not args.redis_url:
        parser.error("--redis-url is required (a private Redis: it is flushed)")
    result = asyncio.run(measure(args.redis_url, args.accounts, args.seed, args.concurrency))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

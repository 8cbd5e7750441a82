"""Replay labelled behaviour events in time order through the API's own scoring path, and judge it.

Each day is recorded first and then scored (dates carry no time, so a review may know what else
arrived the same day, never what came later). The path is the service's: FeatureStore on a real
Redis, the text model when events carry text, the fitted behaviour model, the fusion.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from model.behaviour import (
    DEFAULT_EVENTS,
    REPLAY_HMAC_KEY,
    REPLAY_RETENTION_DAYS,
    Event,
    by_day,
    read_events,
)
from service.features.store import FeatureStore
from service.launch import private_redis
from service.scorer import FraudScorer, TextClassifier
from service.scoring.behaviour import BehaviourModel
from service.scoring.fusion import FusionConfig
from service.settings import DEFAULT_ARTIFACT_DIR, DEFAULT_BEHAVIOUR_PATH
from service.text_model import TextModel

DAY_CONCURRENCY = 64


async def replay(
    events: Sequence[Event],
    redis_url: str,
    classifier: TextClassifier,
    behaviour: BehaviourModel | None,
    retention_days: int = REPLAY_RETENTION_DAYS,
) -> tuple[list[float], str]:
    """Risk scores of every event, in the order given, and the model version that gave them."""
    async with Redis.from_url(redis_url, socket_timeout=30, max_connections=1024) as redis:
        await redis.flushdb()
        store = FeatureStore(redis, REPLAY_HMAC_KEY, retention_s=retention_days * 86400)
        await store.load_scripts()
        # A generous budget: a replay wants every feature, not an answer within milliseconds.
        scorer = FraudScorer(store, classifier, behaviour, FusionConfig(), budget_s=30.0)
        risks: list[float] = []
        for day_events in by_day(events):
            for chunk in chunks(day_events, DAY_CONCURRENCY):
                await asyncio.gather(*(store.observe(e.review) for e in chunk))
            for chunk in chunks(day_events, DAY_CONCURRENCY):
                # The day is recorded: reading it is idempotent, so its order no longer matters.
                for verdict in await asyncio.gather(*(scorer.score(e.review) for e in chunk)):
                    if verdict.degraded:
                        raise RuntimeError("Redis failed during the replay: partial scores")
                    risks.append(verdict.risk_score)
            await scorer.drain()  # the answers' cache writes: bounded, one day at a time
        return risks, scorer.model_version


def chunks(items: Sequence[Event], size: int) -> Iterator[Sequence[Event]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def judge(events: Sequence[Event], risks: Sequence[float]) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = [e.is_fake for e in events]
    if len(set(labels)) < 2:
        return {"n": len(events), "roc_auc": None, "pr_auc": None}
    return {
        "n": len(events),
        "roc_auc": round(float(roc_auc_score(labels, risks)), 4),
        "pr_auc": round(float(average_precision_score(labels, risks)), 4),
    }


def run_replay(
    events_path: Path,
    redis_url: str | None,
    *,
    text_model_dir: Path = DEFAULT_ARTIFACT_DIR,
    behaviour_path: Path = DEFAULT_BEHAVIOUR_PATH,
    retention_days: int = REPLAY_RETENTION_DAYS,
) -> dict[str, Any]:
    events = read_events(events_path)
    classifier = TextModel.load(text_model_dir)
    behaviour = BehaviourModel.load(behaviour_path) if behaviour_path.is_file() else None
    with contextlib.ExitStack() as stack:
        url = redis_url or stack.enter_context(private_redis())
        start = time.perf_counter()
        risks, version = asyncio.run(
            replay(events, url, classifier, behaviour, retention_days=retention_days)
        )
        elapsed_s = time.perf_counter() - start
    result = judge(events, risks)
    result.update(
        {
            "events_per_s": round(len(events) / elapsed_s, 1),
            "elapsed_s": round(elapsed_s, 1),
            "model_version": version,
            "retention_days": retention_days,
        }
    )
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        type=Path,
        default=DEFAULT_EVENTS,
        help="CSV: user_id, product_id, rating, date, label "
        "(optional: text, device_id, ip, review_id)",
    )
    parser.add_argument(
        "--redis-url",
        help="a scratch Redis database, FLUSHED first; default: a private "
        "redis-server started for the replay",
    )
    parser.add_argument("--text-model", type=Path, default=DEFAULT_ARTIFACT_DIR)
    parser.add_argument("--behaviour-model", type=Path, default=DEFAULT_BEHAVIOUR_PATH)
    parser.add_argument("--retention-days", type=int, default=REPLAY_RETENTION_DAYS)


def run(args: argparse.Namespace) -> int:
    result = run_replay(
        args.events,
        args.redis_url,
        text_model_dir=args.text_model,
        behaviour_path=args.behaviour_model,
        retention_days=args.retention_days,
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0

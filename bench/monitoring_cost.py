"""Monitoring's cost on the scoring path, in process: the same reviews scored with and without it.

Run from the repository root (needs a text artifact; REVIEWGUARD_TEXT_MODEL_DIR or the default):
`.venv/bin/python bench/monitoring_cost.py [-n 500] [--rounds 6]`.

Two FraudScorers over one private redis-server, the real ONNX model and the behaviour model; one
with the app's metrics observer alone, the other also with the live-profile observer (binning,
text descriptors, integrity counters) and the audit trail's observer, as create_app wires them.
Blocks of n reviews from bench/gen_reviews.py alternate between the two (fresh review ids); each
block runs to its last background write, the audit buffer being written every 100 reviews, so
the audit's Redis writes are counted. Also: the observer alone per call, the request-id
middleware with its JSON access line (to memory) per request, and one audit entry (buffered, then
XADD + SET in pipelines of 100) per decision. Times are CPU of this process (process_time).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_reviews import generate
from service.api.routes import to_review
from service.api.schemas import ReviewIn
from service.features.store import FeatureStore
from service.main import fusion_config, load_behaviour
from service.metrics import Metrics
from service.monitoring.audit import AuditTrail
from service.monitoring.live import LiveProfile
from service.monitoring.logs import JsonFormatter, RequestIdMiddleware
from service.monitoring.metrics import MonitoringMetrics
from service.monitoring.profile import ReferenceProfile
from service.scorer import FraudScorer, Scored
from service.scoring.review import Review
from service.settings import Settings
from service.text_model import TextModel
from tests.conftest import free_port, wait_until_ping


def reviews(n: int, tag: str, seed: int) -> list[Review]:
    out = []
    for i, body in enumerate(generate(n, seed=seed)):
        body["review_id"] = f"{tag}-{i}"
        out.append(to_review(ReviewIn.model_validate(body), time.time()))
    return out


async def timed_block(
    scorer: FraudScorer, block: list[Review], trail: AuditTrail | None = None
) -> float:
    """CPU seconds of this process per review (less disturbed by other tenants than wall time)."""
    start = time.process_time()
    for i, review in enumerate(block, start=1):
        await scorer.score(review)
        if trail is not None and i % 100 == 0:
            await trail.flush()  # the app flushes every 0.5 s: ~100 reviews at 200 req/s
    await scorer.drain()
    if trail is not None:
        await trail.flush()
    return (time.process_time() - start) / len(block)


async def scorer_ab(url: str, n: int, rounds: int) -> dict[str, Any]:
    settings = Settings(redis_url=url, hmac_key="bench")
    redis = Redis.from_url(url)
    classifier = TextModel.load(settings.text_model_dir)
    behaviour = load_behaviour(settings)
    reference = ReferenceProfile.load(settings.text_model_dir)
    store = FeatureStore(redis, b"bench", retention_s=30 * 86400)
    metrics = Metrics()
    mon = MonitoringMetrics.for_registry(CollectorRegistry())
    live = LiveProfile(reference, mon)
    trail = AuditTrail(redis, maxlen=100_000, retention_s=3600, config_version="bench")
    common: dict[str, Any] = {"budget_s": 0.5}
    off = FraudScorer(
        store, classifier, behaviour, fusion_config(settings),
        observers=[metrics.observe_scored], **common,
    )  # fmt: skip
    on = FraudScorer(
        store, classifier, behaviour, fusion_config(settings),
        observers=[metrics.observe_scored, live.observe, trail.observe], **common,
    )  # fmt: skip
    await timed_block(off, reviews(200, "warm", seed=99))
    per_review: dict[str, list[float]] = {"off": [], "on": []}
    for r in range(rounds):
        order = [("off", off), ("on", on)] if r % 2 == 0 else [("on", on), ("off", off)]
        for name, scorer in order:
            block = reviews(n, f"{name}-{r}", seed=r)
            per_review[name].append(
                await timed_block(scorer, block, trail if name == "on" else None)
            )
    audit_reviews = reviews(n, "audit", seed=11)
    audit_cpu_s = time.process_time()
    for review in audit_reviews:
        trail.observe(Scored(review, verdict_of(review.review_id), None, is_replay=False))
    await trail.flush(batch=100)
    audit_us = (time.process_time() - audit_cpu_s) / n * 1e6
    await redis.aclose()
    off_ms = statistics.median(per_review["off"]) * 1000
    on_ms = statistics.median(per_review["on"]) * 1000
    return {
        "reviews_per_block": n,
        "rounds": rounds,
        "audit_record_cpu_us_per_decision": round(audit_us, 2),
        "off_cpu_ms_per_review": round(off_ms, 4),
        "on_cpu_ms_per_review": round(on_ms, 4),
        "ratio_on_over_off": round(on_ms / off_ms, 4),
        "blocks_ms": {k: [round(v * 1000, 4) for v in vs] for k, vs in per_review.items()},
        "reference_profile": reference is not None,
    }


def verdict_of(review_id: str) -> Any:
    from service.scorer import Verdict
    from service.scoring.fusion import Reason

    return Verdict(
        review_id, 0.3, "medium", "allow",
        (Reason("TEXT_MODEL", "m", 0.4), Reason("DEVICE_SHARED", "m", 0.9)), "v", False,
    )  # fmt: skip


def observer_alone(n: int) -> dict[str, float]:
    settings = Settings()
    reference = ReferenceProfile.load(settings.text_model_dir)
    live = LiveProfile(reference, MonitoringMetrics.for_registry(CollectorRegistry()))
    verdict = verdict_of("r")
    scored = [
        Scored(r, verdict, None, is_replay=False, text_probability=0.4)
        for r in reviews(min(n, 2000), "obs", seed=5)
    ]
    start = time.perf_counter()
    for s in scored:
        live.observe(s)
    return {"observe_us_per_review": round((time.perf_counter() - start) / len(scored) * 1e6, 2)}


async def middleware_alone(n: int) -> dict[str, float]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("reviewguard.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    scope = {"type": "http", "method": "POST", "path": "/v1/reviews/score", "headers": []}
    timings = {}
    for name, wrapped in (("bare", app), ("with_request_id_and_log", RequestIdMiddleware(app))):
        start = time.perf_counter()
        for _ in range(n):
            await wrapped(dict(scope), receive, send)
        timings[name] = (time.perf_counter() - start) / n * 1e6
    return {
        "middleware_us_per_request": round(timings["with_request_id_and_log"] - timings["bare"], 2)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=500, help="reviews per block")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        port = free_port()
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_until_ping(port)
            result = asyncio.run(scorer_ab(f"redis://127.0.0.1:{port}/0", args.n, args.rounds))
        finally:
            server.terminate()
            server.wait(timeout=10)
    result |= observer_alone(args.n)
    result |= asyncio.run(middleware_alone(20_000))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

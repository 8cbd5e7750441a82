"""The parts of one scored review, alone and in order, one review at a time (no concurrency).

Stages, as the route and FraudScorer.score run them:
  parse     json.loads + ReviewIn validation (what FastAPI does with the body)
  review    routes.to_review (pydantic model -> the pure Review)
  plan      identify (HMAC-SHA256 of the personal fields) + plan_observe (the script calls)
  redis     the pipeline of EVALSHAs: one network round trip (FeatureStore's own pipeline runner)
  derive    decode_replies + derive_features
  onnx      TextModel.predict on the review's text (skipped for "" and null)
  fuse      fusion.assess
  answer    Verdict.to_dict + orjson.dumps
  record    after the answer, off the latency path: answer cache + moderation queue (wall time)
Then `score`: the whole FraudScorer.score (the Redis round trip overlaps the model) over fresh
reviews, and Redis's own CPU per EVALSHA and per review from INFO commandstats.

Run by bench/run.py against its private Redis, or alone (never against a Redis that matters):
  REVIEWGUARD_REDIS_URL=redis://127.0.0.1:PORT/0 REVIEWGUARD_HMAC_KEY=k \
  .venv/bin/python bench/parts.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import uvloop
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gen_reviews import RID, body_lines, generate  # noqa: E402
from service.api.routes import to_review  # noqa: E402
from service.api.schemas import ReviewIn  # noqa: E402
from service.features.calls import decode_replies, plan_observe  # noqa: E402
from service.features.store import FeatureStore  # noqa: E402
from service.main import fusion_config, hot_path_connection, load_behaviour, queue_recorder  # noqa: E402
from service.moderation.queue import ModerationQueue  # noqa: E402
from service.scorer import FraudScorer, Scored, Verdict  # noqa: E402
from service.scoring.features import derive_features  # noqa: E402
from service.scoring.fusion import assess  # noqa: E402
from service.scoring.identity import identify  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.text_model import TextModel  # noqa: E402

STAGES = ("parse", "review", "plan", "redis", "derive", "onnx", "fuse", "answer")


def summary_us(values_ns: Sequence[int]) -> dict[str, float | int]:
    if not values_ns:
        return {"n": 0}
    s = sorted(values_ns)

    def q(p: float) -> float:
        return round(s[min(len(s) - 1, int(p * len(s)))] / 1000, 1)

    return {
        "n": len(s),
        "mean": round(sum(s) / len(s) / 1000, 1),
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "max": round(s[-1] / 1000, 1),
    }


async def commandstats(redis: Any) -> dict[str, tuple[int, int]]:
    """{command: (calls, usec)} from INFO commandstats."""
    info = await redis.info("commandstats")
    out = {}
    for key, value in info.items():
        if key.startswith("cmdstat_") and isinstance(value, dict):
            out[key[8:]] = (int(value.get("calls", 0)), int(value.get("usec", 0)))
    return out


class Laps:
    """Nanoseconds between successive calls, by stage name ("" drops the lap)."""

    def __init__(self) -> None:
        self.laps: dict[str, int] = {}
        self._last = time.perf_counter_ns()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter_ns()
        if stage:
            self.laps[stage] = self.laps.get(stage, 0) + now - self._last
        self._last = now


async def run(bodies: list[bytes], n: int, warmup: int) -> dict[str, Any]:
    settings = Settings()
    classifier = TextModel.load(settings.text_model_dir, threads=settings.onnx_threads)
    behaviour = load_behaviour(settings)
    config = fusion_config(settings)
    # Generous timeouts: this measures the round trip, it does not enforce the budget.
    redis = Redis.from_url(settings.redis_url, socket_timeout=5)
    key = settings.hmac_key.get_secret_value().encode()
    retention_s = settings.retention_days * 86400
    mux = hot_path_connection(settings)  # as the service: its pipelined connection, if any
    store = FeatureStore(redis, key, retention_s=retention_s, mux=mux)
    await store.load_scripts()
    queue = ModerationQueue(redis, retention_s=retention_s, mux=mux)
    record = queue_recorder(queue)
    model_version = f"{classifier.version} / {behaviour.version if behaviour else 'none'}"
    runner = store._run  # the store's own pipeline runner: the Redis round trip alone

    times: dict[str, list[int]] = {s: [] for s in (*STAGES, "record", "total")}
    evalsha_calls = 0
    before = await commandstats(redis)
    for i, raw in enumerate(bodies[: warmup + n]):
        if i == warmup:
            before = await commandstats(redis)  # Redis's CPU from the first measured review on
        body = raw.replace(RID.encode(), f"parts-{i}".encode())
        lap = Laps()
        model = ReviewIn.model_validate(json.loads(body))
        lap("parse")
        review = to_review(model, time.time())
        lap("review")
        identity = identify(review, key)
        plan = plan_observe(review, identity, retention_s)
        lap("plan")
        replies = await runner(plan)
        lap("redis")
        raw_state, _ = decode_replies(plan, identity, replies)
        features = derive_features(review, identity, raw_state, retention_s)
        lap("derive")
        probability = classifier.predict(review.text) if review.text else None
        lap("onnx" if review.text else "")
        a = assess(
            text=review.text,
            text_probability=probability,
            text_prior=classifier.train_prior,
            features=features,
            behaviour=behaviour,
            config=config,
        )
        lap("fuse")
        verdict = Verdict(
            review.review_id,
            a.risk_score,
            a.risk_level,
            a.decision,
            a.reasons,
            model_version,
            a.degraded,
        )
        orjson.dumps(verdict.to_dict())
        lap("answer")
        await store.store_answer(review.review_id, orjson.dumps(verdict.to_dict()))
        await record(Scored(review, verdict, features, is_replay=False))
        lap("record")
        if i >= warmup:
            evalsha_calls += len(plan.calls)
            for stage, ns in lap.laps.items():
                times[stage].append(ns)
            times["total"].append(sum(ns for st, ns in lap.laps.items() if st in STAGES))
    after = await commandstats(redis)

    # The whole scorer, as the route calls it, over fresh reviews.
    budget_s = settings.redis_budget_ms / 1000
    scorer = FraudScorer(store, classifier, behaviour, config, budget_s=budget_s)
    scored_ns: list[int] = []
    for i, raw in enumerate(bodies[: warmup + n]):
        body = raw.replace(RID.encode(), f"parts-scorer-{i}".encode())
        review = to_review(ReviewIn.model_validate(json.loads(body)), time.time())
        start = time.perf_counter_ns()
        await scorer.score(review)
        if i >= warmup:
            scored_ns.append(time.perf_counter_ns() - start)
    await scorer.drain()

    # The text model alone on every text of the stream (more texts than the staged loop).
    texts = [json.loads(b).get("text") for b in bodies]
    texts = [x for x in texts if x]
    for x in texts[:warmup]:
        classifier.predict(x)
    onnx_ns: list[int] = []
    lengths = []
    for x in texts:
        start = time.perf_counter_ns()
        classifier.predict(x)
        onnx_ns.append(time.perf_counter_ns() - start)
        lengths.append(len(x))
    await redis.aclose()
    if mux is not None:
        await mux.aclose()

    ev_calls = after.get("evalsha", (0, 0))[0] - before.get("evalsha", (0, 0))[0]
    ev_usec = after.get("evalsha", (0, 0))[1] - before.get("evalsha", (0, 0))[1]
    by_len: dict[str, Any] = {}
    pairs = sorted(zip(lengths, onnx_ns, strict=True))
    for label, lo, hi in (("<200", 0, 200), ("200-800", 200, 800), (">=800", 800, 10**9)):
        chosen = [ns for length, ns in pairs if lo <= length < hi]
        by_len[label] = summary_us(chosen)
    reviews = len(times["total"])
    return {
        "n": reviews,
        "model_version": model_version,
        "stages_us": {s: summary_us(times[s]) for s in times},
        "stage_share_of_total": {
            s: round(sum(times[s]) / max(sum(times["total"]), 1), 3) for s in STAGES
        },
        "scorer_score_us": summary_us(scored_ns),
        "onnx_per_review_us": summary_us(onnx_ns),
        "onnx_by_text_length_us": by_len,
        "onnx_text_chars_mean": round(sum(lengths) / max(len(lengths), 1), 1),
        "redis_round_trip_us": summary_us(times["redis"]),
        "script_calls_per_review": round(evalsha_calls / max(reviews, 1), 2),
        "redis_evalsha_per_review": round(ev_calls / max(reviews, 1), 2),
        "redis_server_usec_per_evalsha": round(ev_usec / max(ev_calls, 1), 1),
        # Lua time per review after the warm-up: the observe batch, the answer cache and the
        # moderation enqueue (records of allowed reviews are a plain SET, not counted).
        "redis_server_usec_per_review": round(ev_usec / max(reviews, 1), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=Path, help="bodies file (default: generate)")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.bodies:
        lines = args.bodies.read_bytes().splitlines()
    else:
        lines = [x.encode() for x in body_lines(generate(args.n + args.warmup, seed=2))]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(run(lines, args.n, args.warmup))
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

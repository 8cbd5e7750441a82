"""CPU per call of each pure-Python function on the scoring path, on realistic captured inputs.

Two steps. `capture` turns a bodies file (bench/gen_reviews.py) into the inputs of every function:
the reviews (fixed, unique ids and times), the replies of a private Redis to each review's plan
and the text model's probability; `run` times the functions over all of them, one call at a time,
and prints the mean microseconds per call (process CPU time; the best of --repeats passes).

  redis-server --port 6392 --save '' --daemonize yes
  .venv/bin/python bench/gen_reviews.py /tmp/bodies.txt -n 5000
  REVIEWGUARD_REDIS_URL=redis://127.0.0.1:6392/3 REVIEWGUARD_HMAC_KEY=k \
    .venv/bin/python bench/micro_scoring.py capture /tmp/bodies.txt /tmp/micro.pkl
  REVIEWGUARD_HMAC_KEY=k .venv/bin/python bench/micro_scoring.py run /tmp/micro.pkl

`capture` FLUSHES the Redis database it is given (never point it at one that matters). `run --root
DIR` imports `service` from another checkout (e.g. `git archive <commit> | tar -x -C DIR`), so the
same inputs time two versions; the printed signature of the outputs must then be equal.

`audit` times the audit trail on that Redis (flushed too): observe, then flush, of 5000 decisions
with three reasons each, per decision (process CPU time of this client, best of --repeats):
  REVIEWGUARD_REDIS_URL=redis://127.0.0.1:6392/4 .venv/bin/python bench/micro_scoring.py audit
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import pickle
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = b"k"
RETENTION_S = 30 * 86400
START_S = 1_790_000_000.0


async def capture(bodies: Path, out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from redis.asyncio import Redis

    from bench.gen_reviews import RID
    from service.api.routes import to_review
    from service.api.schemas import ReviewIn
    from service.features.calls import plan_observe
    from service.features.store import FeatureStore
    from service.scoring.identity import identify
    from service.settings import Settings
    from service.text_model import TextModel

    settings = Settings()
    classifier = TextModel.load(settings.text_model_dir, threads=1)
    redis = Redis.from_url(settings.redis_url, socket_timeout=5)
    await redis.flushdb()
    store = FeatureStore(redis, KEY, retention_s=RETENTION_S)
    await store.load_scripts()
    items = []
    lines = bodies.read_bytes().splitlines()  # noqa: ASYNC240 (a benchmark's setup)
    for i, line in enumerate(lines):
        body = line.replace(RID.encode(), f"micro-{i}".encode())
        at = START_S + i * 0.37
        review = to_review(ReviewIn.model_validate(json.loads(body)), at)
        identity = identify(review, KEY)
        plan = plan_observe(review, identity, RETENTION_S)
        replies = await store._run(plan)
        probability = classifier.predict(review.text) if review.text else None
        items.append((body, at, replies, probability, classifier.train_prior))
    await redis.flushdb()
    await redis.aclose()
    out.write_bytes(pickle.dumps(items))  # noqa: ASYNC240
    print(f"{len(items)} reviews captured to {out}")


def run(inputs: Path, root: Path, repeats: int, only: set[str] | None) -> None:
    sys.path.insert(0, str(root))
    from prometheus_client import CollectorRegistry
    from redis.asyncio import Redis

    from service.api.routes import to_review
    from service.api.schemas import ReviewIn
    from service.features import calls, store
    from service.features.calls import decode_replies, plan_observe
    from service.features.mux import pack
    from service.metrics import Metrics
    from service.moderation.models import Reason as QueueReason
    from service.moderation.models import ScoredReview, encode_scored
    from service.monitoring.audit import AuditTrail
    from service.monitoring.live import LiveProfile
    from service.monitoring.metrics import MonitoringMetrics
    from service.monitoring.profile import ReferenceProfile, describe, observations
    from service.scorer import Scored, Verdict
    from service.scoring import features as features_module
    from service.scoring.behaviour import BehaviourModel
    from service.scoring.features import derive_features, features_as_dict
    from service.scoring.fusion import (
        FusionConfig,
        assess,
        behaviour_terms,
        rule_terms,
        text_terms,
    )
    from service.scoring.identity import identify, keyed_hash
    from service.scoring.text_fingerprint import normalise, simhash_of
    from service.scoring.text_signals import describe_text
    from service.settings import Settings

    # What the service hands to the record (scored_review): the FeatureRow where the checkout
    # has it (since 14e614d), else the dict; the encoded bytes are the same.
    record_features = getattr(features_module, "feature_row", features_as_dict)

    items = pickle.loads(inputs.read_bytes())
    reviews = [to_review(ReviewIn.model_validate(json.loads(b)), at) for b, at, *_ in items]
    replies = [item[2] for item in items]
    probabilities = [item[3] for item in items]
    prior = items[0][4]
    texts = [r.text for r in reviews if r.text]
    settings = Settings()
    behaviour = BehaviourModel.load(settings.behaviour_model_path)
    reference = ReferenceProfile.load(settings.text_model_dir)
    vocabulary = reference.vocabulary if reference else None
    config = FusionConfig()
    weights = config.weights

    ids = [identify(r, KEY) for r in reviews]
    plans = [plan_observe(r, i, RETENTION_S) for r, i in zip(reviews, ids, strict=True)]
    raws = [decode_replies(p, i, x)[0] for p, i, x in zip(plans, ids, replies, strict=True)]
    features = [
        derive_features(r, i, raw, RETENTION_S)
        for r, i, raw in zip(reviews, ids, raws, strict=True)
    ]
    cases = list(zip(reviews, probabilities, features, strict=True))

    def fuse(case: tuple[Any, Any, Any]) -> Any:
        review, p, f = case
        return assess(
            text=review.text,
            text_probability=p,
            text_prior=prior,
            features=f,
            behaviour=behaviour,
            config=config,
        )

    assessments = [fuse(c) for c in cases]
    verdicts = [
        Verdict(r.review_id, a.risk_score, a.risk_level, a.decision, a.reasons, "m", a.degraded)
        for r, a in zip(reviews, assessments, strict=True)
    ]
    scored = [
        Scored(r, v, f, is_replay=False, text_probability=p)
        for (r, p, f), v in zip(cases, verdicts, strict=True)
    ]
    queued = [
        ScoredReview(
            review_id=v.review_id,
            product_id=s.review.product_id,
            risk_score=v.risk_score,
            decision=v.decision,
            reasons=tuple(QueueReason(x.code, x.message, x.contribution) for x in v.reasons),
            text=s.review.text,
            scored_at=s.review.submitted_at,
            model_version=v.model_version,
            features=record_features(s.features),
        )
        for s, v in zip(scored, verdicts, strict=True)
    ]
    metrics = Metrics()
    live = LiveProfile(reference, MonitoringMetrics.for_registry(CollectorRegistry()))
    trail = AuditTrail(
        Redis.from_url("redis://127.0.0.1:1/0"),  # never connected: observe does no I/O
        maxlen=100_000,
        retention_s=RETENTION_S,
        config_version="c",
        max_pending=10**9,
    )

    def observe_live(s: Any) -> None:
        live.observe(s)

    def observe_audit(s: Any) -> None:
        trail.observe(s)

    def observed(s: Any) -> Any:
        v = s.verdict
        return observations(
            text=s.review.text,
            text_probability=s.text_probability,
            risk=v.risk_score,
            decision=v.decision,
            reasons=v.reasons,
            vocabulary=vocabulary,
        )

    def planned_command(sha: str, review: Any, identity: Any, retention_s: int) -> bytes:
        """An older checkout's (--root) batch command: planned, joined and packed."""
        plan = plan_observe(review, identity, retention_s)
        header: list[Any] = [len(plan.calls)]
        all_keys: list[str] = []
        all_args: list[Any] = []
        for c in plan.calls:
            header += [c.script, len(c.keys), len(c.args)]
            all_keys += c.keys
            all_args += c.args
        argv = "\n".join(map(str, [*header, *all_args]))
        return pack(("EVALSHA", sha, len(all_keys), *all_keys, argv))

    def decoded_features(review: Any, identity: Any, plan: Any, replies: Any) -> Any:
        """An older checkout's replies -> Features."""
        raw, answer = decode_replies(plan, identity, replies)
        return derive_features(review, identity, raw, RETENTION_S), answer

    batch_command = getattr(store, "batch_command", planned_command)
    edge_features = getattr(calls, "observed_features", None)
    observed_features = (
        decoded_features
        if edge_features is None
        else lambda review, identity, _, replies: edge_features(
            review, identity, replies, RETENTION_S, False
        )
    )

    bench: dict[str, tuple[Callable[..., Any], list[Any]]] = {
        "identify": (lambda r: identify(r, KEY), reviews),
        "simhash_of": (simhash_of, texts),
        "normalise": (normalise, texts),
        "keyed_hash": (lambda r: keyed_hash(KEY, "a", r.account.id), reviews),
        "plan_observe": (
            lambda x: plan_observe(x[0], x[1], RETENTION_S),
            list(zip(reviews, ids, strict=True)),
        ),
        "decode_replies": (
            lambda x: decode_replies(*x),
            list(zip(plans, ids, replies, strict=True)),
        ),
        "derive_features": (
            lambda x: derive_features(*x, RETENTION_S),
            list(zip(reviews, ids, raws, strict=True)),
        ),
        # identity -> the bytes of the review's EVALSHA (older checkouts: plan and pack)
        "batch_command": (
            lambda x: batch_command("0" * 40, x[0], x[1], RETENTION_S),
            list(zip(reviews, ids, strict=True)),
        ),
        "replies_features": (  # replies -> Features (decode_replies + derive_features)
            lambda x: observed_features(*x),
            list(zip(reviews, ids, plans, replies, strict=True)),
        ),
        "describe_text": (describe_text, texts),
        "text_terms": (lambda c: text_terms(c[0].text, c[1], prior, weights), cases),
        "rule_terms": (lambda f: rule_terms(f, weights), features),
        "behaviour_terms": (lambda f: behaviour_terms(f, behaviour), features),
        "assess": (fuse, cases),
        "monitoring.describe": (lambda t: describe(t, vocabulary), texts),
        "observations": (observed, scored),
        "LiveProfile.observe": (observe_live, scored),
        "AuditTrail.observe": (observe_audit, scored),
        "encode_scored": (encode_scored, queued),
        "features_as_dict": (features_as_dict, features),
        "record_features": (record_features, features),
        "Metrics.observe_scored": (metrics.observe_scored, scored),
    }
    signature = hashlib.sha256(
        repr((ids, [p.calls for p in plans], raws, features, assessments)).encode()
    ).hexdigest()[:16]
    print(f"signature of the outputs: {signature} ({len(reviews)} reviews, {len(texts)} texts)")
    for name, (fn, args) in bench.items():
        if only and name not in only:
            continue
        deque(map(fn, args), maxlen=0)  # warm caches
        best = float("inf")
        for _ in range(repeats):
            gc.collect()
            start = time.process_time_ns()
            deque(map(fn, args), maxlen=0)
            best = min(best, (time.process_time_ns() - start) / len(args) / 1000)
            live.take()
            trail._pending.clear()
        print(f"{name:24s} {best:8.2f} us")


async def audit(root: Path, repeats: int) -> None:
    sys.path.insert(0, str(root))
    from redis.asyncio import Redis

    from service.monitoring.audit import AuditTrail
    from service.scorer import Scored, Verdict
    from service.scoring.fusion import Reason
    from service.scoring.review import Account, Review
    from service.settings import Settings

    reasons = (
        Reason("TEXT_MODEL", "text resembles genuine reviews (fake-text score 0.12)", -1.234),
        Reason("ACCOUNT_ESTABLISHED", "account has 12 earlier reviews", -0.456),
        Reason("RATING_TYPICAL", "a 2- to 4-star rating, 0.3 stars from the mean of 4.1", -0.2),
    )
    n = 5000
    decisions = [
        Scored(
            Review(f"r-{i}", "p", 4, START_S, Account("a")),
            Verdict(f"r-{i}", 0.0123, "low", "allow", reasons, "text / behaviour", False),
            None,
            is_replay=False,
        )
        for i in range(n)
    ]
    redis = Redis.from_url(Settings().redis_url)
    await redis.flushdb()
    trail = AuditTrail(redis, maxlen=100_000, retention_s=86400, config_version="c")
    observe_us = flush_us = float("inf")
    for _ in range(repeats):
        start = time.process_time_ns()
        for scored in decisions:
            trail.observe(scored)
        observed = time.process_time_ns()
        await trail.flush()
        flushed = time.process_time_ns()
        observe_us = min(observe_us, (observed - start) / n / 1000)
        flush_us = min(flush_us, (flushed - observed) / n / 1000)
    await redis.flushdb()
    await redis.aclose()
    print(f"AuditTrail.observe        {observe_us:8.2f} us")
    print(f"AuditTrail.flush          {flush_us:8.2f} us per decision")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cap = sub.add_parser("capture")
    cap.add_argument("bodies", type=Path)
    cap.add_argument("out", type=Path)
    timing = sub.add_parser("run")
    timing.add_argument("inputs", type=Path)
    timing.add_argument("--root", type=Path, default=ROOT)
    timing.add_argument("--repeats", type=int, default=7)
    timing.add_argument("--only", help="comma-separated function names")
    audit_timing = sub.add_parser("audit")
    audit_timing.add_argument("--root", type=Path, default=ROOT)
    audit_timing.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.command == "capture":
        asyncio.run(capture(args.bodies, args.out))
    elif args.command == "audit":
        import uvloop

        uvloop.run(audit(args.root.resolve(), args.repeats))
    else:
        only = set(args.only.split(",")) if args.only else None
        run(args.inputs, args.root.resolve(), args.repeats, only)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""create_app() and its lifespan: wires settings, models, Redis and routes together."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from service import native
from service.api import errors, moderation, monitoring, routes
from service.api.guards import ApiKeys, BodyLimitMiddleware, require_api_key
from service.breaker import CircuitBreaker
from service.features.mux import RedisMux
from service.features.store import REDIS_FAILURES, FeatureStore
from service.metrics import LatencyMiddleware, Metrics
from service.moderation.metrics import ModerationMetrics
from service.moderation.queue import ModerationQueue
from service.monitoring.audit import AuditTrail
from service.monitoring.drift import Thresholds
from service.monitoring.live import LiveProfile, LiveStore, Monitor
from service.monitoring.logs import RequestIdMiddleware, configure_logging
from service.monitoring.metrics import MonitoringMetrics
from service.monitoring.profile import ReferenceProfile
from service.recording import PostedWrites, scored_review
from service.scorer import FraudScorer, Scored
from service.scoring.behaviour import BehaviourModel
from service.scoring.fusion import FusionConfig, PriorWeights
from service.settings import Settings
from service.text_model import TextModel

log = logging.getLogger("reviewguard")


QUEUED = frozenset({"review"})
QUEUED_WITH_REJECTS = frozenset({"review", "reject"})


@dataclass
class Lifecycle:
    shutting_down: bool = False


def fusion_config(settings: Settings) -> FusionConfig:
    known = {f.name for f in dataclasses.fields(PriorWeights)}
    unknown = set(settings.fusion_weights) - known
    if unknown:
        raise ValueError(f"unknown fusion weights: {sorted(unknown)}; known: {sorted(known)}")
    return FusionConfig(
        base_rate=settings.base_rate,
        review_threshold=settings.review_threshold,
        reject_threshold=settings.reject_threshold,
        medium_threshold=settings.medium_threshold,
        group_cap=settings.group_cap,
        weights=PriorWeights(**settings.fusion_weights),
    )


def redis_client(settings: Settings) -> Redis | RedisCluster:
    # redis-py's defaults wait seconds and retry: a synchronous submission flow cannot.
    timeout_s = settings.redis_budget_ms / 1000
    options: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
        "max_connections": settings.redis_max_connections,
    }
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)
    return Redis.from_url(settings.redis_url, **options)


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (models, vocabularies, routes, schemas) out of the
    garbage collector's reach: they live as long as the process.

    Without it every full (generation 2) collection walked them all: 67-105 ms with the event
    loop stopped, every few seconds under load, the worst of the p99 (measured with a
    gc.callbacks probe on the bench's stream at 112 req/s). Objects created later are collected
    as usual.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


GC_THRESHOLDS = (20_000, 20, 50)
"""The collector runs on the youngest generation after this many net allocations of tracked
objects (CPython's default: 700), on the middle one every 20 of those (10) and on the oldest
every 50 of the middle (10). Objects are freed by reference counting as soon as they are
dropped; a collection only looks for cycles among the live ones, about the same few thousand
(the requests in flight) whatever the threshold, so collecting less often does less work.
Measured with a gc.callbacks probe (thread CPU time) over 8 s of the bench's load at 177
req/s: the defaults ran 134 young, 13 middle and 1 full collection, 56 ms of CPU (~40 us per
request, ~2.4% of the worker, each inside some request's latency); these thresholds ran none
(the net count of live objects barely grows in a steady state)."""
DEFAULT_GC_THRESHOLDS = gc.get_threshold()


def hot_path_connection(settings: Settings) -> RedisMux | None:
    """The scorer's pipelined connection, when the settings and the URL allow one."""
    if settings.redis_cluster or not settings.redis_pipelined:
        return None
    mux = RedisMux.from_url(settings.redis_url, connect_timeout_s=settings.redis_budget_ms / 1000)
    if mux is None:
        log.info("redis_url has options the pipelined connection lacks: using redis-py's pool")
    return mux


def load_behaviour(settings: Settings) -> BehaviourModel | None:
    if not settings.behaviour_model_path.is_file():
        log.warning("no behaviour model at the configured path; behaviour groups are off")
        return None
    return BehaviourModel.load(settings.behaviour_model_path)


def queue_recorder(queue: ModerationQueue) -> Callable[[Scored], Awaitable[bool]]:
    """Hands each scored review to the moderation queue (it keeps review/reject ones)."""

    async def record(scored: Scored) -> bool:
        return await queue.record(scored_review(scored))

    return record


async def preload_scripts(store: FeatureStore, timeout_s: float) -> None:
    """Load the Lua scripts now rather than inside the first review's budget; Redis may be down."""
    try:
        async with asyncio.timeout(timeout_s):
            await store.load_scripts()
    except (TimeoutError, *REDIS_FAILURES):
        log.warning("could not preload the feature scripts; they load on first use")


def load_reference(settings: Settings, version: str) -> ReferenceProfile | None:
    try:
        reference = ReferenceProfile.load(settings.text_model_dir)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("reference profile unreadable, drift is off: %s", type(exc).__name__)
        return None
    if reference is None:
        log.warning("the text artifact has no reference profile: drift is off")
    elif reference.meta.get("text_model_version") != version:
        log.warning("the reference profile was built for another text model: drift is off")
        return None
    return reference


def config_version(settings: Settings) -> str:
    """A short hash of what turns a risk into a decision (fusion weights and thresholds)."""
    fusion = dataclasses.asdict(fusion_config(settings))
    return hashlib.sha256(repr(sorted(fusion.items())).encode()).hexdigest()[:12]


AUDIT_FLUSH_S = 0.5


def build_monitor(
    settings: Settings,
    redis: Redis | RedisCluster,
    metrics: MonitoringMetrics,
    text_model_version: str,
    breaker: CircuitBreaker,
    mux: RedisMux | None = None,
) -> tuple[Monitor, AuditTrail]:
    reference = load_reference(settings, text_model_version)
    monitor = Monitor(
        profile=LiveProfile(reference, metrics),
        store=LiveStore(redis),
        reference=reference,
        thresholds=Thresholds(
            psi=settings.drift_psi_threshold,
            jensenshannon=settings.drift_js_threshold,
            wasserstein=settings.drift_wasserstein_threshold,
            min_samples=settings.drift_min_samples,
        ),
        metrics=metrics,
        flush_s=settings.monitoring_flush_s,
        drift_refresh_s=settings.drift_refresh_s,
    )
    trail = AuditTrail(
        redis,
        maxlen=settings.audit_stream_maxlen,
        retention_s=settings.retention_days * 86400,
        config_version=config_version(settings),
        breaker=breaker,
        errors=metrics.audit_errors,
        dropped=metrics.audit_dropped,
        mux=mux,
    )
    return monitor, trail


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging()
    metrics = Metrics()
    monitoring_metrics = MonitoringMetrics.for_registry(metrics.registry)
    lifecycle = Lifecycle()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        classifier = TextModel.load(
            settings.text_model_dir, threads=settings.onnx_threads, engine=settings.text_engine
        )
        log.info("text model %s runs on %s", classifier.version, classifier.engine)
        accelerators = native.status()
        if not all(accelerators.values()):
            off = sorted(name for name, on in accelerators.items() if not on)
            log.warning("C accelerators not running (slower, same answers): %s", ", ".join(off))
        behaviour = load_behaviour(settings)
        redis = redis_client(settings)
        mux = hot_path_connection(settings)
        hmac_key = settings.hmac_key.get_secret_value().encode()
        store = FeatureStore(
            redis,
            hmac_key,
            retention_s=settings.retention_days * 86400,
            mux=mux,
        )
        queue = ModerationQueue(
            redis,
            mux=mux,
            retention_s=settings.retention_days * 86400,
            lease_s=settings.moderation_lease_s,
            queue_decisions=QUEUED_WITH_REJECTS if settings.queue_rejects else QUEUED,
            on_confirmed_fake=store.link_confirmed_fraud,
            metrics=ModerationMetrics.for_registry(metrics.registry),
        )
        breaker = CircuitBreaker(
            settings.breaker_failures,
            settings.breaker_reset_s,
            first_reset_s=settings.breaker_first_reset_s,
        )
        # Read at each scrape: 1 while calls to Redis are stopped (open, before its probe).
        metrics.breaker_open.set_function(lambda: float(breaker.state == "open"))
        config = fusion_config(settings)
        monitor, trail = (
            build_monitor(settings, redis, monitoring_metrics, classifier.version, breaker, mux)
            if settings.monitoring_enabled
            else (None, None)
        )
        # A single Redis: the writes after each answer are posted to the pipelined connection.
        poster = (
            PostedWrites(mux, store, queue)
            if mux is not None and not settings.redis_cluster
            else None
        )
        scorer = FraudScorer(
            store,
            classifier,
            behaviour,
            config,
            budget_s=settings.redis_budget_ms / 1000,
            breaker=breaker,
            recorders=[queue_recorder(queue)],
            poster=poster,
            observers=[
                metrics.observe_scored,
                *([monitor.profile.observe, trail.observe] if monitor and trail else []),
            ],
        )
        metrics.model.info(
            {"text": classifier.version, "behaviour": behaviour.version if behaviour else "none"}
        )
        model_info = {
            "model_version": scorer.model_version,
            "text_model": classifier.manifest,
            "text_engine": classifier.engine,
            "native": accelerators,
            "behaviour_model": dict(behaviour.manifest) if behaviour else None,
            "fusion": dataclasses.asdict(config),
        }
        await preload_scripts(store, settings.redis_budget_ms * 20 / 1000)
        freeze_startup_objects()
        lifecycle.shutting_down = False
        stop_monitoring = asyncio.Event()
        monitoring_tasks = (
            [
                asyncio.create_task(monitor.run(stop_monitoring)),
                asyncio.create_task(trail.run(AUDIT_FLUSH_S, stop_monitoring)),
            ]
            if monitor and trail
            else []
        )
        try:
            yield {
                "scorer": scorer,
                "store": store,
                "queue": queue,
                "settings": settings,
                "metrics": metrics,
                "model_info": model_info,
                "lifecycle": lifecycle,
                "monitor": monitor,
                "audit": trail,
                "api_keys": ApiKeys.parse(settings.api_keys.get_secret_value()),
            }
        finally:
            lifecycle.shutting_down = True
            await scorer.drain()
            stop_monitoring.set()  # not cancel(): a flush under way finishes its commands
            await asyncio.gather(*monitoring_tasks, return_exceptions=True)
            if monitor is not None and trail is not None:
                await monitor.flush()  # this pod's last counts
                await trail.flush()  # and decisions
            if mux is not None:
                await mux.aclose()
            await redis.aclose()
            gc.unfreeze()  # an app closed in a longer-lived process (tests) can be collected
            gc.set_threshold(*DEFAULT_GC_THRESHOLDS)

    app = FastAPI(title="reviewguard", version="1", lifespan=lifespan)
    routes.add_score_route(app)
    app.include_router(routes.router)
    app.include_router(moderation.router, prefix="", dependencies=[Depends(require_api_key)])
    app.include_router(moderation.page_router)
    app.include_router(routes.probes)
    app.include_router(monitoring.router)
    errors.install(app)
    moderation.install_errors(app)
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware, responses=monitoring_metrics.responses)
    return app

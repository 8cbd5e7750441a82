"""Prometheus metrics of one app: latency per route, decisions, reasons, degraded answers, Redis."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
    multiprocess,
)

from service.scorer import Scored

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LATENCY_BUCKETS_S = (
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.latency = Histogram(
            "reviewguard_request_duration_seconds",
            "HTTP request latency by route",
            ["route", "method"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.decisions = Counter(
            "reviewguard_decisions_total", "Answers by decision", ["decision"], registry=r
        )
        self.reasons = Counter(
            "reviewguard_reasons_total", "Reasons given, by code", ["code"], registry=r
        )
        self.degraded = Counter(
            "reviewguard_degraded_total",
            "Answers scored without the behaviour features",
            registry=r,
        )
        self.redis_errors = Counter(
            "reviewguard_redis_errors_total",
            "Feature-store calls that failed or ran over budget, by kind",
            ["kind"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "reviewguard_redis_circuit_open",
            "1 while the Redis circuit breaker stops calls",
            registry=r,
        )
        self.model = Info("reviewguard_model", "Versions of the loaded models", registry=r)
        self._children: dict[tuple[Counter, str], Counter] = {}

    def observe_scored(self, scored: Scored) -> None:
        verdict = scored.verdict
        children = self._children
        # labels() resolves its child under a lock on every call; a child, once made, is kept
        # here (created lazily, so /metrics lists exactly the series that occurred).
        for counter, value in (
            (self.decisions, verdict.decision),
            *((self.reasons, reason.code) for reason in verdict.reasons),
        ):
            child = children.get((counter, value))
            if child is None:
                child = children[(counter, value)] = counter.labels(value)
            child.inc()
        if verdict.degraded:
            self.degraded.inc()
        if scored.missing is not None:
            self.redis_errors.labels(scored.missing.kind).inc()

    def render(self) -> bytes:
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            # Several uvicorn workers: sum every worker's files, not just this one's.
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class LatencyMiddleware:
    """Times every HTTP request by its route template (bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(path, scope["method"]).observe(time.perf_counter() - start)

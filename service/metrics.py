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

from service.monitoring.metrics import count_into
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
        # Events per label value as plain ints the registry reads at scrape time (count_into: no
        # lock or labels() look-up per review). A child is made at its label value's first event,
        # as labels() made it, so /metrics lists the same series, in the same order, with the same
        # creation times. In multiprocess mode the counts stay empty: each event increments its
        # child (kept in _children), which writes the shared files as before.
        self._decision_counts: dict[str, int] = {}
        self._reason_counts: dict[str, int] = {}
        self._redis_error_counts: dict[str, int] = {}
        self._degraded_counts: dict[str, int] = {}
        self._children: dict[tuple[Counter, str], Counter] = {}
        self._degraded_counted = count_into(self.degraded, self._degraded_counts, "")

    def observe_scored(self, scored: Scored) -> None:
        verdict = scored.verdict
        try:
            self._decision_counts[verdict.decision] += 1
        except KeyError:
            self._first(self.decisions, self._decision_counts, verdict.decision)
        counts = self._reason_counts
        for reason in verdict.reasons:
            try:
                counts[reason.code] += 1
            except KeyError:
                self._first(self.reasons, counts, reason.code)
        if verdict.degraded:
            if self._degraded_counted:
                self._degraded_counts[""] += 1
            else:
                self.degraded.inc()
        if scored.missing is not None:
            try:
                self._redis_error_counts[scored.missing.kind] += 1
            except KeyError:
                self._first(self.redis_errors, self._redis_error_counts, scored.missing.kind)

    def _first(self, counter: Counter, counts: dict[str, int], value: str) -> None:
        """An event of a label value `counts` does not hold: its first (its child is made now),
        or any in multiprocess mode (the child is incremented)."""
        child = self._children.get((counter, value))
        if child is None:
            child = self._children[(counter, value)] = counter.labels(value)
            if count_into(child, counts, value):
                counts[value] += 1
                return
        child.inc()

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

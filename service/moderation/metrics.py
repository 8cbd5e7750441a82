"""Prometheus metrics of moderation: verdicts, enqueues and per-reason precision."""

from __future__ import annotations

import weakref

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from service.moderation.models import PrecisionReport

_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, ModerationMetrics] = (
    weakref.WeakKeyDictionary()
)


class ModerationMetrics:
    """One set per registry: `for_registry` hands out the same one to every app in a process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.precision = Gauge(
            "reviewguard_reason_precision",
            "Share of decided reviews carrying this reason that moderators confirmed fake "
            '(retention window; code="*": all decided reviews)',
            ["code"],
            registry=registry,
        )
        self.decided = Gauge(
            "reviewguard_reason_decided",
            'Decided reviews carrying this reason (retention window; code="*": all)',
            ["code"],
            registry=registry,
        )
        self.verdicts = Counter(
            "reviewguard_moderation_verdicts",
            "Verdicts recorded by this process",
            ["verdict", "source"],
            registry=registry,
        )
        self.enqueued = Counter(
            "reviewguard_moderation_enqueued",
            "Reviews this process put into the moderation queue",
            ["decision"],
            registry=registry,
        )

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> ModerationMetrics:
        registry = registry if registry is not None else REGISTRY
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = _BY_REGISTRY[registry] = cls(registry)
        return metrics

    def observe(self, report: PrecisionReport) -> None:
        """Set the gauges from Redis-wide counts (every pod's verdicts, not only this one's)."""
        for reason in (report.overall, *report.reasons):
            self.decided.labels(code=reason.code).set(reason.decided)
            if reason.precision is not None:
                self.precision.labels(code=reason.code).set(reason.precision)

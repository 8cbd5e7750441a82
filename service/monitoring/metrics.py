"""Prometheus metrics of monitoring: drift per quantity, data integrity, audit and flush errors."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, values

COUNTED_IN_PROCESS: bool = values.ValueClass is values.MutexValue
"""Whether prometheus_client keeps values in this process (no PROMETHEUS_MULTIPROC_DIR when it
was imported). Then an observer may count into plain ints the registry reads at scrape time
(count_into); in multiprocess mode every increment must reach the shared files as it happens."""


class _CountedValue:
    """A Counter child's value as the registry reads it: its own prometheus value plus the int an
    observer keeps in a plain dict, counts[key] (one dict increment per event: no lock, no
    labels() look-up). Reading gives what the child's increments by 1 would have summed to."""

    __slots__ = ("_counts", "_key", "_value")

    def __init__(self, value: Any, counts: dict[Any, int], key: Hashable) -> None:
        self._value = value
        self._counts = counts
        self._key = key

    def inc(self, amount: float) -> None:
        self._value.inc(amount)

    def set(self, value: float, timestamp: float | None = None) -> None:
        self._counts[self._key] = 0
        self._value.set(value, timestamp)

    def get(self) -> float:
        total: float = self._value.get() + self._counts[self._key]
        return total

    def set_exemplar(self, exemplar: Any) -> None:
        self._value.set_exemplar(exemplar)

    def get_exemplar(self) -> Any:
        return self._value.get_exemplar()


def count_into(child: Counter, counts: dict[Any, int], key: Hashable) -> bool:
    """Makes `child` (a Counter, or one labels() child of it) read counts[key] (set to 0 here) on
    top of its own value, so that `counts[key] += 1` counts one event as `child.inc()` would.
    False, and nothing changed, in multiprocess mode: increment the child itself then."""
    value = child._value  # prometheus_client's value object
    if not COUNTED_IN_PROCESS or type(value) is not values.MutexValue:
        return False
    counts[key] = 0
    child._value = _CountedValue(value, counts, key)
    return True


@dataclass(frozen=True)
class MonitoringMetrics:
    drift: Gauge
    drift_detected: Gauge
    integrity_missing: Counter
    integrity_violations: Counter
    integrity_checked: Counter
    audit_errors: Counter
    audit_dropped: Counter
    flush_errors: Counter
    responses: Counter

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> MonitoringMetrics:
        return cls(
            drift=Gauge(
                "reviewguard_drift",
                "Drift of a monitored quantity against the model's reference profile",
                ["quantity", "method", "window"],
                registry=registry,
                multiprocess_mode="max",
            ),
            drift_detected=Gauge(
                "reviewguard_drift_detected",
                "1 when the quantity's primary drift method is over its threshold",
                ["quantity", "window"],
                registry=registry,
                multiprocess_mode="max",
            ),
            integrity_missing=Counter(
                "reviewguard_integrity_missing_total",
                "Scored reviews where an optional field was missing, by field",
                ["field"],
                registry=registry,
            ),
            integrity_violations=Counter(
                "reviewguard_integrity_violations_total",
                "Values outside the constraints derived from the reference profile",
                ["field", "constraint"],
                registry=registry,
            ),
            integrity_checked=Counter(
                "reviewguard_integrity_checked_total",
                "Scored reviews checked for data integrity (the denominator of the rates)",
                registry=registry,
            ),
            audit_errors=Counter(
                "reviewguard_audit_errors_total",
                "Decisions that could not be written to the audit trail",
                registry=registry,
            ),
            audit_dropped=Counter(
                "reviewguard_audit_dropped_total",
                "Decisions dropped because the audit buffer was full (Redis down for long)",
                registry=registry,
            ),
            flush_errors=Counter(
                "reviewguard_monitoring_flush_errors_total",
                "Failed flushes of the live profile to Redis (counts kept for the next one)",
                registry=registry,
            ),
            responses=Counter(
                "reviewguard_http_responses_total",
                "HTTP responses by route template, method and status class (2xx, 4xx, 5xx)",
                ["route", "method", "status"],
                registry=registry,
            ),
        )

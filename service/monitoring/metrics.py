"""Prometheus metrics of monitoring: drift per quantity, data integrity, audit and flush errors."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge


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

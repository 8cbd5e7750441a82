"""Metrics.observe_scored and LiveProfile.observe count into plain ints the registry reads at
scrape time: /metrics is the same as with the previous implementations (kept as references: here,
and old_observe in test_same_as_before) after any sequence of scored reviews, in one process and,
in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, where every event still reaches the shared files),
summed over several worker processes."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from collections import Counter as CountOf
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from service.metrics import LATENCY_BUCKETS_S, Metrics
from service.monitoring import live, profile
from service.monitoring.live import LiveProfile
from service.monitoring.metrics import MonitoringMetrics
from service.monitoring.profile import DECISIONS, Histograms, ReferenceProfile
from service.scorer import Missing, Scored, Verdict
from service.scoring.fusion import GROUP_OF, Reason
from service.scoring.review import Account, Review
from tests.unit.test_same_as_before import SCORED, VOCABULARY, exposed, old_observe

ROOT = Path(__file__).resolve().parents[2]


class OldMetrics:
    """Metrics.__init__ and observe_scored as they were (one labels() child inc per event)."""

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


MISSING = st.one_of(
    st.none(),
    st.builds(
        Missing, kind=st.sampled_from(["timeout", "error", "circuit_open"]), message=st.just("m")
    ),
)
SCORED_MISSING = st.builds(
    lambda s, missing: Scored(
        s.review,
        s.verdict,
        s.features,
        is_replay=s.is_replay,
        missing=missing,
        text_probability=s.text_probability,
    ),
    SCORED,
    MISSING,
)


def split(exposition: bytes) -> tuple[list[bytes], list[bytes]]:
    """The lines less the creation times, and the names and labels of the creation-time series."""
    lines = exposition.splitlines()
    created = [x.rpartition(b" ")[0] for x in lines if b"_created" in x]
    return [x for x in lines if b"_created" not in x], created


@settings(max_examples=200, deadline=None)
@given(st.lists(SCORED_MISSING, max_size=30), st.integers(0, 30))
def test_exposition_as_before(batch: list[Scored], scrape_at: int) -> None:
    old, new = OldMetrics(), Metrics()
    for i, scored in enumerate(batch):
        if i == scrape_at:  # a scrape between reviews changes nothing
            assert split(new.render()) == split(generate_latest(old.registry))
        old.observe_scored(scored)
        new.observe_scored(scored)
    assert split(new.render()) == split(generate_latest(old.registry))
    assert split(generate_latest(new.registry)) == split(generate_latest(old.registry))


def test_created_times_are_the_first_events() -> None:
    """A series is made at its first event, as labels() made it: its creation time is then."""
    new = Metrics()
    scored = next(s for s in SAMPLES if s.verdict.reasons)
    assert b"reviewguard_decisions_created" not in new.render()
    new.observe_scored(scored)
    created = {
        x.rpartition(b" ")[0]: float(x.rpartition(b" ")[2])
        for x in new.render().splitlines()
        if b"_created{" in x
    }
    child = new.decisions.labels(scored.verdict.decision)
    assert created[
        b'reviewguard_decisions_created{decision="%s"}' % scored.verdict.decision.encode()
    ] == (child._created)


def test_direct_increments_still_count() -> None:
    """A child incremented outside observe_scored (its own value) adds to the counted events."""
    new, old = Metrics(), OldMetrics()
    for scored in SAMPLES:
        new.observe_scored(scored)
        old.observe_scored(scored)
    for m in (new, old):
        m.degraded.inc(2)
        m.decisions.labels(SAMPLES[0].verdict.decision).inc()
    assert split(new.render()) == split(generate_latest(old.registry))


def _sample(i: int) -> Scored:
    codes = [*GROUP_OF, "OTHER"]
    reasons = tuple(
        Reason(codes[(i * 7 + k * 3) % len(codes)], "m", 0.25 * k - 0.5) for k in range(i % 5)
    )
    verdict = Verdict(
        f"r{i}", (i % 10) / 10, "low", DECISIONS[i % 3], reasons, "m", degraded=i % 4 == 0
    )
    kinds = (None, "timeout", None, "error", None, None, "circuit_open")
    kind = kinds[i % len(kinds)]
    return Scored(
        Review(f"r{i}", "p", 1 + i % 5, 1.0, Account("a")),
        verdict,
        None,
        is_replay=i % 6 == 5,
        missing=Missing(kind, "m") if kind else None,
        text_probability=None,
    )


SAMPLES = [_sample(i) for i in range(40)]

_WORKER = """
import pickle, sys
sys.path.insert(0, {root!r})
from tests.unit.test_metrics_counts import OldMetrics
from service.metrics import Metrics
batch = pickle.loads(sys.stdin.buffer.read())
m = OldMetrics() if sys.argv[1] == "old" else Metrics()
for scored in batch:
    m.observe_scored(scored)
if sys.argv[2] == "render":
    sys.stdout.buffer.write(Metrics().render())
"""


def _worker(mode: str, then: str, batch: list[Scored], directory: Path) -> bytes:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    return subprocess.run(
        [sys.executable, "-c", _WORKER.format(root=str(ROOT)), mode, then],
        input=pickle.dumps(batch),
        env=env,
        capture_output=True,
        check=True,
        cwd=ROOT,
    ).stdout


def test_multiprocess_exposition_as_before(tmp_path: Path) -> None:
    """Two workers count, a third renders (as a scrape of any uvicorn worker): every worker's
    events are in it, as they were."""
    rendered = {}
    for mode in ("old", "new"):
        directory = tmp_path / mode
        directory.mkdir()
        _worker(mode, "count", SAMPLES[:20], directory)
        _worker(mode, "count", SAMPLES[20:], directory)
        # Less the worker processes' ids (the gauges' pid label), which are each run's own.
        text = _worker(mode, "render", [], directory)
        rendered[mode] = sorted(re.sub(rb'pid="\d+"', b'pid=""', text).splitlines())
    assert b"reviewguard_degraded_total 10.0" in rendered["new"]
    assert rendered["new"] == rendered["old"]


# --- LiveProfile's integrity metrics (service/monitoring/live.py) ------------------------------

REFERENCE = ReferenceProfile(
    histograms=Histograms(),
    vocabulary=VOCABULARY,
    integrity={"text": {"length_max": 40}},
    meta={},
)


@settings(max_examples=150, deadline=None)
@given(st.lists(SCORED, max_size=30), st.integers(0, 30), st.integers(1, 7), st.booleans())
def test_live_profile_exposition_as_before(
    batch: list[Scored], scrape_at: int, fold_every: int, native: bool
) -> None:
    """Two profiles on one registry (the second cannot count its children in ints: it increments
    them), scraped mid-way: the same /metrics and counts as the previous observe, per answer;
    with the C observe (monitortext.observe, when built) and without."""
    old_registry, new_registry = CollectorRegistry(), CollectorRegistry()
    old_metrics = MonitoringMetrics.for_registry(old_registry)
    new_metrics = MonitoringMetrics.for_registry(new_registry)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(live, "FOLD_EVERY", fold_every)
        if not native:
            patch.setattr(profile, "_NATIVE", None)
        profiles = [LiveProfile(REFERENCE, new_metrics), LiveProfile(REFERENCE, new_metrics)]
        pending: list[CountOf[str]] = [CountOf(), CountOf()]
        for i, scored in enumerate(batch):
            if i == scrape_at:
                assert exposed(new_registry) == exposed(old_registry)
            old_observe(scored, pending[i % 2], old_metrics, REFERENCE)
            profiles[i % 2].observe(scored)
        assert [p.take() for p in profiles] == [dict(c) for c in pending]
    assert exposed(new_registry) == exposed(old_registry)


def test_live_profile_takes_the_c_path_when_built() -> None:
    built = profile._NATIVE is not None
    assert (LiveProfile(REFERENCE)._observe_c is not None) == built
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(profile, "_NATIVE", None)
        assert LiveProfile(REFERENCE)._observe_c is None

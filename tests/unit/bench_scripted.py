"""bench/run.py's `app_phases` against a scripted app: no server, no wrk, each phase's figures
from the test (shared by the bench's unit tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from bench import run as bench_run
from bench.run import Phase, interleave


def scripted_phases(
    monkeypatch: pytest.MonkeyPatch,
    p99_ms: Callable[[str, float], float],
    errors: Callable[[str], int] = lambda phase: 0,
    search: bool = True,
    **config: Any,
) -> tuple[dict[str, Any], list[str]]:
    """The app's results and the names of the phases it ran, in order. Every phase answers
    8,000 requests at its target rate (1000/s in closed loop), none degraded; its p99 is
    ``p99_ms(phase, rate)`` and its errors ``errors(phase)``. ``config``: Config fields to
    change (saturation_rounds=1 unless given)."""
    names: list[str] = []

    def measured(cfg: Any, app: Any, bodies: Any, workdir: Any, phase: str, rate: float,
                 connections: int, **kw: Any) -> tuple[Phase, None]:  # fmt: skip
        names.append(phase)
        stats = {
            "requests": 8000,
            "degraded": 0,
            "http_errors": errors(phase),
            "rate_per_s": rate or 1000.0,
            "latency_ms": {"p99": p99_ms(phase, rate)},
        }
        return Phase(phase, rate, connections, stats, [], 0.0, 0.0), None

    monkeypatch.setattr(bench_run, "measured", measured)
    monkeypatch.setattr(bench_run, "settle", lambda app: 0.0)
    cfg = dataclasses.replace(bench_run.Config.from_env(), **({"saturation_rounds": 1} | config))
    steps = bench_run.app_phases(cfg, app=None, bodies=None, workdir=None, search=search)  # type: ignore[arg-type]
    return interleave({"app": steps})["app"], names

"""The bench's fixed-rate rounds (bench/run.py `app_phases`, `median_tail`, `verdicts`), what it
reads of the host's steal (`cpu_steal_s`) and how the report shows both (bench/report.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bench import run as bench_run
from bench.report import markdown, steal_text
from bench.run import Phase, cpu_steal_s, median_tail, verdicts
from tests.unit.bench_scripted import scripted_phases


def _fixed(name: str, p99: float | None, errors: int = 0) -> Phase:
    stats = {
        "requests": 5000,
        "rate_per_s": 600.0,
        "http_errors": errors,
        "degraded": 0,
        "latency_ms": {"p50": 2.0, "p95": 5.0, "p99": p99, "max": 30.0},
    }
    return Phase(name, 600.0, 64, stats, [], 0.0, 0.0)


def test_the_median_tail_is_neither_the_spell_nor_the_quiet_run() -> None:
    runs = [_fixed("r1", 7.5), _fixed("r2", 52.0), _fixed("r3", 6.1)]
    assert median_tail(runs).name == "r1"
    assert median_tail(runs[1:]).name == "r3"  # an even count: the lower middle one
    assert median_tail([_fixed("a", None), _fixed("b", 9.0)]).name == "b"  # no latency: slowest


def _scripted_rounds(
    monkeypatch: pytest.MonkeyPatch, p99s: dict[str, float], errors: dict[str, int], rounds: int
) -> tuple[dict[str, Any], list[str]]:
    """A scripted app that sustains its closed-loop rate (1000/s); each fixed-rate run's p99
    and errors by its name (5 ms and none when not named)."""
    return scripted_phases(
        monkeypatch,
        lambda phase, rate: p99s.get(phase, 5.0),
        lambda phase: errors.get(phase, 0),
        sustain_start=1.0,
        fractions=(0.25, 0.5),
        fixed_rounds=rounds,
    )


def test_fixed_rates_run_in_rounds_and_the_median_p99_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p99s = {"fixed-0.50-1": 61.0, "fixed-0.50-2": 8.0, "fixed-0.50-3": 6.5, "fixed-0.25-2": 40.0}
    result, names = _scripted_rounds(monkeypatch, p99s, {}, rounds=3)
    fixed_names = [n for n in names if n.startswith("fixed-")]
    # Round after round, each fraction in turn.
    assert fixed_names == [
        "fixed-0.25-1", "fixed-0.50-1", "fixed-0.25-2", "fixed-0.50-2", "fixed-0.25-3",
        "fixed-0.50-3",
    ]  # fmt: skip
    assert [p.name for p in result["fixed_rounds"]] == sorted(fixed_names)
    quarter, half = result["fixed"]
    assert quarter.name in ("fixed-0.25-1", "fixed-0.25-3")  # 5 ms both: not the 40 ms one
    assert half.name == "fixed-0.50-2"
    assert half.extra["p99_all_rounds_ms"] == [61.0, 8.0, 6.5]
    assert half.extra["fraction_of_max"] == 0.5

    cfg = bench_run.Config.from_env()
    v = verdicts(cfg, result, result, None)
    assert v["p99_at_half_ms"] == 8.0
    assert v["p99_at_half_rounds_ms"] == [61.0, 8.0, 6.5]
    assert v["p99_at_half_at_most_10ms"] is True


def test_an_error_in_any_round_fails_the_check_at_half(monkeypatch: pytest.MonkeyPatch) -> None:
    # The run with the error is not the median one: its errors still count.
    p99s = {"fixed-0.50-1": 61.0, "fixed-0.50-2": 8.0, "fixed-0.50-3": 6.5}
    result, _ = _scripted_rounds(monkeypatch, p99s, {"fixed-0.50-1": 2}, rounds=3)
    half = result["fixed"][1]
    assert half.name == "fixed-0.50-2" and half.errors == 0
    v = verdicts(bench_run.Config.from_env(), result, result, None)
    assert v["errors_at_half"] == 2
    assert v["p99_at_half_at_most_10ms"] is False


def test_one_round_keeps_the_plain_names(monkeypatch: pytest.MonkeyPatch) -> None:
    result, names = _scripted_rounds(monkeypatch, {"fixed-0.50": 12.0}, {}, rounds=1)
    assert [n for n in names if n.startswith("fixed-")] == ["fixed-0.25", "fixed-0.50"]
    v = verdicts(bench_run.Config.from_env(), result, result, None)
    assert v["p99_at_half_ms"] == 12.0
    assert v["p99_at_half_at_most_10ms"] is False


PROC_STAT = """cpu  34992 0 8960 55994 647 0 2231 2465 0 0
cpu0 20450 0 3001 26721 33 0 1494 780 0 0
cpu1 14541 0 5959 29273 613 0 736 1685 0 0
intr 123 0 0
ctxt 456
"""


def test_steal_is_read_per_cpu_from_proc_stat() -> None:
    hz = bench_run.CLK_TCK
    assert cpu_steal_s(PROC_STAT) == {"cpu0": 780 / hz, "cpu1": 1685 / hz}
    assert cpu_steal_s("cpu0 1 2 3\n") == {}  # a kernel without the column: nothing
    assert steal_text({"cpu0": 0.012, "cpu1": 0.03, "cpu2": 0.5}) == "1.2 / 3.0"
    assert steal_text({"cpu3": 0.25}) == "25.0"
    assert steal_text({}) == "-" and steal_text(None) == "-"


def test_the_sampler_gives_each_phase_its_steal_and_run_queue_wait() -> None:
    import os

    sampler = bench_run.Sampler([os.getpid()], interval_s=0.01)
    sampler.start()
    sum(i * i for i in range(200_000))
    sampler.stop()
    steal = sampler.steal()
    assert set(steal) == set(cpu_steal_s())
    assert all(0.0 <= share <= 1.0 for share in steal.values())
    (worker,) = sampler.per_worker()
    assert worker["run_queue_wait_ms"] is not None and worker["run_queue_wait_ms"] >= 0


def test_the_report_shows_every_round_and_the_median_in_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p99s = {"fixed-0.50-1": 61.0, "fixed-0.50-2": 8.0, "fixed-0.50-3": 6.5}
    result, _ = _scripted_rounds(monkeypatch, p99s, {}, rounds=3)
    for p in result["fixed_rounds"]:
        p.stats |= {"p50": 1.0, "cpu_pressure": 0.02, "steal": {"cpu0": 0.01, "cpu1": 0.02}}
        p.stats["latency_ms"] |= {"p50": 1.0, "p95": 4.0, "max": 70.0}
    res = bench_run.app_json(result)
    for p in [res["saturation"], *res["saturation_rounds"], *res["sustain_tries"]]:
        p["stats"]["latency_ms"] |= {"p50": 1.0, "p95": 4.0, "max": 70.0}
    cfg = bench_run.Config.from_env()
    machine = {"cpu": "x", "cores": 2, "memory_mib": 1, "kernel": "k", "python": "3"}
    machine |= {"redis": "r", "wrk": "w", "loadavg_at_start": ["0", "0", "0"]}
    config = {k: str(v) for k, v in dataclasses.asdict(cfg).items()}
    config |= {"workers": 1, "wrk_threads": 1, "duration_s": 8.0, "warmup_s": 1.0}
    config |= {"connections": 64, "saturation_connections": 64}
    report = {
        "stamp": "test",
        "machine": machine,
        "config": config,
        "verdicts": verdicts(cfg, result, result, None),
        "ceiling": res,
        "full": res,
        "elapsed_s": 1.0,
    }
    md = markdown(report)
    assert (
        "p99 at half the full path's maximum rate: 8.00 ms (the median of 3 runs: 61.00, 8.00,"
        " 6.50 ms) <= 10 ms, errors 0 in all runs: yes" in md
    )
    assert md.count("50% of max, fixed-0.50-2 (median)") == 2  # ceiling and full
    assert md.count("50% of max, fixed-0.50-1 |") == 2
    assert "| 1.0 / 2.0 |" in md

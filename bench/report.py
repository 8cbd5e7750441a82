"""Markdown tables from a bench/run.py result (results.json)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _workers(phase: dict[str, Any]) -> tuple[str, str]:
    cpu = " / ".join(f"{w['cpu_percent']:.0f}" for w in phase["workers"])
    rss = " / ".join(f"{w['rss_mib']:.0f}" for w in phase["workers"])
    return cpu, rss


def _row(app: str, label: str, p: dict[str, Any]) -> str:
    s = p["stats"]
    lat = s["latency_ms"]
    cpu, rss = _workers(p)
    errors = s["http_errors"] + s.get("socket_errors", 0)
    target = f"{p['target_rate']:.0f}" if p["target_rate"] else "closed loop"
    cpu_us = p["worker_cpu_us_per_request"]
    cpu_per_req = f"{cpu_us:.0f}" if cpu_us else "-"
    return (
        f"| {app} | {label} | {target} | {s['rate_per_s']:.0f} | {_ms(lat['p50'])} | "
        f"{_ms(lat['p95'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} | {errors} | "
        f"{s['degraded']} | {cpu} | {cpu_per_req} | {rss} | {_pressure(s)} | "
        f"{steal_text(s.get('steal'))} | {_waits(p)} |"
    )


def steal_text(steal: dict[str, float] | None) -> str:
    """The host's steal on cpu0 / cpu1 (the CPUs the bench pins to; else every CPU) in % of
    the phase, '-' when not known."""
    if not steal:
        return "-"
    cpus = [c for c in ("cpu0", "cpu1") if c in steal] or sorted(steal)
    return " / ".join(f"{100 * steal[c]:.1f}" for c in cpus)


def _waits(phase: dict[str, Any]) -> str:
    waits = [w.get("run_queue_wait_ms") for w in phase["workers"]]
    return " / ".join("-" if w is None else f"{w:.0f}" for w in waits) or "-"


def _pressure(stats: dict[str, Any]) -> str:
    value = stats.get("cpu_pressure")
    return "-" if value is None else f"{100 * value:.0f}%"


def markdown(r: dict[str, Any]) -> str:
    m, cfg, v = r["machine"], r["config"], r["verdicts"]
    c, f = r["ceiling"], r["full"]
    out = [
        f"# reviewguard bench {r['stamp']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mib']} MiB, kernel {m['kernel']}, "
        f"Python {m['python']}, {m['redis']}, {m['wrk']}. Load average at start: "
        f"{' '.join(m['loadavg_at_start'])} (shared machine).",
        f"Workers: {cfg['workers']} on cpu {cfg['server_cpus'] or 'any'}; wrk "
        f"({cfg['wrk_threads']} thread) on cpu {cfg['load_cpus'] or 'any'}; Redis on cpu "
        f"{cfg['redis_cpus'] or 'any'}; all at nice {cfg.get('nice', 0)}. "
        f"Phases of {cfg['duration_s']:.0f} s after "
        f"{cfg['warmup_s']:.0f} s of warm-up; fixed-rate runs with {cfg['connections']} "
        f"connections, closed loop with {cfg['saturation_connections']}.",
        "",
        "## Ratios (same run, same workers)",
        "",
        "| | full path | ceiling | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| max sustained rate (req/s) | {f['max_sustained_rate']:.0f} | "
        f"{c['max_sustained_rate']:.0f} | **{v['throughput_ratio']:.2f}** |",
        f"| closed-loop saturation (req/s) | {f['saturation']['stats']['rate_per_s']:.0f} | "
        f"{c['saturation']['stats']['rate_per_s']:.0f} | {v['saturation_ratio']:.2f} |",
        f"| worker CPU per request at saturation (µs) | {v['cpu_per_request_us']['full']:.0f} | "
        f"{v['cpu_per_request_us']['ceiling']:.0f} | {v['cpu_ratio']:.2f} (ceiling/full) |",
    ]
    lean = v.get("lean_ceiling")
    if lean:
        out += [
            "",
            "The ceiling is a bare FastAPI endpoint (FastAPI's handler parses the body into "
            "`ReviewIn`). The service's scoring route takes a leaner way in for well-formed "
            "requests (`LeanRoute`); the same constant behind that way in, in closed loop only:",
            "",
            "| | full path | lean ceiling | ratio |",
            "| --- | ---: | ---: | ---: |",
            f"| closed-loop saturation (req/s) | {f['saturation']['stats']['rate_per_s']:.0f} | "
            f"{lean['saturation_rate_per_s']:.0f} | {lean['saturation_ratio']:.2f} |",
            f"| worker CPU per request at saturation (µs) | "
            f"{v['cpu_per_request_us']['full']:.0f} | {lean['cpu_per_request_us']:.0f} | "
            f"{lean['cpu_ratio']:.2f} (lean ceiling/full) |",
        ]
    out += [
        "",
        "## Checks",
        "",
        f"- full/ceiling max sustained throughput {v['throughput_ratio']:.2f} >= 0.5: "
        f"{'yes' if v['throughput_ratio_at_least_0_5'] else 'NO'} (aim 0.7: "
        f"{'yes' if v['throughput_ratio_at_least_0_7'] else 'no'})",
    ]
    if "p99_at_half_ms" in v:
        rounds = v.get("p99_at_half_rounds_ms") or []
        of = (
            f" (the median of {len(rounds)} runs: {', '.join(_ms(x) for x in rounds)} ms)"
            if len(rounds) > 1
            else ""
        )
        out.append(
            f"- p99 at half the full path's maximum rate: {_ms(v['p99_at_half_ms'])} ms{of} "
            f"<= 10 ms, errors {v['errors_at_half']}"
            f"{' in all runs' if len(rounds) > 1 else ''}: "
            f"{'yes' if v['p99_at_half_at_most_10ms'] else 'NO'}"
        )
    if "frozen_ok" in v:
        out.append(
            f"- Redis frozen {r['redis_frozen']['freeze_s']:.0f} s at half the maximum rate: "
            f"errors {v['frozen_errors']}, p99 in the frozen window {_ms(v['frozen_p99_ms'])} ms "
            f"<= {v['frozen_p99_budget_ms']:.0f} ms: {'yes' if v['frozen_ok'] else 'NO'}"
        )
    out += [
        "",
        "## Throughput and latency",
        "",
        "Latency in ms, from the scheduled send time (open loop, corrected for coordinated "
        "omission); CPU in % of one core per worker; CPU µs per request over all workers; RSS the "
        "largest seen during the phase; machine CPU pressure: Linux PSI `some avg10` at the end of "
        "the phase (the share of time some task waited for a CPU; high = neighbours at work); "
        "host steal: the share of the phase the hypervisor took from cpu0 / cpu1 (/proc/stat); "
        "worker CPU wait: ms the worker was runnable but not running (/proc/PID/schedstat). "
        "Fixed rates run in rounds (each fraction in turn); the run of the median p99 is the "
        "figure, marked (median).",
        "",
        "| app | phase | target req/s | got req/s | p50 | p95 | p99 | max | errors | degraded | "
        "CPU % | CPU µs/req | RSS MiB | machine CPU pressure | host steal % | "
        "worker CPU wait ms |",
        "| --- | --- " + "| ---: " * 14 + "|",
    ]
    apps = [("ceiling", c), ("full", f)]
    if r.get("ceiling_lean"):
        apps.append(("ceiling-lean", r["ceiling_lean"]))
    for name, res in apps:
        rounds = res.get("saturation_rounds") or [res["saturation"]]
        for p in rounds:
            median = len(rounds) > 1 and p["name"] == res["saturation"]["name"]
            out.append(_row(name, p["name"] + (" (median)" if median else ""), p))
        for p in res["sustain_tries"]:
            out.append(_row(name, p["name"], p))
        chosen = {p["name"] for p in res["fixed"]}
        fixed_runs = res.get("fixed_rounds") or res["fixed"]
        in_rounds = len(fixed_runs) > len(res["fixed"])
        for p in fixed_runs:
            label = f"{100 * p['extra']['fraction_of_max']:.0f}% of max"
            if in_rounds:
                label += f", {p['name']}" + (" (median)" if p["name"] in chosen else "")
            out.append(_row(name, label, p))
    if "redis_frozen" in r:
        fz = r["redis_frozen"]
        out.append(_row("full", "Redis frozen (whole run)", fz["phase"]))
        out += [
            "",
            f"## Redis frozen (SIGSTOP) for {fz['freeze_s']:.0f} s at "
            f"{fz['phase']['target_rate']:.0f} req/s",
            "",
            "| window | requests | errors | degraded | p50 | p99 | max |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for label in ("before", "frozen", "after"):
            s = fz[label]
            lat = s["latency_ms"]
            out.append(
                f"| {label} | {s['requests']} | {s['http_errors']} | {s['degraded']} | "
                f"{_ms(lat['p50'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} |"
            )
    parts = r.get("parts")
    if parts:
        out += [
            "",
            "## Parts alone, one review at a time (µs)",
            "",
            "| stage | mean | p50 | p99 | share of the staged total |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        share = parts["stage_share_of_total"]
        for stage, s in parts["stages_us"].items():
            if s.get("n"):
                out.append(
                    f"| {stage} | {s['mean']} | {s['p50']} | {s['p99']} | "
                    f"{share.get(stage, '') if stage in share else ''} |"
                )
        sc = parts["scorer_score_us"]
        ox = parts["onnx_per_review_us"]
        rt = parts["redis_round_trip_us"]
        out += [
            "",
            f"- FraudScorer.score alone (Redis overlapping the model): mean {sc['mean']} µs, "
            f"p50 {sc['p50']}, p99 {sc['p99']}",
            f"- ONNX inference per review ({ox['n']} texts, {parts['onnx_text_chars_mean']:.0f} "
            f"chars on average): mean {ox['mean']} µs, p50 {ox['p50']}, p99 {ox['p99']}",
            f"- Redis round trip of the feature scripts ({parts['redis_evalsha_per_review']} "
            f"EVALSHA per review in one pipeline): mean {rt['mean']} µs, p50 {rt['p50']}, "
            f"p99 {rt['p99']}; Redis's own CPU {parts['redis_server_usec_per_review']} µs per "
            f"review ({parts['redis_server_usec_per_evalsha']} µs per EVALSHA)",
        ]
    prof = r.get("profile")
    if prof and "components" in prof:
        out += ["", "## py-spy profile of the worker at half the maximum rate", ""]
        out += ["| component (busy samples, idle loop left out) | share |", "| --- | ---: |"]
        out += [f"| {k} | {v:.3f} |" for k, v in prof["components"].items()]
        out += ["", "| function (self time) | share of all samples |", "| --- | ---: |"]
        out += [f"| `{x['function']}` | {x['share']:.3f} |" for x in prof["self"][:15]]
    out += ["", f"Run took {r['elapsed_s']:.0f} s.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(json.loads(Path(sys.argv[1]).read_text())))

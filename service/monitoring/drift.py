"""Drift between two histograms on the same bins: PSI, Jensen-Shannon distance, Wasserstein.

Pure functions over counts. PSI and the Jensen-Shannon distance (base 2, in [0, 1]) compare the
binned shares; the Wasserstein distance treats each bin's mass as sitting at the bin's centre and
is divided by the reference's standard deviation (Evidently's normalisation), so 0.1 means "the
mass moved by a tenth of a reference standard deviation on average".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.monitoring.profile import QUANTITIES

PSI_EPSILON = 1e-4
"""Share given to an empty bin so that PSI stays finite (Evidently uses 1e-4 too)."""


def shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    if total <= 0:
        raise ValueError("an empty histogram has no shares")
    return [c / total for c in counts]


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """Population stability index: sum (c - r) * ln(c / r), empty bins floored at PSI_EPSILON."""
    _same_bins(reference, current)
    total = 0.0
    for r, c in zip(shares(reference), shares(current), strict=True):
        r, c = max(r, PSI_EPSILON), max(c, PSI_EPSILON)
        total += (c - r) * math.log(c / r)
    return total


def js_distance(reference: Sequence[float], current: Sequence[float]) -> float:
    """Jensen-Shannon distance with base-2 logarithms: 0 for equal shares, 1 for disjoint ones."""
    _same_bins(reference, current)
    p, q = shares(reference), shares(current)
    divergence = 0.0
    for pi, qi in zip(p, q, strict=True):
        m = (pi + qi) / 2
        if pi > 0:
            divergence += pi * math.log2(pi / m) / 2
        if qi > 0:
            divergence += qi * math.log2(qi / m) / 2
    return math.sqrt(max(0.0, divergence))


def binned_std(counts: Sequence[float], centres: Sequence[float]) -> float:
    p = shares(counts)
    mean = sum(pi * x for pi, x in zip(p, centres, strict=True))
    return math.sqrt(sum(pi * (x - mean) ** 2 for pi, x in zip(p, centres, strict=True)))


def wasserstein(
    reference: Sequence[float], current: Sequence[float], centres: Sequence[float]
) -> float:
    """Earth mover's distance between the histograms, mass at the bin centres (increasing)."""
    _same_bins(reference, current)
    if len(centres) != len(reference):
        raise ValueError("one centre per bin")
    p, q = shares(reference), shares(current)
    distance, cdf_gap = 0.0, 0.0
    for i in range(len(p) - 1):
        cdf_gap += p[i] - q[i]
        distance += abs(cdf_gap) * (centres[i + 1] - centres[i])
    return distance


def wasserstein_normalised(
    reference: Sequence[float],
    current: Sequence[float],
    centres: Sequence[float],
    std_floor: float = 0.0,
) -> float:
    """Wasserstein distance over the reference's standard deviation, floored at std_floor (the
    histogram's resolution: a reference that sits in one bin would otherwise make any stray live
    value infinite drift). Without a floor: inf if the std is zero and the histograms differ."""
    distance = wasserstein(reference, current, centres)
    std = max(binned_std(reference, centres), std_floor)
    if std > 0:
        return distance / std
    return 0.0 if distance == 0 else math.inf


def _same_bins(reference: Sequence[float], current: Sequence[float]) -> None:
    if len(reference) != len(current) or len(reference) < 2:
        raise ValueError(
            f"histograms need the same bins (at least 2): {len(reference)} vs {len(current)}"
        )


# --- reports: every quantity of a reference profile against a live one ----------------------

PRIMARY = {"numeric": "wasserstein", "categorical": "jensenshannon"}
"""The method whose threshold flags drift, by kind (Evidently's choice for large samples)."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    psi: float = 0.1
    jensenshannon: float = 0.1
    wasserstein: float = 0.1
    min_samples: int = 1000
    """Fewer live observations than this: the quantity is reported, never flagged (Evidently
    uses Wasserstein and Jensen-Shannon only above 1000 objects, statistical tests below)."""

    def of(self, method: str) -> float:
        return float(getattr(self, method))


def compare(
    reference: Mapping[str, Sequence[int]],
    live: Mapping[str, Sequence[int]],
    thresholds: Thresholds,
) -> dict[str, Any]:
    """Per quantity: sample sizes, each method's value, and whether the primary one is over."""
    quantities: dict[str, Any] = {}
    for q in QUANTITIES:
        ref, cur = reference.get(q.name), live.get(q.name)
        entry: dict[str, Any] = {
            "kind": q.kind,
            "primary_method": PRIMARY[q.kind],
            "threshold": thresholds.of(PRIMARY[q.kind]),
            "reference_count": int(sum(ref)) if ref else 0,
            "live_count": int(sum(cur)) if cur else 0,
            "labels": list(q.labels),
            "reference": list(ref) if ref else [],
            "live": list(cur) if cur else [],
            "methods": {},
            "drifted": False,
        }
        quantities[q.name] = entry
        if not ref or not cur or sum(ref) == 0 or sum(cur) == 0:
            entry["status"] = "no_data"
            continue
        methods = {"psi": psi(ref, cur), "jensenshannon": js_distance(ref, cur)}
        if q.kind == "numeric":
            methods["wasserstein"] = wasserstein_normalised(ref, cur, q.centres, q.min_width)
        entry["methods"] = {k: round(v, 6) for k, v in methods.items()}
        if entry["live_count"] < thresholds.min_samples:
            entry["status"] = "too_few_samples"
            continue
        entry["drifted"] = methods[PRIMARY[q.kind]] > thresholds.of(PRIMARY[q.kind])
        entry["status"] = "drift" if entry["drifted"] else "ok"
    drifted = sorted(name for name, e in quantities.items() if e["drifted"])
    return {"drifted": drifted, "drift_detected": bool(drifted), "quantities": quantities}

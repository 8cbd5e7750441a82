"""Drift math against values worked out by hand (and scipy where it has the same method)."""

from __future__ import annotations

import math

import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from service.monitoring.drift import (
    Thresholds,
    binned_std,
    compare,
    js_distance,
    psi,
    wasserstein,
    wasserstein_normalised,
)
from service.monitoring.profile import BY_NAME, QUANTITIES, Histograms


def test_psi_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5)
    assert psi([50, 50], [25, 75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi([50, 50], [25, 75]) == pytest.approx(0.274653, abs=1e-6)


def test_psi_floors_an_empty_bin_at_epsilon() -> None:
    # reference share of bin 2 is 0 -> 1e-4: (0.99-1) ln 0.99 + (0.01-1e-4) ln(0.01/1e-4)
    assert psi([100, 0], [99, 1]) == pytest.approx(0.0456917, abs=1e-6)
    assert math.isfinite(psi([1, 0], [0, 1]))


def test_psi_is_zero_for_the_same_shares_whatever_the_totals() -> None:
    assert psi([10, 20, 30], [100, 200, 300]) == pytest.approx(0.0)


def test_js_distance_by_hand_and_like_scipy() -> None:
    # m = (0.375, 0.625); JSD = (KL(p|m) + KL(q|m)) / 2 = (0.046554 + 0.051035) / 2
    assert js_distance([50, 50], [25, 75]) == pytest.approx(0.220895, abs=1e-6)
    assert js_distance([50, 50], [25, 75]) == pytest.approx(
        jensenshannon([0.5, 0.5], [0.25, 0.75], base=2)
    )
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_distance([3, 1, 0], [3, 1, 0]) == 0.0


def test_wasserstein_by_hand_and_like_scipy() -> None:
    centres = [0.0, 1.0, 2.0]
    # half the mass moves from 0 to 1 and half from 2 to 1: distance 1; reference std 1
    assert wasserstein([1, 0, 1], [0, 2, 0], centres) == pytest.approx(1.0)
    assert binned_std([1, 0, 1], centres) == pytest.approx(1.0)
    assert wasserstein_normalised([1, 0, 1], [0, 2, 0], centres) == pytest.approx(1.0)
    ref, cur = [5, 3, 2], [1, 1, 8]
    assert wasserstein(ref, cur, centres) == pytest.approx(
        wasserstein_distance(centres, centres, ref, cur)
    )


def test_wasserstein_with_a_constant_reference() -> None:
    assert wasserstein_normalised([4, 0, 0], [4, 0, 0], [0, 1, 2]) == 0.0
    assert wasserstein_normalised([4, 0, 0], [3, 1, 0], [0, 1, 2]) == math.inf
    # floored at one bin width: a quarter of the mass moved by one bin -> 0.25
    assert wasserstein_normalised([4, 0, 0], [3, 1, 0], [0, 1, 2], std_floor=1.0) == 0.25
    # the floor does not lower a larger std
    assert wasserstein_normalised([1, 0, 1], [0, 2, 0], [0, 1, 2], std_floor=0.5) == 1.0


def test_mismatched_or_empty_histograms_are_refused() -> None:
    with pytest.raises(ValueError):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        js_distance([0, 0], [1, 1])


def test_bins_of_numeric_and_categorical_quantities() -> None:
    score = BY_NAME["text_score"]
    assert score.n_bins == 20
    assert score.bin_of(0.0) == 0 and score.bin_of(0.049) == 0 and score.bin_of(0.05) == 1
    assert score.bin_of(1.0) == 19 and score.bin_of(7.0) == 19 and score.bin_of(-1.0) == 0
    decision = BY_NAME["decision"]
    assert [decision.bin_of(d) for d in ("allow", "review", "reject", "??")] == [0, 1, 2, 3]
    assert score.centres[0] == pytest.approx(0.025)


def _filled(pattern: dict[str, list[int]]) -> dict[str, list[int]]:
    h = Histograms()
    for name, counts in pattern.items():
        h.counts[name] = counts
    return h.to_json()


def test_compare_flags_only_what_moved() -> None:
    n = BY_NAME["text_score"].n_bins
    ref = _filled({"text_score": [50] * n, "decision": [800, 150, 50, 0]})
    moved = _filled({"text_score": [0] * (n - 5) + [200] * 5, "decision": [800, 150, 50, 0]})
    report = compare(ref, moved, Thresholds())
    assert report["drifted"] == ["text_score"]
    assert report["quantities"]["decision"]["status"] == "ok"
    assert report["quantities"]["risk"]["status"] == "no_data"
    same = compare(ref, ref, Thresholds())
    assert same["drifted"] == [] and not same["drift_detected"]
    assert set(report["quantities"]) == {q.name for q in QUANTITIES}


def test_compare_does_not_flag_a_handful_of_answers() -> None:
    n = BY_NAME["text_score"].n_bins
    ref = _filled({"text_score": [50] * n})
    few = _filled({"text_score": [0] * (n - 1) + [20]})
    entry = compare(ref, few, Thresholds(min_samples=100))["quantities"]["text_score"]
    assert entry["status"] == "too_few_samples" and not entry["drifted"]
    assert entry["methods"]["wasserstein"] > 1

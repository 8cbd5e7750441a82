"""Known figures of the metrics that evaluate prints, worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from model.metrics import binary_metrics, expected_calibration_error


def test_binary_metrics_on_a_hand_computed_case() -> None:
    labels = np.array([0.0, 0.0, 1.0, 1.0])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    m = binary_metrics(labels, p, threshold=0.5)
    assert m["n"] == 4
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of 4 (fake, genuine) pairs ranked right
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.5)  # tp 1, fp 1, fn 1
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert m["ece"] == pytest.approx((0.1 + 0.6 + 0.6 + 0.1) / 4)
    # pr_auc: precision 1 at recall 0.5, then 2/3 at recall 1
    assert m["pr_auc"] == pytest.approx(0.5 * 1 + 0.5 * (2 / 3), abs=1e-6)


def test_ece_is_zero_when_every_bin_matches_its_share() -> None:
    labels = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    p = np.array([0.25, 0.25, 0.25, 0.25, 0.95, 0.95])  # bin 0.2-0.3 holds 1 of 4 fakes
    assert expected_calibration_error(labels, p) == pytest.approx(2 / 6 * 0.05)


def test_one_class_has_no_auc() -> None:
    m = binary_metrics(np.array([1.0, 1.0]), np.array([0.7, 0.2]), 0.5)
    assert m["roc_auc"] is None
    assert m["accuracy"] == pytest.approx(0.5)

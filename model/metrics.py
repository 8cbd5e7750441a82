"""Binary classification figures: ROC/PR AUC, accuracy and F1 at a threshold, Brier, ECE."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    roc_auc_score,
)


def expected_calibration_error(
    labels: npt.NDArray[np.float64], p: npt.NDArray[np.float64], bins: int = 10
) -> float:
    """Weighted mean |observed share - mean predicted| over equal-width probability bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(float(labels[mask].mean()) - float(p[mask].mean()))
    return total / len(p) if len(p) else float("nan")


def binary_metrics(
    labels: npt.NDArray[np.float64], p: npt.NDArray[np.float64], threshold: float
) -> dict[str, Any]:
    y = np.asarray(labels, dtype=np.int64)
    predicted = (p >= threshold).astype(np.int64)
    both = len(set(y.tolist())) == 2
    return {
        "n": len(y),
        "roc_auc": round(float(roc_auc_score(y, p)), 6) if both else None,
        "pr_auc": round(float(average_precision_score(y, p)), 6) if both else None,
        "accuracy": round(float(accuracy_score(y, predicted)), 6),
        "f1": round(float(f1_score(y, predicted, zero_division=0.0)), 6),
        "brier": round(float(brier_score_loss(y, p)), 6),
        "ece": round(expected_calibration_error(y.astype(np.float64), p), 6),
        "threshold": threshold,
    }

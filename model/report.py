"""A training run's report: ROC, precision-recall, calibration and per-class score histograms."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from model.train import CvResult


def _figure(result: CvResult) -> Any:
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6))
    y = result.labels.astype(int)
    for name, p in (("raw", result.p_raw), ("endings normalised", result.p_normalised)):
        fpr, tpr, _ = roc_curve(y, p)
        axes[0].plot(fpr, tpr, label=name)
        precision, recall, _ = precision_recall_curve(y, p)
        axes[1].plot(recall, precision, label=name)
        edges = np.linspace(0, 1, 11)
        which = np.clip(np.digitize(p, edges[1:-1]), 0, 9)
        xs = [p[which == b].mean() for b in range(10) if (which == b).any()]
        ys = [y[which == b].mean() for b in range(10) if (which == b).any()]
        axes[2].plot(xs, ys, marker="o", label=name)
    axes[0].plot([0, 1], [0, 1], color="grey", lw=0.5)
    axes[0].set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    axes[1].set(title="precision-recall (fake = positive)", xlabel="recall", ylabel="precision")
    axes[2].plot([0, 1], [0, 1], color="grey", lw=0.5)
    axes[2].set(title="calibration (10 bins)", xlabel="mean P(fake)", ylabel="share fake")
    bins = np.linspace(0, 1, 41)
    axes[3].hist(result.p_raw[y == 0], bins=bins, alpha=0.6, label="genuine")
    axes[3].hist(result.p_raw[y == 1], bins=bins, alpha=0.6, label="fake")
    axes[3].set(title="P(fake) per class (raw texts)", xlabel="P(fake)", ylabel="reviews")
    for ax in axes:
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(f"{result.name}: out-of-fold predictions, {result.scheme}")
    fig.tight_layout()
    return fig


def write_report(
    out_dir: Path, version: str, results: Sequence[CvResult], metrics: dict[str, Any]
) -> Path:
    """PNG per training file plus a self-contained index.html; returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = []
    for result in results:
        png = out_dir / f"{Path(result.name).stem}.png"
        fig = _figure(result)
        fig.savefig(png, dpi=80)
        plt.close(fig)
        encoded = base64.b64encode(png.read_bytes()).decode("ascii")
        figures = html.escape(json.dumps(metrics.get(result.name, {}), indent=2))
        sections.append(
            f"<h2>{html.escape(result.name)}</h2><img src='data:image/png;base64,{encoded}' "
            f"style='max-width:100%'><pre>{figures}</pre>"
        )
    page = out_dir / "index.html"
    page.write_text(
        "<!doctype html><meta charset='utf-8'><title>reviewguard text model "
        f"{html.escape(version)}</title><body style='font-family:sans-serif'>"
        f"<h1>Text model {html.escape(version)}: cross-validation</h1>" + "".join(sections),
        encoding="utf-8",
    )
    return page

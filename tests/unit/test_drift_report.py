"""The HTML drift report: self-contained, both distributions drawn per quantity, flags shown."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from service.monitoring.drift import Thresholds, compare
from service.monitoring.profile import BY_NAME, Histograms
from service.monitoring.report import main, render_html


def a_report() -> dict[str, Any]:
    ref, live = Histograms(), Histograms()
    n = BY_NAME["risk"].n_bins
    ref.counts["risk"] = [100] * n
    live.counts["risk"] = [0] * (n - 2) + [1000, 1000]
    ref.counts["decision"] = [900, 90, 10, 0]
    live.counts["decision"] = [1800, 180, 20, 0]
    report = compare(ref.to_json(), live.to_json(), Thresholds())
    return {"window": "1h", "reference": {"n_reviews": 2000}, "thresholds": {}, **report}


def test_report_draws_reference_and_live_per_quantity(tmp_path: Path) -> None:
    report = a_report()
    assert report["drifted"] == ["risk"]
    page = render_html(report)
    assert "<script" not in page and "src=" not in page  # nothing to fetch
    assert page.count("<svg") == len(report["quantities"])
    risk_section = page.split("id='risk'")[1].split("<h2")[0]
    assert "drift" in risk_section
    reference_bars = re.findall(r"reference (\d+\.\d)%", risk_section)
    live_bars = re.findall(r"live (\d+\.\d)%", risk_section)
    assert reference_bars[0] == "5.0" and live_bars[-1] == "50.0"
    decision_section = page.split("id='decision'")[1].split("<h2")[0]
    assert "drift" not in decision_section
    saved = tmp_path / "drift.json"
    saved.write_text(json.dumps(report))
    out = tmp_path / "drift.html"
    assert main(["--json", str(saved), "-o", str(out)]) == 0
    assert out.read_text() == page


def test_report_without_a_reference_says_so() -> None:
    page = render_html({"window": "24h", "reference": None, "message": "no reference profile"})
    assert "no reference profile" in page and "<svg" not in page

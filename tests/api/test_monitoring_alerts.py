"""k8s/monitoring: every metric the alerts and the dashboard query is one the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from tests.api.conftest import ClientFactory, review
from tests.api.test_monitoring import profiled  # noqa: F401  (fixture)

MONITORING = Path(__file__).resolve().parent.parent.parent / "k8s" / "monitoring"
METRIC = re.compile(r"\b(reviewguard_[a-z_]+)\b")
RECORDED = re.compile(r"\breviewguard:[a-z0-9_:]+")


def rule() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    return loaded


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MONITORING / "reviewguard-dashboard.json").read_text())
    return loaded


def exported_families(client: TestClient) -> set[str]:
    text = client.get("/metrics").text
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
            if kind == "counter":
                names.add(f"{name}_total" if not name.endswith("_total") else name)
    return names


def queried_metrics() -> set[str]:
    exprs = [r["expr"] for g in rule()["spec"]["groups"] for r in g["rules"]]
    exprs += [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]
    return {m for e in exprs for m in METRIC.findall(e)}


def test_alerts_and_dashboard_query_only_exported_metrics(
    make_client: ClientFactory,
    profiled: Path,  # noqa: F811
) -> None:
    client = make_client(text_model_dir=profiled, monitoring_flush_s=0.05, drift_refresh_s=0.05)
    client.post("/v1/reviews/score", json=review("k-1"))
    client.post("/v1/reviews/score", json=review("k-2", text="  "))
    client.get("/v1/monitoring/drift")
    exported = exported_families(client)
    queried = queried_metrics()
    assert {"reviewguard_drift", "reviewguard_degraded_total"} <= queried
    assert queried - exported == set()


def test_the_rule_has_the_alerts_operators_need() -> None:
    groups = rule()["spec"]["groups"]
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    assert set(alerts) >= {
        "ReviewguardDegradedAnswers",
        "ReviewguardDrift",
        "ReviewguardServerErrors",
        "ReviewguardScoreLatencyP99",
    }
    assert "> 0.05" in alerts["ReviewguardDegradedAnswers"]["expr"]
    assert alerts["ReviewguardDegradedAnswers"]["for"] == "5m"
    for alert in alerts.values():
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"]
        assert set(RECORDED.findall(alert["expr"])) <= recorded


def test_dashboard_panels_are_well_formed() -> None:
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])

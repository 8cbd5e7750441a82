"""Monitoring over HTTP: drift report, statement of reasons, request ids and JSON logs."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.monitoring.profile import PROFILE_NAME
from tests.api.conftest import ClientFactory, review
from tests.integration.monitoring_helpers import toy_artifact_with_profile


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return toy_artifact_with_profile(tmp_path_factory.mktemp("api-monitoring"), n_reference=300)


@pytest.fixture(scope="module")
def unprofiled(profiled: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("no-profile") / "artifact"
    shutil.copytree(profiled, copy)
    (copy / PROFILE_NAME).unlink()
    return copy


def drift_until(client: TestClient, count: int, timeout_s: float = 5.0) -> dict[str, Any]:
    """The 1 h report once the pods' flushes have brought `count` answers to Redis."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get("/v1/monitoring/drift", params={"window": "1h"})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["quantities"]["risk"]["live_count"] >= count or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_drift_report_counts_live_answers_against_the_reference(
    make_client: ClientFactory, profiled: Path
) -> None:
    client = make_client(text_model_dir=profiled, monitoring_flush_s=0.05, drift_min_samples=5)
    for i in range(6):
        assert client.post("/v1/reviews/score", json=review(f"d-{i}")).status_code == 200
    # A replay of an answer already given is not counted again.
    assert client.post("/v1/reviews/score", json=review("d-0")).status_code == 200
    body = drift_until(client, 6)
    risk = body["quantities"]["risk"]
    assert risk["live_count"] == 6 and risk["reference_count"] > 250
    assert len(risk["reference"]) == len(risk["live"]) == len(risk["labels"])
    assert set(risk["methods"]) == {"psi", "jensenshannon", "wasserstein"}
    assert set(body["quantities"]["decision"]["methods"]) == {"psi", "jensenshannon"}
    assert body["reference"]["n_reviews"] > 250
    assert body["thresholds"]["psi"] == 0.1
    day = client.get("/v1/monitoring/drift", params={"window": "24h"}).json()
    assert day["quantities"]["risk"]["live_count"] == 6
    assert client.get("/v1/monitoring/drift", params={"window": "7d"}).status_code == 422


def test_drift_gauges_are_exported(make_client: ClientFactory, profiled: Path) -> None:
    client = make_client(text_model_dir=profiled, monitoring_flush_s=0.05, drift_refresh_s=0.05)
    client.post("/v1/reviews/score", json=review("g-1"))
    deadline = time.monotonic() + 5
    while 'reviewguard_drift{method="psi",quantity="risk",window="1h"}' not in (
        text := client.get("/metrics").text
    ):
        assert time.monotonic() < deadline, "no drift gauge"
        time.sleep(0.05)
    assert 'reviewguard_drift_detected{quantity="risk",window="24h"}' in text
    assert 'reviewguard_integrity_missing_total{field="account.email"} 1.0' in text


def test_without_a_reference_profile_drift_says_so(
    make_client: ClientFactory, unprofiled: Path
) -> None:
    client = make_client(text_model_dir=unprofiled)
    client.post("/v1/reviews/score", json=review("n-1"))
    response = client.get("/v1/monitoring/drift")
    assert response.status_code == 200
    body = response.json()
    assert body["reference"] is None and "model profile" in body["message"]
    assert body["drift_detected"] is False


def test_statement_of_reasons_of_a_decision(make_client: ClientFactory, profiled: Path) -> None:
    client = make_client(text_model_dir=profiled)
    ring = review(
        "s-1",
        account={"created_at": None, "username": "xq7zk93jf", "email": "a@mailinator.com"},
        device={"user_agent": "Mozilla/5.0 HeadlessChrome/120.0"},
    )
    verdict = client.post("/v1/reviews/score", json=ring).json()
    deadline = time.monotonic() + 5
    while (response := client.get("/v1/reviews/s-1/decision")).status_code == 404:
        assert time.monotonic() < deadline, "decision never audited"
        time.sleep(0.02)
    assert response.status_code == 200, response.text
    statement = response.json()
    assert statement["review_id"] == "s-1"
    assert statement["decision"] == verdict["decision"]
    assert statement["risk_score"] == verdict["risk_score"]
    assert statement["automated_means"]["used_for_decision"] is True
    assert statement["automated_means"]["model_version"] == verdict["model_version"]
    codes = [r["code"] for r in statement["contributions"]["reasons"]]
    assert codes == [r["code"] for r in verdict["reasons"]]
    assert "DEVICE_HEADLESS" in statement["contributions"]["raising_risk"]
    assert statement["contributions"]["by_group"]["device"] > 0
    assert any("headless" in fact for fact in statement["facts_and_circumstances"])
    assert statement["degraded"] is False and statement["redress"]
    missing = client.get("/v1/reviews/never-scored/decision")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_monitoring_switched_off(make_client: ClientFactory, profiled: Path) -> None:
    client = make_client(text_model_dir=profiled, monitoring_enabled=False)
    assert client.post("/v1/reviews/score", json=review("off-1")).status_code == 200
    assert client.get("/v1/monitoring/drift").status_code == 503
    assert client.get("/v1/reviews/off-1/decision").status_code == 503


def test_request_id_is_echoed_and_on_every_log_line(
    make_client: ClientFactory, profiled: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    client = make_client(text_model_dir=profiled)
    capfd.readouterr()
    given = client.post(
        "/v1/reviews/score", json=review("l-1"), headers={"X-Request-ID": "abc-123"}
    )
    assert given.headers["x-request-id"] == "abc-123"
    made = client.post("/v1/reviews/score", json=review("l-2"), headers={"X-Request-ID": "a b"})
    assert len(made.headers["x-request-id"]) == 32  # not a token: replaced by a generated one
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "reviewguard.access"]
    assert [a["request_id"] for a in access] == ["abc-123", made.headers["x-request-id"]]
    assert access[0]["route"] == "/v1/reviews/score" and access[0]["status"] == 200
    text = json.dumps(lines)
    body = review("l-1")
    for personal in (
        body["device"]["ip"],
        body["device"]["fingerprint"],
        body["account"]["username"],
        body["text"],
    ):
        assert personal not in text


def test_a_profile_of_another_model_version_is_not_used(
    make_client: ClientFactory, profiled: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "artifact"
    shutil.copytree(profiled, copy)
    data = json.loads((copy / PROFILE_NAME).read_text())
    data["meta"]["text_model_version"] = "text-0000000"
    (copy / PROFILE_NAME).write_text(json.dumps(data))
    body = make_client(text_model_dir=copy).get("/v1/monitoring/drift").json()
    assert body["reference"] is None

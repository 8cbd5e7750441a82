"""The whole app against a 3-node Redis Cluster: the same answers, nothing degraded."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from tests.api.conftest import review, settings_for

pytestmark = pytest.mark.cluster


def test_scoring_and_moderation_work_unchanged_on_a_cluster(redis_cluster_url: str) -> None:
    settings = settings_for(redis_cluster_url, redis_cluster=True, review_threshold=0.05)
    with TestClient(create_app(settings)) as client:
        answers = []
        for i in range(3):
            body = review(
                f"cl-{i}", account={"id": f"cl-account-{i}"}, submitted_at=f"2026-11-27T10:0{i}:00Z"
            )
            response = client.post("/v1/reviews/score", json=body)
            assert response.status_code == 200, response.text
            answers.append(response.json())
        assert not any(a["degraded"] for a in answers)
        shared = [r for r in answers[-1]["reasons"] if r["code"] == "DEVICE_SHARED"]
        assert shared and "used by 3 accounts in the last 24 h" in shared[0]["message"]

        again = client.post(
            "/v1/reviews/score",
            json=review(
                "cl-2", account={"id": "cl-account-2"}, submitted_at="2026-11-27T10:02:00Z"
            ),
        )
        assert again.json() == answers[-1]

        # The queue is written after the answer: give it a moment.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            queued = {
                item["review_id"] for item in client.get("/v1/moderation/queue").json()["items"]
            }
            if "cl-2" in queued:
                break
            time.sleep(0.05)
        assert "cl-2" in queued

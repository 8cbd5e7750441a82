"""POST /v1/reviews/score and its neighbours, against a real Redis and the real model artifacts."""

from __future__ import annotations

import gc
import json

import pytest
import redis
from fastapi.testclient import TestClient

from service import native
from service.main import DEFAULT_GC_THRESHOLDS, GC_THRESHOLDS
from tests.api.conftest import ClientFactory, review


def key_count(redis_url: str) -> int:
    with redis.Redis.from_url(redis_url) as r:
        return int(r.dbsize())


def test_answer_follows_the_contract(client: TestClient) -> None:
    response = client.post("/v1/reviews/score", json=review())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "review_id",
        "risk_score",
        "risk_level",
        "decision",
        "reasons",
        "model_version",
        "degraded",
    }
    assert body["review_id"] == "r-1"
    assert 0 <= body["risk_score"] <= 1
    assert body["risk_level"] in {"low", "medium", "high"}
    assert body["decision"] in {"allow", "review", "reject"}
    assert body["degraded"] is False
    assert body["model_version"].startswith("text-")
    contributions = [r["contribution"] for r in body["reasons"]]
    assert contributions == sorted(contributions, reverse=True)
    for reason in body["reasons"]:
        assert reason["code"].isupper() and reason["message"]


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "redis-py-pool"])
def test_same_review_id_gives_the_same_answer_and_counts_once(
    make_client: ClientFactory, pipelined: bool
) -> None:
    # Both ways to Redis: the scorer's pipelined connection (default) and redis-py's pool.
    client = make_client(redis_pipelined=pipelined)
    first = client.post("/v1/reviews/score", json=review("r-1")).json()
    again = client.post("/v1/reviews/score", json=review("r-1")).json()
    assert again == first
    # A second account on the same device sees exactly one earlier account, not two.
    other = client.post(
        "/v1/reviews/score",
        json=review("r-2", account={"id": "a-2"}, submitted_at="2026-11-27T10:05:00Z"),
    ).json()
    assert not any(
        r["code"] == "DEVICE_SHARED" and "3 accounts" in r["message"] for r in other["reasons"]
    )
    third = client.post(
        "/v1/reviews/score",
        json=review("r-3", account={"id": "a-3"}, submitted_at="2026-11-27T10:06:00Z"),
    ).json()
    shared = [r for r in third["reasons"] if r["code"] == "DEVICE_SHARED"]
    assert shared and "used by 3 accounts in the last 24 h" in shared[0]["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"review_id": ""}, "review_id"),
        ({"review_id": "x" * 129}, "review_id"),
        ({"rating": 6}, "rating"),
        ({"rating": 0}, "rating"),
        ({"rating": "5"}, "rating"),
        ({"rating": 4.5}, "rating"),
        ({"text": "x" * 20_001}, "text"),
        ({"submitted_at": "yesterday"}, "submitted_at"),
        ({"submitted_at": "2026-11-27T10:00:00"}, "submitted_at"),
        ({"account": {"id": ""}}, "account.id"),
        ({"account": {"created_at": "not a date"}}, "account.created_at"),
        ({"device": {"ip": "999.1.1.1"}}, "device.ip"),
        ({"product_id": None}, "product_id"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_records_nothing(
    client: TestClient, redis_url: str, change: dict[str, object], field: str
) -> None:
    before = key_count(redis_url)
    body = review()
    body.update(change)
    if "account" in change:
        body["account"] = {**review()["account"], **change["account"]}  # type: ignore[dict-item]
    if "device" in change:
        body["device"] = {**review()["device"], **change["device"]}  # type: ignore[dict-item]
    response = client.post("/v1/reviews/score", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in [f["field"] for f in error["fields"]]
    assert field in error["message"]
    assert key_count(redis_url) == before


def test_missing_required_fields_are_named(client: TestClient) -> None:
    response = client.post("/v1/reviews/score", json={"rating": 3})
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["error"]["fields"]}
    assert {"review_id", "product_id", "account"} <= fields


def test_not_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/reviews/score", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_empty_text_is_a_signal_and_absent_text_is_not(client: TestClient) -> None:
    empty = client.post("/v1/reviews/score", json=review("r-e", text="", rating=5)).json()
    absent = client.post(
        "/v1/reviews/score", json=review("r-n", text=None, rating=5, product_id="p-2")
    ).json()
    assert "RATING_WITHOUT_TEXT" in [r["code"] for r in empty["reasons"]]
    assert "RATING_WITHOUT_TEXT" not in [r["code"] for r in absent["reasons"]]
    assert "TEXT_MODEL" not in [r["code"] for r in absent["reasons"]]


def test_body_over_one_mebibyte_is_413_and_records_nothing(
    client: TestClient, redis_url: str
) -> None:
    before = key_count(redis_url)
    body = json.dumps(review(padding="x" * (1024 * 1024))).encode()
    response = client.post(
        "/v1/reviews/score", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert key_count(redis_url) == before


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> object:
        yield b'{"review_id": "r-1", "padding": "'
        for _ in range(300):
            yield b"x" * 4096
        yield b'"}'

    response = client.post(
        "/v1/reviews/score",
        content=chunks(),  # type: ignore[arg-type]
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


def test_batch_scores_in_order(client: TestClient) -> None:
    reviews = [
        review(f"b-{i}", account={"id": f"a-{i}"}, submitted_at=f"2026-11-27T10:0{i}:00Z")
        for i in range(5)
    ]
    response = client.post("/v1/reviews/score/batch", json={"reviews": reviews})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["review_id"] for r in results] == [f"b-{i}" for i in range(5)]
    # The fifth account on one device is told so: the batch went through the feature store.
    last = results[-1]
    assert any(
        r["code"] == "DEVICE_SHARED" and "5 accounts" in r["message"] for r in last["reasons"]
    )


def test_batch_over_the_limit_is_413(make_client: ClientFactory, redis_url: str) -> None:
    client = make_client(max_batch=3)
    before = key_count(redis_url)
    response = client.post(
        "/v1/reviews/score/batch", json={"reviews": [review(f"b-{i}") for i in range(4)]}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"
    assert key_count(redis_url) == before


def test_api_keys_fail_closed_and_touch_nothing(make_client: ClientFactory, redis_url: str) -> None:
    client = make_client(api_keys="key-one,key-two")
    before = key_count(redis_url)
    for headers in ({}, {"x-api-key": "wrong"}, {"authorization": "Bearer nope"}):
        response = client.post("/v1/reviews/score", json=review(), headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    invalid = client.post("/v1/reviews/score", json={"rating": 9}, headers={"x-api-key": "x"})
    assert invalid.status_code == 401  # authentication comes before anything else
    assert key_count(redis_url) == before
    ok = client.post("/v1/reviews/score", json=review(), headers={"x-api-key": "key-two"})
    assert ok.status_code == 200
    bearer = client.post(
        "/v1/reviews/score", json=review("r-2"), headers={"authorization": "Bearer key-one"}
    )
    assert bearer.status_code == 200
    assert client.get("/healthz").status_code == 200  # probes stay open


def test_probes_model_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model_version"].startswith("text-")
    model = client.get("/v1/model").json()
    assert model["model_version"] == ready["model_version"]
    assert model["text_model"]["version"] in model["model_version"]
    assert model["text_engine"] == "kernel"  # the default model is one the kernel runs
    # Which C accelerators run: every one shipped, unless not built or turned off.
    assert model["native"] == native.status() and set(model["native"]) >= {"simhash"}
    assert model["fusion"]["base_rate"] == pytest.approx(0.04)
    client.post("/v1/reviews/score", json=review())
    metrics = client.get("/metrics").text
    for name in (
        "reviewguard_request_duration_seconds_bucket",
        "reviewguard_decisions_total",
        "reviewguard_reasons_total",
        "reviewguard_degraded_total",
        "reviewguard_redis_errors_total",
        "reviewguard_model_info",
    ):
        assert name in metrics
    assert 'route="/v1/reviews/score"' in metrics


def test_settings_override_the_thresholds(make_client: ClientFactory) -> None:
    strict = make_client(review_threshold=0.01, reject_threshold=0.02)
    body = strict.post("/v1/reviews/score", json=review()).json()
    assert body["decision"] == "reject"
    assert body["risk_level"] == "high"


def test_start_up_objects_are_out_of_the_collectors_reach_until_shutdown(
    make_client: ClientFactory,
) -> None:
    # Full collections would otherwise walk the models and schemas with the loop stopped.
    gc.unfreeze()
    client = make_client()
    frozen = gc.get_freeze_count()
    assert frozen > 50_000  # the models, routes and schemas of a started app
    assert frozen > 2 * len(gc.get_objects(generation=2))
    assert client.post("/v1/reviews/score", json=review()).status_code == 200
    assert gc.get_threshold() == GC_THRESHOLDS  # and collections are rarer
    client.__exit__(None, None, None)
    assert gc.get_freeze_count() == 0  # closed: collectable again
    assert gc.get_threshold() == DEFAULT_GC_THRESHOLDS

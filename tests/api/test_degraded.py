"""Redis frozen, killed, restarted: every request still gets a 200 in budget, then recovers."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.api.conftest import ClientFactory, review
from tests.conftest import RedisServer

BUDGET_MS = 50.0
# Far below redis-py's defaults (seconds, with retries), far above the budget on a noisy machine.
GENEROUS_S = 1.0


def timed_score(client: TestClient, review_id: str) -> tuple[dict[str, object], float]:
    start = time.perf_counter()
    response = client.post("/v1/reviews/score", json=review(review_id))
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body, elapsed


def codes(body: dict[str, object]) -> list[str]:
    return [r["code"] for r in body["reasons"]]  # type: ignore[attr-defined, index]


def wait_until_not_degraded(client: TestClient, prefix: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    i = 0
    while time.monotonic() < deadline:
        body, _ = timed_score(client, f"{prefix}-{i}")
        if not body["degraded"]:
            return
        i += 1
        time.sleep(0.1)
    raise AssertionError("the service did not recover after Redis came back")


def test_frozen_redis_degrades_within_budget_and_recovers(
    make_client: ClientFactory, own_redis: RedisServer
) -> None:
    client = make_client(
        own_redis.url, redis_budget_ms=BUDGET_MS, breaker_failures=3, breaker_reset_s=0.3
    )
    body, _ = timed_score(client, "before")
    assert body["degraded"] is False
    with own_redis.frozen():
        for i in range(8):
            body, elapsed = timed_score(client, f"frozen-{i}")
            assert body["degraded"] is True
            assert "FEATURES_UNAVAILABLE" in codes(body)
            assert "TEXT_MODEL" in codes(body)  # the text model still speaks
            assert elapsed < GENEROUS_S
        metrics = client.get("/metrics").text
        assert 'reviewguard_redis_errors_total{kind="timeout"}' in metrics
        assert 'reviewguard_redis_errors_total{kind="circuit_open"}' in metrics
        assert "reviewguard_degraded_total 8.0" in metrics
    wait_until_not_degraded(client, "thawed")
    assert "reviewguard_redis_circuit_open 0.0" in client.get("/metrics").text


def test_killed_redis_degrades_and_a_restarted_one_is_used_again(
    make_client: ClientFactory, own_redis: RedisServer
) -> None:
    client = make_client(
        own_redis.url, redis_budget_ms=BUDGET_MS, breaker_failures=2, breaker_reset_s=0.2
    )
    assert timed_score(client, "before")[0]["degraded"] is False
    own_redis.stop()
    for i in range(5):
        body, elapsed = timed_score(client, f"dead-{i}")
        assert body["degraded"] is True
        assert elapsed < GENEROUS_S
    own_redis.start()  # same port, empty: the scripts must be loaded again
    wait_until_not_degraded(client, "back")


def test_the_circuit_gauge_is_1_while_calls_to_redis_are_stopped(
    make_client: ClientFactory, own_redis: RedisServer
) -> None:
    client = make_client(
        own_redis.url,
        redis_budget_ms=BUDGET_MS,
        breaker_failures=2,
        breaker_first_reset_s=60,
        breaker_reset_s=60,
    )
    assert timed_score(client, "before")[0]["degraded"] is False
    assert "reviewguard_redis_circuit_open 0.0" in client.get("/metrics").text
    own_redis.stop()
    for i in range(3):
        assert timed_score(client, f"dead-{i}")[0]["degraded"] is True
    assert "reviewguard_redis_circuit_open 1.0" in client.get("/metrics").text


def test_unreachable_redis_at_startup_still_serves(make_client: ClientFactory) -> None:
    client = make_client("redis://127.0.0.1:1/0", redis_budget_ms=BUDGET_MS)
    assert client.get("/readyz").status_code == 200
    body, elapsed = timed_score(client, "r-1")
    assert body["degraded"] is True and elapsed < GENEROUS_S


def test_after_one_stall_the_breaker_probes_redis_again_after_its_first_pause(
    make_client: ClientFactory, own_redis: RedisServer
) -> None:
    """One stall of Redis opens the breaker (every command in flight fails at once), but the
    service goes back to Redis after the short first pause, not after the longest one."""
    client = make_client(
        own_redis.url,
        redis_budget_ms=BUDGET_MS,
        breaker_failures=2,
        breaker_first_reset_s=0.2,
        breaker_reset_s=60,
    )
    assert timed_score(client, "before")[0]["degraded"] is False
    with own_redis.frozen():
        for i in range(3):
            assert timed_score(client, f"stalled-{i}")[0]["degraded"] is True
        assert "reviewguard_redis_circuit_open 1.0" in client.get("/metrics").text
    started = time.monotonic()
    wait_until_not_degraded(client, "after", timeout_s=5.0)
    assert time.monotonic() - started < 5.0  # with one fixed pause: 60 s
    assert "reviewguard_redis_circuit_open 0.0" in client.get("/metrics").text

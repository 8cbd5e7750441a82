"""The moderation HTTP edge over a real Redis: queue, claim, decision, feedback, precision, page."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, generate_latest

from service.moderation.queue import ModerationQueue
from tests.browser.moderation_app import build_app, serve
from tests.integration.test_moderation_queue import scored


def seed(redis_url: str, *reviews: tuple[str, float, str, tuple[str, ...], str]) -> None:
    async def go() -> None:
        async with aioredis.Redis.from_url(redis_url) as client:
            queue = ModerationQueue(client)
            for review_id, risk, decision, codes, product in reviews:
                await queue.record(
                    scored(review_id, risk, decision=decision, codes=codes, product_id=product)
                )

    asyncio.run(go())


@pytest.fixture
def linked() -> list[str]:
    return []


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(
    redis_url: str, linked: list[str], registry: CollectorRegistry
) -> Iterator[httpx.Client]:
    with redis.Redis.from_url(redis_url) as r:
        r.flushdb()
    seed(
        redis_url,
        ("r-1", 0.95, "reject", ("DEVICE_SHARED", "ACCOUNT_NEW"), "p-1"),
        ("r-2", 0.70, "review", ("ACCOUNT_NEW",), "p-2"),
        ("r-3", 0.85, "review", ("TEXT_MODEL",), "p-1"),
        ("r-4", 0.10, "allow", ("TEXT_MODEL",), "p-1"),
    )

    async def link(review_id: str) -> bool:
        linked.append(review_id)
        return True

    app = build_app(redis_url, lease_s=0.5, on_confirmed_fake=link, registry=registry)
    with serve(app) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


def ids(response_json: dict[str, object]) -> list[str]:
    items = response_json["items"]
    assert isinstance(items, list)
    return [item["review_id"] for item in items]


def test_queue_lists_highest_risk_first_with_reasons_and_text(client: httpx.Client) -> None:
    response = client.get("/v1/moderation/queue")
    assert response.status_code == 200
    body = response.json()
    assert ids(body) == ["r-1", "r-3", "r-2"]
    top = body["items"][0]
    assert top["risk_score"] == 0.95 and top["decision"] == "reject"
    assert [r["code"] for r in top["reasons"]] == ["DEVICE_SHARED", "ACCOUNT_NEW"]
    assert top["reasons"][0]["message"] == "device_shared triggered"
    assert top["text"] == "Amazing!!! Best purchase ever!!!"
    assert top["claim"] is None
    assert body["next_cursor"] is None
    assert abs(body["server_time"] - time.time()) < 5


def test_filters_and_paging(client: httpx.Client) -> None:
    assert ids(client.get("/v1/moderation/queue", params={"product_id": "p-1"}).json()) == [
        "r-1",
        "r-3",
    ]
    assert ids(client.get("/v1/moderation/queue", params={"reason": "ACCOUNT_NEW"}).json()) == [
        "r-1",
        "r-2",
    ]
    assert ids(client.get("/v1/moderation/queue", params={"min_risk": 0.8}).json()) == [
        "r-1",
        "r-3",
    ]
    first = client.get("/v1/moderation/queue", params={"limit": 2}).json()
    assert ids(first) == ["r-1", "r-3"] and first["next_cursor"]
    rest = client.get(
        "/v1/moderation/queue", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert ids(rest) == ["r-2"] and rest["next_cursor"] is None
    bad = client.get("/v1/moderation/queue", params={"cursor": "garbage"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    assert client.get("/v1/moderation/queue", params={"min_risk": 2}).status_code == 422


def test_claim_decide_and_what_it_changes(client: httpx.Client, linked: list[str]) -> None:
    claim = client.post("/v1/moderation/queue/r-1/claim", json={"moderator_id": "alice"})
    assert claim.status_code == 200 and claim.json()["moderator_id"] == "alice"
    listed = client.get("/v1/moderation/queue").json()["items"][0]
    assert listed["claim"]["moderator_id"] == "alice"
    taken = client.post("/v1/moderation/queue/r-1/claim", json={"moderator_id": "bob"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_claimed"

    decision = client.post(
        "/v1/moderation/queue/r-1/decision",
        json={"verdict": "fake", "moderator_id": "alice", "note": "device ring"},
    )
    assert decision.status_code == 200
    assert decision.json()["recorded"] is True and decision.json()["linked_to_fraud"] is True
    assert linked == ["r-1"]
    assert ids(client.get("/v1/moderation/queue").json()) == ["r-3", "r-2"]
    repeat = client.post(
        "/v1/moderation/queue/r-1/decision", json={"verdict": "fake", "moderator_id": "alice"}
    )
    assert repeat.status_code == 200 and repeat.json()["recorded"] is False
    conflict = client.post(
        "/v1/moderation/queue/r-1/decision", json={"verdict": "genuine", "moderator_id": "bob"}
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "verdict_conflict"

    precision = client.get("/v1/moderation/precision").json()
    by_code = {r["code"]: r for r in precision["reasons"]}
    assert by_code["DEVICE_SHARED"] == {
        "code": "DEVICE_SHARED",
        "decided": 1,
        "fake": 1,
        "precision": 1.0,
    }
    assert precision["overall"]["decided"] == 1


def test_abandoned_claim_returns_after_its_lease(client: httpx.Client) -> None:
    client.post("/v1/moderation/queue/r-3/claim", json={"moderator_id": "alice"})
    unclaimed = client.get("/v1/moderation/queue", params={"include_claimed": "false"}).json()
    assert ids(unclaimed) == ["r-1", "r-2"]
    time.sleep(0.6)
    unclaimed = client.get("/v1/moderation/queue", params={"include_claimed": "false"}).json()
    assert ids(unclaimed) == ["r-1", "r-3", "r-2"]
    bob = client.post("/v1/moderation/queue/r-3/claim", json={"moderator_id": "bob"})
    assert bob.status_code == 200
    release = client.post("/v1/moderation/queue/r-3/release", json={"moderator_id": "bob"})
    assert release.status_code == 204


def test_feedback_on_a_review_that_never_queued(
    client: httpx.Client, linked: list[str], registry: CollectorRegistry
) -> None:
    response = client.post(
        "/v1/feedback", json={"review_id": "r-4", "verdict": "fake", "source": "chargeback"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "chargeback" and body["recorded"] is True
    assert linked == ["r-4"]
    missing = client.post(
        "/v1/feedback", json={"review_id": "r-404", "verdict": "fake", "source": "chargeback"}
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "review_not_found"
    metrics = generate_latest(registry).decode()
    assert 'reviewguard_reason_precision{code="TEXT_MODEL"} 1.0' in metrics


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/moderation/queue/r-1/decision", {"verdict": "maybe", "moderator_id": "a"}),
        ("/v1/moderation/queue/r-1/decision", {"verdict": "fake"}),
        ("/v1/moderation/queue/r-1/decision", {"verdict": "fake", "moderator_id": ""}),
        ("/v1/moderation/queue/r-1/claim", {"moderator_id": "a", "extra": 1}),
        ("/v1/feedback", {"review_id": "r-1", "verdict": "fake"}),
        ("/v1/feedback", {"review_id": "x" * 129, "verdict": "fake", "source": "s"}),
    ],
)
def test_malformed_requests_are_refused_and_change_nothing(
    client: httpx.Client, path: str, body: dict[str, object]
) -> None:
    assert client.post(path, json=body).status_code == 422
    assert client.get("/v1/moderation/precision").json()["overall"]["decided"] == 0
    assert len(ids(client.get("/v1/moderation/queue").json())) == 3


def test_unknown_review_in_the_queue_is_404(client: httpx.Client) -> None:
    for action, body in [
        ("claim", {"moderator_id": "a"}),
        ("decision", {"verdict": "fake", "moderator_id": "a"}),
    ]:
        response = client.post(f"/v1/moderation/queue/r-404/{action}", json=body)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_in_queue"


def test_the_page_is_served(client: httpx.Client) -> None:
    response = client.get("/moderation")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/v1/moderation/queue" in response.text

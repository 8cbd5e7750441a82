"""The whole app over a real Redis and the committed model artifacts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

TEST_HMAC_KEY = "test-hmac-key"

ClientFactory = Callable[..., TestClient]


def settings_for(redis_url: str, **overrides: Any) -> Settings:
    return Settings(redis_url=redis_url, hmac_key=TEST_HMAC_KEY, **overrides)


@pytest.fixture
def make_client(redis_url: str) -> Iterator[ClientFactory]:
    """Builds a started app (lifespan run) with settings overrides; all are closed afterwards."""
    with redis.Redis.from_url(redis_url) as r:
        r.flushdb()
    opened: list[TestClient] = []

    def make(url: str | None = None, **overrides: Any) -> TestClient:
        client = TestClient(create_app(settings_for(url or redis_url, **overrides)))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()


STORY_NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def at(delta: timedelta) -> str:
    """An RFC 3339 time `delta` after the stories' fixed now."""
    return (STORY_NOW + delta).isoformat().replace("+00:00", "Z")


def score(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/reviews/score", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def review(review_id: str = "r-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "review_id": review_id,
        "product_id": "p-1",
        "rating": 4,
        "text": "Solid kettle. Boils fast, the handle stays cool, lid is a bit stiff.",
        "submitted_at": "2026-11-27T10:00:00Z",
        "account": {"id": "a-1", "created_at": "2024-01-05T12:00:00Z", "username": "maria"},
        "device": {
            "fingerprint": "fp-usual",
            "ip": "198.51.100.7",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
            "accept_language": "en-US",
            "timezone": "America/Chicago",
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body

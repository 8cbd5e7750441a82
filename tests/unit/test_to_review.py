"""routes.to_review builds the Review its reference builds through the dataclasses' constructors."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bench.gen_reviews import generate
from service.api.routes import (
    ACCOUNT_FIELDS,
    DEVICE_FIELDS,
    REVIEW_FIELDS,
    reference_to_review,
    to_review,
)
from service.api.schemas import ReviewIn
from service.scoring.review import Account, Device, Review


def test_every_field_is_set() -> None:
    for cls, names in ((Account, ACCOUNT_FIELDS), (Device, DEVICE_FIELDS), (Review, REVIEW_FIELDS)):
        assert sorted(names) == sorted(f.name for f in dataclasses.fields(cls))


def _bodies() -> list[dict[str, Any]]:
    bodies = generate(600, seed=11)
    for i, body in enumerate(bodies):
        body["review_id"] = f"r-{i}"
    full = {
        "review_id": "r-full",
        "product_id": "p-1",
        "rating": 5,
        "submitted_at": "2026-11-27T10:41:07Z",
        "text": "Fine.",
        "account": {
            "id": "a-1",
            "created_at": "2026-11-27T09:58:00+01:00",
            "username": "kim",
            "email": "kim@example.org",
        },
        "device": {
            "fingerprint": "fp",
            "ip": "2001:db8::1",
            "user_agent": "ua",
            "accept_language": "en",
            "timezone": "Europe/Paris",
            "screen": "1920x1080",
        },
    }
    bare = {"review_id": "r-bare", "product_id": "p-2", "rating": 1, "account": {"id": "a-2"}}
    return [*bodies, full, bare]


@pytest.mark.parametrize("now_s", [0.0, 1_790_000_000.5])
def test_to_review_is_the_reference(now_s: float) -> None:
    kinds = set()
    for body in _bodies():
        parsed = ReviewIn.model_validate(body)
        got, expected = to_review(parsed, now_s), reference_to_review(parsed, now_s)
        assert got == expected
        assert repr(got) == repr(expected)
        assert hash(got) == hash(expected)
        kinds.add((got.device.ip is None, got.account.created_at is None, got.text is None))
    # (no IP, no creation time, no text); the stream's bodies all have an IP and a creation time
    assert {(False, False, False), (False, False, True), (True, True, True)} <= kinds


def test_the_review_stays_frozen() -> None:
    review = to_review(ReviewIn.model_validate(_bodies()[-1]), 5.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        review.rating = 2  # type: ignore[misc]

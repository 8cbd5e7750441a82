"""A story: a ring of new accounts floods one product from one device; a regular stays low."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import at, review, score


def codes(answer: dict[str, Any]) -> set[str]:
    return {r["code"] for r in answer["reasons"]}


def seed_history(client: TestClient) -> None:
    """Three weeks of ordinary life: the product's usual trickle, and Maria's habits."""
    for day in range(21, 1, -2):
        score(
            client,
            review(
                f"hist-p-{day}",
                product_id="p-kettle",
                rating=4,
                submitted_at=at(-timedelta(days=day)),
                text="Does the job. Heats quickly, the lid could close more firmly.",
                account={
                    "id": f"regular-{day}",
                    "created_at": "2023-03-01T00:00:00Z",
                    "username": f"shopper{day}",
                },
                device={"fingerprint": f"fp-regular-{day}", "ip": f"198.51.100.{day}"},
            ),
        )
    for day in range(20, 0, -3):
        score(
            client,
            review(
                f"hist-maria-{day}",
                product_id=f"p-other-{day}",
                rating=4,
                submitted_at=at(-timedelta(days=day, hours=3)),
                text="Arrived on time and works as described. Packaging was a bit excessive.",
                account={"id": "maria", "created_at": "2022-06-01T00:00:00Z", "username": "maria"},
                device={"fingerprint": "fp-maria", "ip": "203.0.113.20"},
            ),
        )


def test_a_review_ring_is_caught_while_a_regular_is_not(client: TestClient) -> None:
    seed_history(client)
    ring_text = "Amazing kettle!!! Best purchase ever, highly recommend to everyone!!!"
    risks = []
    answers = []
    for i in range(8):
        answer = score(
            client,
            review(
                f"ring-{i}",
                product_id="p-kettle",
                rating=5,
                text=ring_text,
                submitted_at=at(timedelta(minutes=7 * i)),
                account={
                    "id": f"ring-account-{i}",
                    "created_at": at(timedelta(minutes=7 * i - 20)),
                    "username": f"user{48213 + i * 7919}",
                },
                device={"fingerprint": "fp-ring", "ip": f"203.0.113.{100 + i}"},
            ),
        )
        answers.append(answer)
        risks.append(answer["risk_score"])

    # The risk rises review by review ...
    assert all(b >= a for a, b in itertools.pairwise(risks)), risks
    assert risks[-1] - risks[0] > 0.3, risks
    # ... and the last answers say why: one device, its velocity, the product's burst.
    for answer in answers[-2:]:
        assert {"DEVICE_SHARED", "VELOCITY_DEVICE", "PRODUCT_BURST"} <= codes(answer), answer
        assert answer["decision"] in {"review", "reject"}
        shared = next(r for r in answer["reasons"] if r["code"] == "DEVICE_SHARED")
        assert "accounts in the last 24 h" in shared["message"]
    assert "used by 8 accounts" in next(
        r["message"] for r in answers[-1]["reasons"] if r["code"] == "DEVICE_SHARED"
    )

    # Maria, a customer of long standing, reviews from her usual device: low and allowed.
    regular = score(
        client,
        review(
            "maria-today",
            product_id="p-toaster",
            rating=4,
            submitted_at=at(timedelta(minutes=30)),
            text="Toasts evenly on both sides. The crumb tray is small but easy to empty.",
            account={"id": "maria", "created_at": "2022-06-01T00:00:00Z", "username": "maria"},
            device={"fingerprint": "fp-maria", "ip": "203.0.113.20"},
        ),
    )
    assert regular["risk_level"] == "low" and regular["decision"] == "allow", regular
    assert regular["risk_score"] < risks[0]
    assert not codes(regular) & {"DEVICE_SHARED", "VELOCITY_DEVICE", "PRODUCT_BURST", "ACCOUNT_NEW"}

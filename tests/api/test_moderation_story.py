"""A story through the whole service: a ring fills the queue, a moderator confirms one review
fake, and the ring's device now scores higher; an abandoned claim comes back after its lease."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import ClientFactory, at, review, score

LEASE_S = 1.0


def queue_ids(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/v1/moderation/queue", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return [item["review_id"] for item in response.json()["items"]]


def wait_for_queue(client: TestClient, expected: set[str], timeout_s: float = 10.0) -> list[str]:
    """The queue is written after the answer, in the background: wait for it (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        ids = queue_ids(client)
        if set(ids) >= expected or time.monotonic() > deadline:
            return ids
        time.sleep(0.05)


def ring_review(i: int) -> dict[str, Any]:
    return review(
        f"ring-{i}",
        product_id="p-kettle",
        rating=5,
        text="Amazing kettle!!! Best purchase ever, highly recommend to everyone!!!",
        submitted_at=at(timedelta(minutes=6 * i)),
        account={
            "id": f"ring-account-{i}",
            "created_at": at(timedelta(minutes=6 * i - 25)),
            "username": f"user{48213 + i * 7919}",
        },
        device={"fingerprint": "fp-ring", "ip": f"203.0.113.{100 + i}"},
    )


def probe(name: str, minutes: int, product_id: str) -> dict[str, Any]:
    """An unremarkable review two days after the ring, from the ring's device and network, by an
    account of long standing (the same for every probe, so that only the verdict differs)."""
    return review(
        name,
        product_id=product_id,
        rating=4,
        text="Toasts evenly on both sides. The crumb tray is small but easy to empty.",
        submitted_at=at(timedelta(days=2, minutes=minutes)),
        account={"id": "a-probe", "created_at": "2024-02-01T00:00:00Z", "username": "tomasz"},
        device={"fingerprint": "fp-ring", "ip": "203.0.113.200"},
    )


def reason(answer: dict[str, Any], code: str) -> dict[str, Any] | None:
    return next((r for r in answer["reasons"] if r["code"] == code), None)


def test_ring_to_queue_to_verdict_to_higher_score(make_client: ClientFactory) -> None:
    client = make_client(moderation_lease_s=LEASE_S)

    # 1. A ring of fresh accounts posts from one device: the later reviews go to people.
    answers = [score(client, ring_review(i)) for i in range(8)]
    queued = {a["review_id"] for a in answers if a["decision"] in {"review", "reject"}}
    assert len(queued) >= 3, [(a["risk_score"], a["decision"]) for a in answers]
    ids = wait_for_queue(client, queued)
    assert set(ids) == queued

    # Highest risk first, each with the reasons that put it there.
    page = client.get("/v1/moderation/queue").json()["items"]
    risks = [item["risk_score"] for item in page]
    assert risks == sorted(risks, reverse=True)
    top = page[0]
    assert top["risk_score"] == max(a["risk_score"] for a in answers)
    assert {"DEVICE_SHARED"} <= {r["code"] for r in top["reasons"]}
    assert top["text"].startswith("Amazing kettle")

    # 2. The submission flow retries one review: same answer, still exactly one queue entry.
    retried = score(client, ring_review(7))
    assert retried == answers[7]
    time.sleep(0.2)
    assert sorted(queue_ids(client)) == sorted(ids)

    # 3. Before any verdict, an ordinary review from the ring's device.
    before = score(client, probe("probe-before", 0, "p-toaster"))
    assert reason(before, "LINKED_TO_CONFIRMED_FRAUD") is None

    # 4. A moderator claims the top item and confirms it fake.
    claim = client.post(
        f"/v1/moderation/queue/{top['review_id']}/claim", json={"moderator_id": "alice"}
    )
    assert claim.status_code == 200, claim.text
    decision = client.post(
        f"/v1/moderation/queue/{top['review_id']}/decision",
        json={"verdict": "fake", "moderator_id": "alice", "note": "one device, eight accounts"},
    )
    assert decision.status_code == 200, decision.text
    assert decision.json()["linked_to_fraud"] is True
    assert top["review_id"] not in queue_ids(client)

    # 5. The same kind of review from that device now scores higher, and says why.
    after = score(client, probe("probe-after", 10, "p-toaster-xl"))
    linked = reason(after, "LINKED_TO_CONFIRMED_FRAUD")
    assert linked is not None, after
    assert "device" in linked["message"] and linked["contribution"] > 0
    assert after["risk_score"] > before["risk_score"], (before, after)
    # The link is what moved it: the other terms moved less between the two probes.
    others_after = sum(r["contribution"] for r in after["reasons"] if r is not linked)
    others_before = sum(r["contribution"] for r in before["reasons"])
    assert linked["contribution"] > others_after - others_before

    # 6. Another moderator claims the next item and walks away: it comes back after the lease.
    next_id = queue_ids(client)[0]
    bob = client.post(f"/v1/moderation/queue/{next_id}/claim", json={"moderator_id": "bob"})
    assert bob.status_code == 200
    assert next_id not in queue_ids(client, include_claimed="false")
    taken = client.post(f"/v1/moderation/queue/{next_id}/claim", json={"moderator_id": "alice"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_claimed"
    time.sleep(LEASE_S + 0.2)
    assert queue_ids(client, include_claimed="false")[0] == next_id
    again = client.post(f"/v1/moderation/queue/{next_id}/claim", json={"moderator_id": "alice"})
    assert again.status_code == 200

    # 7. Feedback on a review that never queued; precision per reason from the verdicts.
    appeal = client.post(
        "/v1/feedback",
        json={"review_id": "probe-before", "verdict": "genuine", "source": "appeal"},
    )
    assert appeal.status_code == 200, appeal.text
    precision = client.get("/v1/moderation/precision").json()
    assert (precision["overall"]["decided"], precision["overall"]["fake"]) == (2, 1)
    by_code = {r["code"]: r for r in precision["reasons"]}
    assert by_code["DEVICE_SHARED"]["fake"] >= 1
    metrics = client.get("/metrics").text
    assert 'reviewguard_reason_precision{code="*"} 0.5' in metrics

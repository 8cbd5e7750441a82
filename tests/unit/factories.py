"""Builders of pure values for tests: a quiet, ordinary review's features, overridden per test."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from service.scorer import Verdict
from service.scoring.features import Features
from service.scoring.fusion import Reason

QUIET: dict[str, Any] = {
    "account_age_s": 400 * 86400.0,
    "is_account_age_from_first_seen": False,
    "account_reviews_before": 12,
    "account_reviews_1h": 1,
    "account_reviews_24h": 1,
    "account_reviews_7d": 1,
    "is_first_review": False,
    "account_product_reviews_before": 0,
    "account_mean_rating_before": 3.9,
    "account_extreme_share_before": 0.3,
    "account_rating_deviation_before": 1.0,
    "is_disposable_email": False,
    "username_dubiousness": 0.0,
    "has_device": True,
    "has_fingerprint": True,
    "device_accounts_24h": 1,
    "device_accounts_30d": 1,
    "device_reviews_1h": 1,
    "device_reviews_24h": 1,
    "is_headless": False,
    "is_inconsistent_device": False,
    "has_ip": True,
    "ip_accounts_1h": 1,
    "ip_accounts_24h": 1,
    "ip_reviews_1h": 1,
    "ip_reviews_24h": 1,
    "net_accounts_1h": 1,
    "net_accounts_24h": 1,
    "net_reviews_1h": 1,
    "net_reviews_24h": 1,
    "product_reviews_before": 40,
    "product_reviews_1h": 1,
    "product_reviews_24h": 2,
    "product_usual_per_24h": 1.5,
    "product_burst_ratio": 0.8,
    "burst_extreme_share": 0.5,
    "product_mean_rating_before": 4.0,
    "rating_deviation": 0.0,
    "is_extreme_rating": False,
    "has_text": True,
    "is_rating_without_text": False,
    "duplicate_accounts_7d": 0,
    "linked_device": False,
    "linked_ip": False,
    "linked_account": False,
}


def features(**overrides: Any) -> Features:
    unknown = set(overrides) - set(QUIET)
    assert not unknown, f"unknown feature names: {unknown}"
    return Features(**{**QUIET, **overrides})


# Verdicts of any shape, non-finite contributions and scores included (orjson writes them null).
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-5, 5))
VERDICTS = st.builds(
    Verdict,
    review_id=st.text(max_size=20),
    risk_score=FLOATS,
    risk_level=st.sampled_from(["low", "medium", "high"]),
    decision=st.sampled_from(["allow", "review", "reject"]),
    reasons=st.lists(
        st.builds(Reason, code=st.text(max_size=12), message=st.text(), contribution=FLOATS),
        max_size=6,
    ).map(tuple),
    model_version=st.text(max_size=20),
    degraded=st.booleans(),
)


def answer_fields(verdict: Verdict) -> dict[str, Any]:
    """The answer field by field, as the HTTP contract lists it."""
    return {
        "review_id": verdict.review_id,
        "risk_score": verdict.risk_score,
        "risk_level": verdict.risk_level,
        "decision": verdict.decision,
        "reasons": [
            {"code": r.code, "message": r.message, "contribution": r.contribution}
            for r in verdict.reasons
        ],
        "model_version": verdict.model_version,
        "degraded": verdict.degraded,
    }

"""Fusion: the risk is the prior plus the reasons' contributions, and each reason says why."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.scoring.behaviour import BehaviourModel
from service.scoring.fusion import (
    GROUP_OF,
    FusionConfig,
    PriorWeights,
    Reason,
    assess,
    cap,
    logit,
    sigmoid,
)
from tests.unit.factories import features

CONFIG = FusionConfig()


def risk_of(**kwargs: object) -> float:
    base = {
        "text": None,
        "text_probability": None,
        "text_prior": 0.5,
        "features": features(),
        "behaviour": None,
        "config": CONFIG,
    }
    return assess(**{**base, **kwargs}).risk_score  # type: ignore[arg-type]


def behaviour_model() -> BehaviourModel:
    return BehaviourModel.from_dict(
        {
            "version": "behaviour-test",
            "base_rate": 0.13,
            "offset": 0.1,
            "features": [
                {
                    "name": "account_reviews_before",
                    "group": "ACCOUNT_HISTORY",
                    "edges": [0.5, 3.5],
                    "weights": [1.0, 0.0, -1.5],
                    "missing_weight": 0.0,
                    "center": -0.2,
                },
                {
                    "name": "product_burst_ratio",
                    "group": "PRODUCT_PATTERN",
                    "edges": [2.0],
                    "weights": [0.0, 0.8],
                    "missing_weight": 0.0,
                    "center": 0.1,
                },
            ],
        }
    )


def test_a_quiet_review_scores_the_base_rate() -> None:
    a = assess(
        text=None,
        text_probability=None,
        text_prior=0.5,
        features=features(),
        behaviour=None,
        config=CONFIG,
    )
    assert a.risk_score == pytest.approx(CONFIG.base_rate, abs=1e-4)
    assert a.decision == "allow" and a.risk_level == "low" and a.reasons == ()
    assert not a.degraded


def test_contributions_add_up_to_the_risk() -> None:
    f = features(
        device_accounts_24h=7,
        device_accounts_30d=9,
        is_disposable_email=True,
        account_reviews_before=0,
        is_first_review=True,
        product_burst_ratio=4.0,
    )
    model = behaviour_model()
    a = assess(
        text="Great product, works as described.",
        text_probability=0.8,
        text_prior=0.5,
        features=f,
        behaviour=model,
        config=FusionConfig(min_reason=0.0),
    )
    total = logit(CONFIG.base_rate) + model.offset + sum(r.contribution for r in a.reasons)
    assert a.risk_score == pytest.approx(sigmoid(total), abs=1e-3)
    codes = [r.code for r in a.reasons]
    assert {
        "DEVICE_SHARED",
        "ACCOUNT_DISPOSABLE_EMAIL",
        "TEXT_MODEL",
        "ACCOUNT_FIRST_REVIEW",
        "PRODUCT_PATTERN",
    } <= set(codes)
    contributions = [r.contribution for r in a.reasons]
    assert contributions == sorted(contributions, reverse=True)


def test_reason_messages_carry_the_numbers() -> None:
    a = assess(
        text=None,
        text_probability=None,
        text_prior=0.5,
        features=features(device_accounts_24h=7, device_accounts_30d=9),
        behaviour=None,
        config=CONFIG,
    )
    (reason,) = a.reasons
    assert reason.code == "DEVICE_SHARED"
    assert "7 accounts in the last 24 h" in reason.message
    assert reason.contribution == pytest.approx(PriorWeights().device_shared * math.log2(7), 1e-3)


def test_more_accounts_on_a_device_means_more_risk() -> None:
    risks = [
        risk_of(features=features(device_accounts_24h=n, device_accounts_30d=n))
        for n in (1, 2, 4, 8)
    ]
    assert risks == sorted(risks) and risks[0] < risks[-1]


def test_text_model_llr_is_relative_to_its_training_prior() -> None:
    # A text score equal to the training prior carries no evidence either way.
    assert risk_of(text="Fine.", text_probability=0.5) == pytest.approx(CONFIG.base_rate, abs=1e-4)
    assert risk_of(text="Fine.", text_probability=0.9) > CONFIG.base_rate
    assert risk_of(text="Fine.", text_probability=0.1) < CONFIG.base_rate


def test_each_group_is_capped() -> None:
    f = features(
        device_accounts_24h=500,
        device_reviews_1h=400,
        device_reviews_24h=900,
        ip_accounts_24h=300,
        ip_reviews_1h=300,
        duplicate_accounts_7d=50,
        linked_device=True,
        linked_account=True,
        is_disposable_email=True,
        is_headless=True,
    )
    a = assess(
        text=None, text_probability=None, text_prior=0.5, features=f, behaviour=None, config=CONFIG
    )
    totals: dict[str, float] = {}
    for r in a.reasons:
        group = GROUP_OF.get(r.code, r.code)
        totals[group] = totals.get(group, 0.0) + r.contribution
    assert all(total <= CONFIG.group_cap + 0.01 for total in totals.values()), totals
    assert totals["device"] == pytest.approx(CONFIG.group_cap, abs=0.01)
    assert totals["network"] == pytest.approx(CONFIG.group_cap, abs=0.01)


@given(st.lists(st.floats(-5, 5), min_size=1, max_size=8), st.floats(0.1, 5))
def test_cap_bounds_the_total_and_keeps_shares(values: list[float], limit: float) -> None:
    terms = [Reason(f"C{i}", "", v) for i, v in enumerate(values)]
    capped = cap(terms, limit)
    total = sum(t.contribution for t in capped)
    assert abs(total) <= limit + 1e-9
    if abs(sum(values)) <= limit:
        assert [t.contribution for t in capped] == values


def test_without_features_the_answer_is_degraded_and_says_why() -> None:
    a = assess(
        text="Great!",
        text_probability=0.7,
        text_prior=0.5,
        features=None,
        behaviour=behaviour_model(),
        config=CONFIG,
        missing="Redis slower than 50 ms",
    )
    assert a.degraded
    assert a.reasons[-1].code == "FEATURES_UNAVAILABLE"
    assert "Redis slower than 50 ms" in a.reasons[-1].message
    assert a.risk_score == pytest.approx(sigmoid(logit(CONFIG.base_rate) + logit(0.7)), abs=1e-3)


def test_thresholds_decide() -> None:
    config = FusionConfig(review_threshold=0.3, reject_threshold=0.6)
    f = features(device_accounts_24h=64, linked_device=True)
    a = assess(
        text=None, text_probability=None, text_prior=0.5, features=f, behaviour=None, config=config
    )
    assert a.risk_score >= 0.3
    assert a.decision == ("reject" if a.risk_score >= 0.6 else "review")
    assert a.risk_level == "high"


def test_established_account_lowers_risk_and_says_so() -> None:
    model = behaviour_model()
    a = assess(
        text=None,
        text_probability=None,
        text_prior=0.5,
        features=features(account_reviews_before=40),
        behaviour=model,
        config=CONFIG,
    )
    established = [r for r in a.reasons if r.code == "ACCOUNT_ESTABLISHED"]
    assert established and established[0].contribution < 0
    assert "40 earlier reviews" in established[0].message


def test_excessive_punctuation_is_noticed() -> None:
    a = assess(
        text="Amazing!!! Best purchase ever!!! Highly recommend!!! :)",
        text_probability=None,
        text_prior=0.5,
        features=features(),
        behaviour=None,
        config=CONFIG,
    )
    codes = {r.code for r in a.reasons}
    assert "TEXT_EXCESSIVE_PUNCTUATION" in codes and "TEXT_EXTREME" in codes


def test_behaviour_model_rejects_unknown_features() -> None:
    with pytest.raises(ValueError, match="unknown features"):
        BehaviourModel.from_dict(
            {
                "version": "x",
                "base_rate": 0.1,
                "offset": 0,
                "features": [
                    {
                        "name": "no_such",
                        "group": "G",
                        "edges": [],
                        "weights": [0.0],
                        "missing_weight": 0.0,
                        "center": 0.0,
                    }
                ],
            }
        )


def test_a_product_flood_is_a_burst_and_a_busy_day_alone_is_not() -> None:
    flood = features(
        product_reviews_1h=8,
        product_reviews_24h=9,
        product_usual_per_24h=0.5,
        product_burst_ratio=6.0,
        burst_extreme_share=1.0,
    )
    busy = features(
        product_reviews_1h=2,
        product_reviews_24h=9,
        product_usual_per_24h=8.0,
        product_burst_ratio=1.0,
    )
    flood_codes = {
        r.code
        for r in assess(
            text=None,
            text_probability=None,
            text_prior=0.5,
            features=flood,
            behaviour=None,
            config=CONFIG,
        ).reasons
    }
    busy_codes = {
        r.code
        for r in assess(
            text=None,
            text_probability=None,
            text_prior=0.5,
            features=busy,
            behaviour=None,
            config=CONFIG,
        ).reasons
    }
    assert "PRODUCT_BURST" in flood_codes
    assert "PRODUCT_BURST" not in busy_codes


def test_fast_built_reasons_and_assessments_are_the_dataclasses() -> None:
    from service.scoring.fusion import Assessment, _assessment, _reason

    r = _reason("TEXT_MODEL", "m", 1.5)
    assert r == Reason("TEXT_MODEL", "m", 1.5) and hash(r) == hash(Reason("TEXT_MODEL", "m", 1.5))
    assert repr(r) == repr(Reason("TEXT_MODEL", "m", 1.5))
    a = _assessment(0.5, "high", "review", (r,), False)
    assert a == Assessment(0.5, "high", "review", (r,), False)
    with pytest.raises(AttributeError):
        r.code = "X"  # type: ignore[misc]

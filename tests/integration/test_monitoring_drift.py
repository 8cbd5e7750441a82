"""Drift end to end: reviews scored the real way, live counts in Redis, a report per quantity.

The reference profile comes from `model profile` on ordinary texts with the synthetic ordinary
behaviour stream. A second stream drawn the same way flags nothing; a ring attack (new accounts on
a few shared headless devices) moves the fused risk, the decisions and the device/identity
contributions but not the text quantities; texts of another kind move the text descriptors but not
the device/network/identity contributions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from model.profile import synthetic_reviews
from service.features.store import FeatureStore
from service.main import fusion_config
from service.monitoring.drift import Thresholds
from service.monitoring.live import LiveProfile, LiveStore, Monitor
from service.monitoring.metrics import MonitoringMetrics
from service.monitoring.profile import ReferenceProfile
from service.scorer import FraudScorer
from service.scoring.behaviour import BehaviourModel
from service.scoring.review import Account, Device, Review
from service.settings import DEFAULT_BEHAVIOUR_PATH, Settings
from service.text_model import TextModel
from tests.integration.monitoring_helpers import texts, toy_artifact_with_profile

pytestmark = pytest.mark.slow
N_LIVE = 2000
TEXT_QUANTITIES = {
    "text_score",
    "text_length",
    "text_nonletter_share",
    "text_exclamation_density",
    "text_emoji_density",
    "text_oov_share",
}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return toy_artifact_with_profile(tmp_path_factory.mktemp("monitoring"), n_reference=N_LIVE)


async def drift_of(redis_url: str, artifact: Path, reviews: Sequence[Review]) -> dict[str, Any]:
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    try:
        reference = ReferenceProfile.load(artifact)
        assert reference is not None
        metrics = MonitoringMetrics.for_registry(CollectorRegistry())
        live = LiveProfile(reference, metrics)
        scorer = FraudScorer(
            FeatureStore(redis, b"test-hmac-key", retention_s=30 * 86400),
            TextModel.load(artifact),
            BehaviourModel.load(DEFAULT_BEHAVIOUR_PATH),
            fusion_config(Settings()),
            budget_s=2.0,
            observers=[live.observe],
        )
        for start in range(0, len(reviews), 500):
            await scorer.score_many(reviews[start : start + 500])
        await scorer.drain()
        monitor = Monitor(live, LiveStore(redis), reference, Thresholds(), metrics)
        assert await monitor.flush()
        report = await monitor.drift("1h")
        assert report["quantities"]["risk"]["live_count"] == len(reviews)
        return report
    finally:
        await redis.aclose()


def ring_attack(texts_: Sequence[str], now_s: float) -> list[Review]:
    reviews = []
    for i, text in enumerate(texts_):
        a, d = i % 150, i % 6
        reviews.append(
            Review(
                review_id=f"ring-{i}",
                product_id=f"ring-p-{i % 3}",
                rating=5,
                submitted_at=now_s - 3600 + i * 3,
                text=text,
                account=Account(
                    id=f"ring-a-{a}",
                    created_at=now_s - 7200,
                    username=f"xk{a}q8{a * 7}zz",
                    email=f"x{a}@mailinator.com",
                ),
                device=Device(
                    fingerprint=f"ring-fp-{d}",
                    ip=f"203.0.113.{d}",
                    user_agent="Mozilla/5.0 HeadlessChrome/120.0",
                    accept_language="en-US",
                    timezone="UTC",
                ),
            )
        )
    return reviews


def flagged(report: dict[str, Any]) -> set[str]:
    return set(report["drifted"])


async def test_a_stream_like_the_reference_flags_nothing(redis_url: str, artifact: Path) -> None:
    start_s = time.time() - 14 * 86400
    live = synthetic_reviews(texts("ordinary", N_LIVE, seed=2), seed=7, start_s=start_s)
    report = await drift_of(redis_url, artifact, list(live))
    assert flagged(report) == set(), {
        k: v["methods"] for k, v in report["quantities"].items() if v["drifted"]
    }
    assert report["quantities"]["text_oov_share"]["status"] == "ok"


async def test_a_ring_attack_moves_risk_and_device_not_text(redis_url: str, artifact: Path) -> None:
    report = await drift_of(
        redis_url, artifact, ring_attack(texts("ordinary", N_LIVE, seed=3), time.time())
    )
    moved = flagged(report)
    assert {"risk", "decision", "contribution_device", "contribution_identity"} <= moved
    assert moved.isdisjoint(TEXT_QUANTITIES), moved


async def test_texts_of_another_kind_move_text_not_devices(redis_url: str, artifact: Path) -> None:
    start_s = time.time() - 14 * 86400
    live = synthetic_reviews(texts("other", N_LIVE, seed=4), seed=8, start_s=start_s)
    moved = flagged(await drift_of(redis_url, artifact, list(live)))
    assert {
        "text_length",
        "text_exclamation_density",
        "text_emoji_density",
        "text_oov_share",
    } <= moved
    assert moved.isdisjoint(
        {"contribution_device", "contribution_network", "contribution_identity"}
    )

"""LiveProfile keeps values unbinned and bins them with numpy: the counts are Quantity.bin_of's.

Checked across folds (every FOLD_EVERY answers and at take), with NaN and infinite values, and
with counts given back after a failed flush.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.monitoring import live
from service.monitoring.live import LiveProfile
from service.monitoring.profile import BY_NAME, Histograms, ReferenceProfile, observations
from service.scorer import Scored
from tests.unit.test_same_as_before import SCORED, VOCABULARY

REFERENCE = ReferenceProfile(histograms=Histograms(), vocabulary=VOCABULARY, integrity={}, meta={})


def counted(batch: list[Scored]) -> Counter[str]:
    """Quantity.bin_of of every observed value, one at a time."""
    counts: Counter[str] = Counter()
    for scored in batch:
        if scored.is_replay:
            continue
        verdict = scored.verdict
        for name, value in observations(
            text=scored.review.text,
            text_probability=scored.text_probability,
            risk=verdict.risk_score,
            decision=verdict.decision,
            reasons=verdict.reasons,
            vocabulary=REFERENCE.vocabulary,
        ):
            counts[f"{name}:{BY_NAME[name].bin_of(value)}"] += 1
    return counts


ODD_SCORES = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.05, 0.95, 1.0])


@settings(max_examples=200, deadline=None)
@given(st.lists(SCORED, max_size=40), st.integers(1, 7), st.lists(ODD_SCORES, max_size=40))
def test_folded_counts_are_bin_of(batch: list[Scored], every: int, odd: list[float]) -> None:
    batch = [
        Scored(s.review, s.verdict, s.features, is_replay=s.is_replay, text_probability=p)
        for s, p in zip(batch, odd, strict=False)
    ] + batch[len(odd) :]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(live, "FOLD_EVERY", every)
        profile = LiveProfile(REFERENCE)
        half = len(batch) // 2
        for scored in batch[:half]:
            profile.observe(scored)
        first = profile.take()
        profile.give_back(first)  # as after a failed flush: counted again in the next take
        for scored in batch[half:]:
            profile.observe(scored)
        assert profile.take() == dict(counted(batch))
        assert profile.take() == {}

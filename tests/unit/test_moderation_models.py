"""Pure moderation values: queue order, key-safe ids, cursors, the compact record."""

from __future__ import annotations

import zlib

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from service.moderation import keys
from service.moderation.models import (
    Reason,
    ReasonPrecision,
    ScoredReview,
    decode_cursor,
    decode_scored,
    encode_cursor,
    encode_scored,
    key_id,
    min_priority,
    priority,
)

risks = st.floats(min_value=0, max_value=1)
times = st.floats(min_value=0, max_value=4_000_000_000)


@given(risks, times, risks, times)
def test_priority_orders_by_risk_then_age(r1: float, t1: float, r2: float, t2: float) -> None:
    p1, p2 = priority(r1, t1), priority(r2, t2)
    assert p1 < 2**53 and p2 < 2**53  # exact in a Redis sorted-set score
    key1, key2 = (round(r1 * 1e6), -int(t1)), (round(r2 * 1e6), -int(t2))
    assert (p1 > p2) == (key1 > key2)


@given(risks, times, risks)
def test_min_priority_bounds_the_risk_filter(risk: float, at: float, minimum: float) -> None:
    assert (priority(risk, at) >= min_priority(minimum)) == (
        round(risk * 1e6) >= round(minimum * 1e6)
    )


@given(st.text(min_size=1, max_size=128))
def test_key_ids_are_bounded_and_tag_safe(raw: str) -> None:
    safe = key_id(raw)
    assert len(safe) <= 64
    assert not {"{", "}", "/"} & set(safe)
    assert (safe == raw) != safe.startswith("#")
    assert keys.record_key(raw).count("{") == 1


def test_plain_ids_stay_readable_and_others_do_not_collide() -> None:
    assert key_id("r-88123") == "r-88123"
    assert key_id("r 1") != key_id("r_1")
    assert key_id("a" * 65).startswith("#")
    hashed = key_id("r 1")
    assert key_id(hashed) != hashed  # a caller's id can never pose as another id's hash


@given(st.integers(min_value=0, max_value=2**53), st.text(min_size=1, max_size=128))
def test_cursor_round_trip(score: int, raw: str) -> None:
    member = key_id(raw)
    assert decode_cursor(encode_cursor(score, member)) == (score, member)


@pytest.mark.parametrize("bad", ["", "12", "x/r-1", "12/", "12/a{b}", "12/#abc"])
def test_malformed_cursors_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_cursor(bad)


@given(st.text(max_size=300) | st.none(), st.floats(min_value=0, max_value=1))
def test_record_round_trip(text: str | None, risk: float) -> None:
    scored = ScoredReview(
        review_id="r-1",
        product_id="p-1",
        risk_score=risk,
        decision="review",
        reasons=(Reason("DEVICE_SHARED", "device used by 7 accounts in the last 24 h", 1.42),),
        text=text,
        scored_at=1_795_000_000.5,
        model_version="m",
        features={"a": 1, "b": 0.5, "c": True, "d": None},
    )
    raw = encode_scored(scored)
    assert decode_scored(raw) == scored
    # A record written before the switch to zstd (zlib, same JSON) still reads.
    assert decode_scored(zlib.compress(zstandard.ZstdDecompressor().decompress(raw))) == scored


def test_precision_of_nothing_decided_is_unknown() -> None:
    assert ReasonPrecision("X", 0, 0).precision is None
    assert ReasonPrecision("X", 4, 1).precision == 0.25

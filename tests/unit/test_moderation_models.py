"""Pure moderation values: queue order, key-safe ids, cursors, the compact record."""

from __future__ import annotations

import zlib

import orjson
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from service.moderation import keys
from service.moderation.models import (
    FEATURE_SCHEMA,
    FEATURE_SCHEMAS,
    RECORD_DICT_ID,
    FeatureValue,
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
    record_json,
)
from service.scoring.features import FEATURE_NAMES, FeatureRow, feature_row, features_as_dict
from tests.unit.factories import features as make_features

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


def _scored(text: str | None, risk: float, features: dict[str, FeatureValue]) -> ScoredReview:
    return ScoredReview(
        review_id="r-1",
        product_id="p-1",
        risk_score=risk,
        decision="review",
        reasons=(Reason("DEVICE_SHARED", "device used by 7 accounts in the last 24 h", 1.42),),
        text=text,
        scored_at=1_795_000_000.5,
        model_version="m",
        features=features,
    )


def _schema_features(seed: int) -> dict[str, FeatureValue]:
    values: list[FeatureValue] = [seed, seed / 7, seed % 2 == 0, None]
    return {name: values[i % 4] for i, name in enumerate(FEATURE_NAMES)}


def _earlier_form(scored: ScoredReview) -> bytes:
    """A record as encode_scored wrote it before the dictionary: the features as an object."""
    return orjson.dumps(
        {
            "id": scored.review_id,
            "p": scored.product_id,
            "r": scored.risk_score,
            "d": scored.decision,
            "rs": [[r.code, r.message, r.contribution] for r in scored.reasons],
            "t": scored.text,
            "at": scored.scored_at,
            "mv": scored.model_version,
            "f": dict(scored.features),
        }
    )


@given(st.text(max_size=300) | st.none(), st.floats(min_value=0, max_value=1), st.integers(0, 99))
def test_record_round_trip(text: str | None, risk: float, seed: int) -> None:
    for features in ({"a": 1, "b": 0.5, "c": True, "d": None}, _schema_features(seed)):
        scored = _scored(text, risk, features)
        raw = encode_scored(scored)
        assert zstandard.get_frame_parameters(raw).dict_id == RECORD_DICT_ID
        assert decode_scored(raw) == scored
        # Records written before (zstd without a dictionary, or zlib; features as an object)
        # still read.
        old = _earlier_form(scored)
        assert decode_scored(zstandard.ZstdCompressor(level=1).compress(old)) == scored
        assert decode_scored(zlib.compress(old)) == scored


def test_features_of_the_schema_go_as_values_and_others_as_an_object() -> None:
    listed = orjson.loads(record_json(_scored("ok", 0.5, _schema_features(3))))
    assert listed["fs"] == FEATURE_SCHEMA
    assert listed["f"] == list(_schema_features(3).values())
    reordered = dict(reversed(list(_schema_features(3).items())))
    as_object = orjson.loads(record_json(_scored("ok", 0.5, reordered)))
    assert "fs" not in as_object
    assert as_object["f"] == reordered


def test_a_feature_row_is_recorded_as_the_dict_of_the_same_snapshot() -> None:
    # The scorer hands its features over as a FeatureRow (no dict built per review): the
    # record's bytes, and what decodes from them, are those of the plain dict.
    snapshot = make_features(
        account_reviews_24h=4, product_mean_rating_before=None, linked_device=True
    )
    row, plain = feature_row(snapshot), features_as_dict(snapshot)
    assert row == plain and dict(row) == plain and list(row.values()) == list(plain.values())
    assert record_json(_scored("ok", 0.5, row)) == record_json(_scored("ok", 0.5, plain))
    scored = _scored("ok", 0.5, row)
    assert decode_scored(encode_scored(scored)).features == plain
    assert row["account_reviews_24h"] == 4
    with pytest.raises(KeyError):
        row["no_such_feature"]
    with pytest.raises(ValueError, match="values for"):
        FeatureRow((1, 2))


def test_the_feature_schema_is_pinned() -> None:
    # A change of Features changes this id: keep the old names in FEATURE_SCHEMAS (stored
    # records name their schema), then pin the new id here.
    assert FEATURE_SCHEMA == "a7291c73950e"
    assert FEATURE_SCHEMAS[FEATURE_SCHEMA] == FEATURE_NAMES


def test_records_of_an_unknown_schema_or_dictionary_are_refused() -> None:
    data = orjson.loads(record_json(_scored("ok", 0.5, _schema_features(1))))
    data["fs"] = "000000000000"
    with pytest.raises(ValueError, match="unknown feature schema"):
        decode_scored(zlib.compress(orjson.dumps(data)))
    samples = [record_json(_scored(f"text {i}", i / 300, _schema_features(i))) for i in range(300)]
    other = zstandard.train_dictionary(2048, samples, dict_id=RECORD_DICT_ID + 1, threads=1)
    raw = zstandard.ZstdCompressor(dict_data=other).compress(samples[0])
    with pytest.raises(ValueError, match="unknown dictionary"):
        decode_scored(raw)


def test_precision_of_nothing_decided_is_unknown() -> None:
    assert ReasonPrecision("X", 0, 0).precision is None
    assert ReasonPrecision("X", 4, 1).precision == 0.25

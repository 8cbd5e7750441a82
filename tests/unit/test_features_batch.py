"""The batch EVALSHA built at once is, byte for byte, the one planned and packed call by call."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.features.calls import NATIVE_EDGE, decode_replies, plan_observe, reply_layout
from service.features.store import (
    _native_templates,
    batch_command,
    batch_command_python,
    reference_batch_command,
)
from service.scoring.identity import Identity, identify
from service.scoring.review import Account, Device, Review

KEY = b"unit-test-key"
SHA = hashlib.sha1(b"batch").hexdigest()
RETENTIONS = [3600, 86400, 7 * 86400, 30 * 86400, 60 * 86400, 400 * 86400]
WORDS = ["great", "room", "staff", "cold", "shower", "never", "again", "best", "ever", "ok"]

TEXTS = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=40),  # arbitrary Unicode, mostly too short for a SimHash
    st.lists(st.sampled_from(WORDS), min_size=6, max_size=30).map(" ".join),
    st.lists(st.sampled_from([*WORDS, "naïve", "日本語", "ünïcödé"]), min_size=6).map(" ".join),
)
IPS = st.one_of(
    st.none(),
    st.just(""),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded),
    st.just("::ffff:198.51.100.3"),
    st.text(max_size=12),  # not an address: no IP, no network
)
DEVICES = st.builds(
    Device,
    fingerprint=st.one_of(st.none(), st.just(""), st.text(max_size=20)),
    ip=IPS,
    user_agent=st.one_of(st.none(), st.just("Mozilla/5.0 (X11; Linux) Chrome/131.0")),
    accept_language=st.one_of(st.none(), st.just("en-US,en;q=0.9")),
    timezone=st.one_of(st.none(), st.just("Europe/Paris")),
    screen=st.one_of(st.none(), st.just("1920x1080")),
)
REVIEWS = st.builds(
    Review,
    review_id=st.text(min_size=1, max_size=20),
    product_id=st.text(min_size=1, max_size=20),
    rating=st.integers(-3, 9),
    submitted_at=st.one_of(
        st.floats(0.0, 4_000_000_000.0), st.integers(0, 4_000_000_000), st.just(1_790_000_000.123)
    ),
    account=st.builds(Account, id=st.text(min_size=1, max_size=20)),
    device=st.one_of(st.just(Device()), DEVICES),
    text=TEXTS,
)


@settings(max_examples=2000, deadline=None)
@given(REVIEWS, st.sampled_from(RETENTIONS))
def test_batch_command_is_the_planned_one(review: Review, retention_s: int) -> None:
    identity = identify(review, KEY)
    expected = reference_batch_command(SHA, review, identity, retention_s)
    assert batch_command(SHA, review, identity, retention_s) == expected
    assert batch_command_python(SHA, review, identity, retention_s) == expected
    if NATIVE_EDGE is not None and isinstance(review.submitted_at, float):
        # the C code builds every command of an identity identify() made, from a float time
        templates = _native_templates(SHA)
        assert NATIVE_EDGE.command(templates, review, identity) == expected
    plan = plan_observe(review, identity, retention_s)
    layout = reply_layout(identity)
    assert (layout.crowd_kinds, layout.band_count, layout.has_record) == (
        plan.crowd_kinds,
        plan.band_count,
        plan.has_record,
    )


ODD = st.one_of(  # hashes identify never makes: other lengths, newlines, non-ASCII
    st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
    st.text(max_size=20),
    st.just("abc\ndef0123456789"[:16]),
    st.just("é" * 16),
)
IDENTITIES = st.builds(
    Identity,
    st.one_of(st.text(alphabet="0123456789abcdef", min_size=12, max_size=12), ODD),
    ODD,
    ODD,
    st.one_of(st.none(), ODD),
    st.booleans(),
    st.one_of(st.none(), ODD),
    st.one_of(st.none(), ODD),
    st.one_of(st.none(), st.integers(0, 2**64 - 1), st.integers(-(2**70), 2**70)),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.floats(0, 1),
)


@settings(max_examples=2000, deadline=None)
@given(REVIEWS, IDENTITIES, st.sampled_from(RETENTIONS))
def test_batch_command_of_any_identity_is_the_planned_one(
    review: Review, identity: Identity, retention_s: int
) -> None:
    try:
        expected = reference_batch_command(SHA, review, identity, retention_s)
    except ValueError:  # a newline in an argument: refused either way
        with pytest.raises(ValueError, match="newline"):
            batch_command(SHA, review, identity, retention_s)
        with pytest.raises(ValueError, match="newline"):
            batch_command_python(SHA, review, identity, retention_s)
        return
    assert batch_command(SHA, review, identity, retention_s) == expected
    assert batch_command_python(SHA, review, identity, retention_s) == expected


def test_layout_decodes_like_the_plan() -> None:
    review = Review(
        "r1",
        "p1",
        5,
        1_790_000_000.0,
        Account("a"),
        Device(fingerprint="fp", ip="2001:db8::1"),
        "the room was clean and the staff were friendly",
    )
    identity = identify(review, KEY)
    plan = plan_observe(review, identity, 86400)
    replies: list[object] = [[0] * 8 + [-1, 0], [0, 0, 0, 0, 1, 1, 1, 0, 0, 5]]
    replies += [[1, 1, 1, 1, 1, 0]] * len(plan.crowd_kinds) + [[]] * plan.band_count + [None]
    assert decode_replies(reply_layout(identity), identity, replies) == decode_replies(
        plan, identity, replies
    )

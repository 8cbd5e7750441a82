"""service/native/featureedge.c gives the features decode_replies then derive_features give.

Compared by value and by repr (so that 0 and 0.0, 1 and True, None and 0 are told apart), on
generated reviews, identities and replies: the usual ones (which the C code must answer) and
unusual ones (which it may leave to Python: then observed_features still gives the same). Its
pack gives mux.pack_python's bytes, or leaves the arguments to it.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service import native
from service.features import calls, mux
from service.features.calls import decode_replies, observed_features, reply_layout
from service.scoring.features import Features, derive_features
from service.scoring.identity import Identity
from service.scoring.review import Account, Review

OWN = "a" * 16
ACCOUNTS = st.sampled_from([OWN, "b" * 16, "c" * 16, "0123456789abcdef"])
RETENTIONS = st.sampled_from([3600, 86400, 7 * 86400, 30 * 86400, 60 * 86400])
COUNT = st.one_of(st.integers(0, 50), st.integers(-2, 10**13), st.just(2**47))
FIRST = st.one_of(st.just(-1), st.integers(1_690_000_000_000, 1_800_000_000_000))


def edge() -> Any:
    module = native.load("featureedge")
    if module is None:
        pytest.skip("service.native.featureedge is not built or REVIEWGUARD_NATIVE=0")
    return module


def reference(
    review: Review, identity: Identity, replies: list[Any], retention_s: int
) -> tuple[Features, bytes | None]:
    raw, answer = decode_replies(reply_layout(identity), identity, replies)
    return derive_features(review, identity, raw, retention_s), answer


@st.composite
def cases(draw: st.DrawFn, usual: bool) -> tuple[Review, Identity, list[Any], int]:
    simhash = draw(st.one_of(st.none(), st.integers(0, 2**64 - 1)))
    present = [draw(st.booleans()) for _ in range(3)]
    identity = Identity(
        "r" * 12,
        OWN,
        "p" * 16,
        "d" * 16 if present[0] else None,
        draw(st.booleans()),
        "i" * 16 if present[1] else None,
        "n" * 16 if present[2] else None,
        simhash,
        draw(st.booleans()),
        draw(st.booleans()),
        draw(st.booleans()),
        draw(st.floats(0, 1)),
    )
    at = draw(st.floats(1_690_000_000.0, 1_800_000_000.0))
    created = st.one_of(st.none(), st.floats(0, 1.9e9), st.just(at), st.just(at + 0.0004))
    review = Review(
        "r",
        "p",
        draw(st.integers(-1, 7)),
        at,
        Account("a", created_at=draw(created)),
        text=draw(st.one_of(st.none(), st.just(""), st.just("x"), st.text(max_size=5))),
    )
    account = [draw(COUNT) for _ in range(8)] + [draw(FIRST), draw(st.integers(0, 1))]
    product = [draw(COUNT) for _ in range(9)] + [draw(FIRST)]
    replies: list[Any] = [account, product]
    crowd = st.lists(st.integers(0, 10**15), min_size=6, max_size=6)
    replies += [draw(crowd) for p in present if p]
    near = st.integers(0, 63).map(lambda bit: (simhash or 0) ^ (1 << bit))
    near2 = st.tuples(st.integers(0, 63), st.integers(0, 63)).map(
        lambda bits: (simhash or 0) ^ (1 << bits[0]) ^ (1 << bits[1]) ^ 1
    )
    member = st.builds(
        lambda account, h, upper: (account + (f"{h:016X}" if upper else f"{h:016x}")).encode(),
        ACCOUNTS,
        st.one_of(st.just(simhash or 0), near, near2, st.integers(0, 2**64 - 1)),
        st.booleans(),
    )
    shared = draw(st.lists(member, max_size=6))
    for _ in range(reply_layout(identity).band_count):
        some = st.one_of(member, st.sampled_from(shared)) if shared else member
        replies.append(draw(st.lists(some, max_size=40)))
    replies.append(draw(st.one_of(st.none(), st.binary(max_size=8))))
    if not usual:  # one reply replaced by what the C code leaves to Python
        odd: Any = draw(
            st.one_of(
                st.just(b"7"),
                st.just("text"),
                st.just(2**70),
                st.just([b"x" * 31]),
                st.just(["a" * 32]),
                st.just([b"\xff" * 16 + b"0" * 16]),
                st.just([b"a" * 16 + b" 123456789abcdef"]),
                st.just([1, 2]),
            )
        )
        where = draw(st.integers(0, len(replies) - 1))
        if draw(st.booleans()) or not isinstance(replies[where], list) or not replies[where]:
            replies[where] = odd
        else:
            replies[where] = [*replies[where][:-1], odd]
    return review, identity, replies, draw(RETENTIONS)


def same(got: Any, expected: Any) -> None:
    assert got == expected
    assert repr(got) == repr(expected)


def wrap(replies: list[Any]) -> list[Any]:
    return [[] if reply is None else [reply] for reply in replies]


@settings(max_examples=1000, deadline=None)
@given(cases(usual=True))
def test_usual_replies_give_the_reference_features(
    case: tuple[Review, Identity, list[Any], int],
) -> None:
    module = edge()
    review, identity, replies, retention_s = case
    try:
        expected = reference(review, identity, replies, retention_s)
    except ZeroDivisionError:  # a negative baseline count: Python's to raise
        assert module.features(review, identity, replies, retention_s, False) is None
        return
    big = any(abs(x) >= 2**48 for x in replies[0] + replies[1])
    got = module.features(review, identity, replies, retention_s, False)
    if big:  # beyond the C code's exact arithmetic: Python answers
        assert got is None
    else:
        same(got, expected)
    same(observed_features(review, identity, replies, retention_s, False), expected)
    same(observed_features(review, identity, wrap(replies), retention_s, True), expected)


@settings(max_examples=600, deadline=None)
@given(cases(usual=False))
def test_unusual_replies_give_the_reference_features_or_error(
    case: tuple[Review, Identity, list[Any], int],
) -> None:
    edge()
    review, identity, replies, retention_s = case
    try:
        expected = reference(review, identity, replies, retention_s)
    except (ValueError, TypeError, IndexError, ZeroDivisionError, UnicodeDecodeError) as exc:
        with pytest.raises(type(exc)):
            observed_features(review, identity, replies, retention_s, False)
        return
    same(observed_features(review, identity, replies, retention_s, False), expected)
    same(observed_features(review, identity, wrap(replies), retention_s, True), expected)


def test_odd_reviews_are_left_to_python() -> None:
    module = edge()
    identity = Identity("r" * 12, OWN, "p" * 16, None, False, None, None, None, False, False,
                        False, 0.0)  # fmt: skip
    replies: list[Any] = [[0] * 8 + [-1, 0], [0] * 4 + [1, 0, 1, 0, 0, -1], None]
    for review in (
        Review("r", "p", 3, 1_790_000_000, Account("a")),  # an int time
        Review("r", "p", 3, 1.79e9, Account("a", created_at=1)),  # an int creation time
        Review("r", "p", 3, math.inf, Account("a")),
        Review("r", "p", 3, math.nan, Account("a")),
    ):
        assert module.features(review, identity, replies, 86400, False) is None
    review = Review("r", "p", 3, 1.79e9, Account("a", created_at=math.nan))
    same(
        module.features(review, identity, replies, 86400, False),
        reference(review, identity, replies, 86400),
    )


def test_the_store_uses_the_c_code_where_built() -> None:
    if native.load("featureedge") is not None:
        assert calls.NATIVE_EDGE is not None


def test_configure_refuses_other_fields() -> None:
    module = edge()
    with pytest.raises(ValueError, match="field"):
        module.configure(Features, ["x"] * 47, 4, 3, 16, 12)
    with pytest.raises(ValueError, match="fields"):
        module.configure(Features, ["x"], 4, 3, 16, 12)


class _Float(float):
    def __repr__(self) -> str:
        return "a float of its own"


USUAL_ARGS = st.one_of(
    st.text(),
    st.binary(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
)
ODD_ARGS = st.one_of(
    st.booleans(),
    st.integers().filter(lambda i: not -(2**63) <= i < 2**63),
    st.binary().map(bytearray),
    st.none(),
    st.floats(allow_nan=False).map(_Float),
    st.just("\udc80"),  # a lone surrogate: not encodable as UTF-8
)


@settings(max_examples=400, deadline=None)
@given(st.lists(USUAL_ARGS, max_size=40).map(tuple))
def test_pack_gives_the_reference_bytes(args: tuple[Any, ...]) -> None:
    packed = edge().pack(args)
    assert packed is not None
    assert packed == mux.pack_python(args) == mux.pack(args)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(USUAL_ARGS, ODD_ARGS), max_size=40))
def test_pack_leaves_odd_arguments_to_python_or_raises_as_it_does(args: list[Any]) -> None:
    try:
        expected: bytes | type[Exception] = mux.pack_python(args)
    except (TypeError, UnicodeEncodeError) as exc:
        expected = type(exc)
    try:
        packed = edge().pack(args)
    except UnicodeEncodeError:
        assert expected is UnicodeEncodeError
        return
    assert packed is None or packed == expected
    try:
        assert mux.pack(args) == expected
    except (TypeError, UnicodeEncodeError) as exc:
        assert type(exc) is expected

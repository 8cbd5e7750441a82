"""service/native/monitortext.c describes text exactly as profile.describe_python does.

And observations() (which takes the C fields directly) gives what it gave before, value for value.

Held to the Python reference on generated text (ASCII-heavy review-like text, every ASCII
character, arbitrary Unicode, empty and very long) with no vocabulary, an empty one and several
others, and on every shared text; and the shared texts are checked to take the C path (it covers
ASCII text only).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.monitoring import profile
from service.monitoring.profile import (
    TextDescriptors,
    describe,
    describe_python,
    observations,
)
from service.scoring.fusion import GROUP_OF, Reason
from tests.unit.test_native import built
from tests.unit.test_same_as_before import REVIEW_TEXT, VOCABULARY, shared_texts

ASCII_TEXT = st.text(alphabet=st.characters(max_codepoint=127), max_size=600)
# Letters, whitespace of every kind and the characters the counts turn on, densely.
DENSE_ASCII = st.text(alphabet="aAbZz' !:;=<-3)(DPpx\t\n\x0b\x0c\r\x1c\x1f._9", max_size=300)
WORDS_TEXT = st.lists(
    st.one_of(
        st.sampled_from(sorted(VOCABULARY)),
        st.sampled_from(["Hotel", "ROOM", "rooms", "roo", "don't", "x", "caf\u00e9", "abc"]),
        st.sampled_from([" ", "  ", ", ", "! ", "!!", ":-)", " <3 ", "'", "\n", "1"]),
    ),
    max_size=200,
).map("".join)
ANY_TEXT = st.text(max_size=300)
VOCABULARIES: tuple[frozenset[str] | None, ...] = (
    None,
    frozenset(),
    VOCABULARY,
    frozenset(["\u00e9", "Hotel", "", "don't", "abc"]),  # no entry a-z only: nothing is known
    frozenset(["a", "b", "z", "aa", "ab", "abc", "x"]),
)


def native() -> ModuleType:
    module = built("monitortext")
    assert isinstance(module, ModuleType)
    return module


@lru_cache(maxsize=8)
def table_of(vocabulary: frozenset[str]) -> object:
    return native().vocabulary(vocabulary)


def native_descriptors(text: str, vocabulary: frozenset[str] | None) -> TextDescriptors | None:
    """The C describe's; its one-character-at-a-time counts (describe_scalar, what runs where
    SSE2 is not there) are checked to be the same, bit for bit."""
    table = None if vocabulary is None else table_of(vocabulary)
    fields = native().describe(text, table)
    scalar = native().describe_scalar(text, table)
    assert repr(scalar) == repr(fields)
    return None if fields is None else TextDescriptors(len(text), *fields)


def bits(d: TextDescriptors) -> tuple[object, ...]:
    """The fields with each float as its exact bits (equal floats can differ in sign)."""
    return tuple(
        (type(v), v.hex() if isinstance(v, float) else v)
        for v in (d.length, d.nonletter_share, d.exclamation_density, d.emoji_density, d.oov_share)
    )


def assert_same(text: str, vocabularies: tuple[frozenset[str] | None, ...] = VOCABULARIES) -> None:
    for vocabulary in vocabularies:
        expected = describe_python(text, vocabulary)
        got = native_descriptors(text, vocabulary)
        if text.isascii():
            assert got is not None
            assert got == expected
            assert bits(got) == bits(expected)
        else:
            assert got is None
        assert bits(describe(text, vocabulary)) == bits(expected)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(ASCII_TEXT, DENSE_ASCII, WORDS_TEXT, REVIEW_TEXT, ANY_TEXT))
def test_native_describe_equals_python(text: str) -> None:
    assert_same(text)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(ASCII_TEXT, DENSE_ASCII, WORDS_TEXT),
    st.frozensets(st.one_of(st.from_regex(r"[a-z]{1,4}", fullmatch=True), st.text(max_size=4))),
)
def test_native_describe_with_any_vocabulary(text: str, vocabulary: frozenset[str]) -> None:
    assert_same(text, (vocabulary,))


def test_native_describe_edge_cases() -> None:
    for text in (
        "",
        " ",
        "a",
        "A",
        "!",
        "!!",
        ":",
        ":-",
        ":-)",
        ":-x",
        "::)",
        ":--)",
        "<",
        "<3",
        "<<3",
        "=D;P:p:(",
        "\x1f",
        "\x1c\x1d\x1e\x1f\t\n\x0b\x0c\r ",
        "\x00\x7f",
        "great hotel",
        "GREAT Hotel, the room!",
        "don't",
        "a1b_c",
        "".join(map(chr, range(128))) * 2,
        "caf\u00e9",
        "\U0001f600",
    ):
        assert_same(text)


def test_native_describe_very_long() -> None:
    piece = "The BEST hotel ever!!! :) Don't miss it, room 101 <3 never; great\tHOTEL\n"
    for text in (piece * 5000, "a" * 1_000_000, "ab " * 300_000, "!" * 100_000):
        assert_same(text)
    many = frozenset(
        f"{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676)}" for i in range(17576)
    )
    text = " ".join(sorted(many)[::2]) + " zzzz Zzz"
    assert_same(text, (many,))
    # every other word of the table, "zzzz" (unknown) and "Zzz" (known): one unknown word
    assert describe(text, many).oov_share == 1 - (17576 // 2 + 1) / (17576 // 2 + 2)


def test_native_vocabulary_table() -> None:
    module = native()
    assert module.describe("Hotel room x", module.vocabulary(["hotel", "room"]))[3] == 1 - 2 / 3
    table = module.vocabulary(["hotel", "hotel", "Room"])  # a list, repeats: one entry each
    assert module.describe("hotel ROOM", table)[3] == 0.5
    assert module.describe("hotel", module.vocabulary([]))[3] is None
    assert module.describe("hotel", module.vocabulary(["\u00e9"]))[3] == 1.0
    assert module.describe("", module.vocabulary(["a"]))[3] is None
    assert module.describe("!!", None) == (1.0, 100.0, 0.0, None)
    with pytest.raises(TypeError):
        module.vocabulary([1])
    with pytest.raises(TypeError):
        module.describe(b"bytes", None)
    with pytest.raises(TypeError):
        module.describe("text", object())
    with pytest.raises(TypeError):
        module.describe("text")
    assert math.isclose(module.describe("ab:) c", None)[2], 100 / 6)


def test_native_table_is_built_once_per_vocabulary() -> None:
    native()
    vocabulary = frozenset(["great", "hotel"])
    describe("great", vocabulary)
    table = profile._native_table(vocabulary)
    describe("hotel", vocabulary)
    assert profile._native_table(vocabulary) is table
    equal = frozenset(["great", "hotel"])
    assert profile._native_table(equal) is not table  # keyed by the object, not its value
    assert describe("great room", equal).oov_share == 0.5


def test_falls_back_to_python_when_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile, "_NATIVE", None)
    text = "The BEST hotel ever!!! :)"
    assert describe(text, VOCABULARY) == describe_python(text, VOCABULARY)


def test_a_vocabulary_not_a_frozenset_takes_the_python_path() -> None:
    vocabulary = {"great"}
    text = "great hotel"
    assert describe(text, vocabulary) == describe_python(text, frozenset(vocabulary))  # type: ignore[arg-type]


@pytest.mark.shared_data
def test_native_describe_on_every_shared_text(shared_data: Path) -> None:
    texts = shared_texts(shared_data)
    letters = re.compile(r"[^\W\d_]+")
    vocabulary = frozenset(w for text in texts[::3] for w in letters.findall(text.lower()))
    for text in texts:
        assert_same(text, (None, vocabulary))
    on_c_path = sum(native().describe(text, None) is not None for text in texts)
    assert on_c_path >= 0.99 * len(texts)


_GROUPS = tuple(sorted(set(GROUP_OF.values())))


def old_observations(
    *,
    text: str | None,
    text_probability: float | None,
    risk: float,
    decision: str,
    reasons: tuple[Reason, ...],
    vocabulary: frozenset[str] | None,
) -> list[tuple[str, float | str]]:
    """observations() as it was before it took the C fields directly."""
    values: list[tuple[str, float | str]] = [("risk", risk), ("decision", decision)]
    if text_probability is not None:
        values.append(("text_score", text_probability))
    by_group = dict.fromkeys(_GROUPS, 0.0)
    for reason in reasons:
        group = GROUP_OF.get(reason.code)
        if group is not None:
            by_group[group] += reason.contribution
    values += zip((f"contribution_{g}" for g in _GROUPS), by_group.values(), strict=True)
    if text:
        d = describe_python(text, vocabulary)
        values += (
            ("text_length", d.length),
            ("text_nonletter_share", d.nonletter_share),
            ("text_exclamation_density", d.exclamation_density),
            ("text_emoji_density", d.emoji_density),
        )
        if d.oov_share is not None:
            values.append(("text_oov_share", d.oov_share))
    return values


def exact(values: list[tuple[str, float | str]]) -> list[tuple[str, type, object]]:
    return [(k, type(v), v.hex() if isinstance(v, float) else v) for k, v in values]


OBSERVED = st.fixed_dictionaries(
    {
        "text": st.one_of(st.none(), st.just(""), ASCII_TEXT, WORDS_TEXT, REVIEW_TEXT, ANY_TEXT),
        "text_probability": st.one_of(st.none(), st.floats(allow_nan=True)),
        "risk": st.floats(0, 1),
        "decision": st.sampled_from(["allow", "review", "reject", "other"]),
        "reasons": st.lists(
            st.builds(
                Reason,
                code=st.sampled_from([*GROUP_OF, "OTHER"]),
                message=st.just("m"),
                contribution=st.floats(-4, 4),
            ),
            max_size=10,
        ).map(tuple),
        "vocabulary": st.sampled_from(VOCABULARIES),
    }
)


@settings(max_examples=1000, deadline=None)
@given(OBSERVED)
def test_observations_as_before(kwargs: dict[str, object]) -> None:
    assert exact(observations(**kwargs)) == exact(old_observations(**kwargs))  # type: ignore[arg-type]


def test_observations_as_before_without_c(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile, "_NATIVE", None)
    for text in (None, "", "The BEST hotel ever!!! :)", "caf\u00e9 great"):
        kwargs: dict[str, object] = {
            "text": text,
            "text_probability": 0.25,
            "risk": 0.5,
            "decision": "review",
            "reasons": (Reason("TEXT_MODEL", "m", 0.5), Reason("TEXT_EXTREME", "m", 0.25)),
            "vocabulary": VOCABULARY,
        }
        assert exact(observations(**kwargs)) == exact(old_observations(**kwargs))  # type: ignore[arg-type]


LONG_WORDS = frozenset(
    ["abcdefgh", "abcdefghij", "abcdefghijklmnopq", "internationalisation", "a", "zz", "hotel"]
)
LONG_WORDS_TEXT = st.lists(
    st.one_of(
        st.sampled_from(sorted(LONG_WORDS)).map(lambda w: w.upper() if len(w) % 2 else w),
        st.sampled_from(["abcdefg", "abcdefghi", "abcdefghijk", "Abcdefgh", "ABCDEFGHIJKLMNOPQ"]),
        st.sampled_from(["abcdefghijklmnopqr", "internationalization", "HOTELS", "hote"]),
        st.sampled_from([" ", "!", ":-)", "<3", "\t", "7", "x" * 61, "y" * 63, "Z" * 64]),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(LONG_WORDS_TEXT, st.integers(0, 130))
def test_native_describe_long_words_and_block_edges(text: str, shift: int) -> None:
    """Words longer than the 8 letters of a table key, and words, '!' and emoticons across the
    64-byte blocks the counts are taken in."""
    assert_same("-" * shift + text, (None, LONG_WORDS, VOCABULARY))


def test_native_recent_answers_are_per_table_and_length() -> None:
    """The answers kept for short words belong to their table, and to their exact word."""
    module = native()
    eight, nine = module.vocabulary(["abcdefgh"]), module.vocabulary(["abcdefghi"])
    for _ in range(3):
        assert module.describe("abcdefgh", eight)[3] == 0.0
        assert module.describe("abcdefgh", nine)[3] == 1.0
        assert module.describe("abcdefghi", eight)[3] == 1.0
        assert module.describe("ABCDEFGHI", nine)[3] == 0.0
        assert module.describe("abcdefg abcdefgh", eight)[3] == 0.5

"""service/native/textsignals.c describes text exactly as describe_text_python does.

Held to the Python reference on generated text (ASCII-heavy review-like text, every ASCII
character, arbitrary Unicode, empty and very long) and on every shared text; and the shared texts
are checked to take the C path (it covers ASCII text only).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.scoring import text_signals
from service.scoring.text_signals import (
    _EXTREME_WORDS,
    _STOP_WORDS,
    TextSignals,
    describe_text,
    describe_text_python,
)
from tests.unit.test_native import built
from tests.unit.test_same_as_before import REVIEW_TEXT, shared_texts

ASCII_TEXT = st.text(alphabet=st.characters(max_codepoint=127), max_size=600)
# Letters, apostrophes and the characters the counts turn on, densely: words cut by apostrophes
# in every position, runs of ! and ?, emoticons and their near misses.
DENSE_ASCII = st.text(alphabet="aAbZz' '!?:;=<-3)(DPpx\t\n._", max_size=300)
WORDS_TEXT = st.lists(
    st.one_of(
        st.sampled_from(sorted(_EXTREME_WORDS | _STOP_WORDS)),
        st.sampled_from(["hotel", "room", "Room", "ROOM", "staff", "don't", "it's", "x"]),
        st.sampled_from([" ", "  ", ", ", "! ", "!!", "?!", ":-)", " <3 ", "'", "\n"]),
    ),
    max_size=200,
).map("".join)
ANY_TEXT = st.text(max_size=300)


def native() -> ModuleType:
    module = built("textsignals")
    assert isinstance(module, ModuleType)
    return module


def native_signals(text: str) -> TextSignals | None:
    counts = native().describe(text)
    return None if counts is None else TextSignals(len(text), *counts)


def assert_same(text: str) -> None:
    expected = describe_text_python(text)
    got = native_signals(text)
    if text.isascii():
        assert got == expected
        # Equal floats could still differ in sign or NaN-ness; they do not here, but say so.
        assert got is not None
        assert [type(getattr(got, f)) for f in got.__slots__] == [
            type(getattr(expected, f)) for f in expected.__slots__
        ]
    else:
        assert got is None
    assert describe_text(text) == expected


@settings(max_examples=2000, deadline=None)
@given(st.one_of(ASCII_TEXT, DENSE_ASCII, WORDS_TEXT, REVIEW_TEXT, ANY_TEXT))
def test_native_describe_equals_python(text: str) -> None:
    assert_same(text)


def test_native_describe_edge_cases() -> None:
    for text in (
        "",
        " ",
        "a",
        "'",
        "''",
        "a'",
        "'a",
        "a'b",
        "a''b",
        "a'b'c",
        "rock'n'roll",
        "'tis",
        "don't don't DON'T",
        "!",
        "!!",
        "?!?",
        "! !",
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
        "the the the",
        "bbb aaa aaa bbb",
        "Zz" * 10,
        "A" * 19 + "b",
        "A" * 20,
        "".join(map(chr, range(128))) * 2,
        "caf\u00e9",
        "\U0001f600",
    ):
        assert_same(text)


def test_native_describe_very_long() -> None:
    piece = "The BEST hotel ever!!! :) Don't miss it'' 'tis rock'n'roll, room 101 <3 never; "
    for text in (piece * 5000, "a" * 1_000_000, "ab " * 300_000, "!" * 100_000):
        assert_same(text)
    distinct = " ".join(
        f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676)}" for i in range(17576)
    )
    assert_same(distinct)


def test_native_word_lists_are_the_python_ones() -> None:
    # configure() takes the lists from text_signals; a changed list there changes the C lookups.
    module = native()
    for word in sorted(_EXTREME_WORDS):
        assert module.describe(word)[5] == 1.0
    for word in sorted(_STOP_WORDS):
        counts = module.describe(word)
        assert counts[6] == "" and counts[8] == 1.0
    try:
        module.configure(["hotel"], ["room"])
        assert module.describe("hotel room hotel")[5:9] == (2 / 3, "hotel", 2, 0.5)
        module.configure(["caf\u00e9", "Best", "", "it's"], [])  # only lower-case ASCII matters
        assert module.describe("cafe best Best it's")[5] == 1 / 4
    finally:
        module.configure(_EXTREME_WORDS, _STOP_WORDS)
    with pytest.raises(TypeError):
        module.configure([1], [])
    module.configure(_EXTREME_WORDS, _STOP_WORDS)
    with pytest.raises(TypeError):
        module.describe(b"bytes")


def test_falls_back_to_python_when_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_signals, "_NATIVE", None)
    text = "The BEST hotel ever!!! :)"
    assert describe_text(text) == describe_text_python(text)


@pytest.mark.shared_data
def test_native_describe_on_every_shared_text(shared_data: Path) -> None:
    texts = shared_texts(shared_data)
    for text in texts:
        assert_same(text)
    on_c_path = sum(native().describe(text) is not None for text in texts)
    assert on_c_path >= 0.99 * len(texts)

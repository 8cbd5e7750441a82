"""service/native/simhash.c computes simhash_of as simhash_of_python does, bit for bit.

simhash_of_python (normalise, set, hashlib.blake2b, the vote) is the reference: the C function
tokenises ASCII text itself, hashes words with its own BLAKE2b and keeps its own memo, so it is
held to the Python function on every shared text, on generated ASCII texts and on the edges of its
memo (started over when full, a text too long for it).
"""

from __future__ import annotations

import hashlib
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.scoring import text_fingerprint
from service.scoring.text_fingerprint import MIN_WORDS, simhash_of, simhash_of_python
from tests.unit.test_native import built
from tests.unit.test_same_as_before import shared_texts


@pytest.fixture(scope="module")
def native() -> Any:
    return built("simhash")


def assert_same(native: Any, text: Any) -> None:
    assert native.simhash_of(text) == simhash_of_python(text), repr(text)[:120]


def test_simhash_of_runs_in_c(native: Any) -> None:
    assert simhash_of is native.simhash_of
    assert text_fingerprint.simhash_of is native.simhash_of
    assert native.MIN_WORDS == MIN_WORDS


@given(st.binary(max_size=600))
def test_digest_is_blake2b_with_8_bytes(native: Any, data: bytes) -> None:
    assert native.digest(data) == hashlib.blake2b(data, digest_size=8).digest()


def test_digest_at_block_boundaries(native: Any) -> None:
    for n in (*range(0, 260), 383, 384, 385, 1000, 20_000):
        data = bytes((i * 7 + n) % 251 for i in range(n))
        assert native.digest(data) == hashlib.blake2b(data, digest_size=8).digest(), n


EDGES = [
    "",
    " ",
    "a",
    "one two three four five",  # MIN_WORDS - 1
    "one two three four five six",
    "one, two; three. four! five? six",
    "same same same same same same same",
    "a b a b a b a b a b a b a b a b",
    "!!! ... ??? --- *** ((( )))",
    "12345 67890 0 00 000 _ __ ___",
    "snake_case CamelCase UPPER lower MiXeD 42nd",
    "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeeds\x1c\x1d\x1e\x1f",
    "nul\x00inside\x00\x00words\x7fdel and more",
    "".join(map(chr, range(128))) * 2,
    "end with a space ",
    " start with one and then some words",
    "WordsWithNoSpacesAtAllJustCamelCaseAndDigits123AndMore",
    "x" * 127 + " " + "y" * 128 + " " + "z" * 129 + " a b c d",
    "A" * 20_000,
    " ".join(["A" * 20_000] * 7),
]


def test_edges(native: Any) -> None:
    for text in EDGES:
        assert_same(native, text)
        assert_same(native, text.upper())
        assert_same(native, text.lower())


def test_none_non_ascii_and_non_str_go_where_python_goes(native: Any) -> None:
    assert native.simhash_of(None) is None
    for text in (
        "Café au lait, très bon, naïve façade, déjà vu",
        "İı ΣΣ ﬃ e\u0301 x y z w v",
        "\udfff a b c d e f",
    ):
        assert_same(native, text)

    class Text(str):
        pass

    assert_same(native, Text("a str subclass still has six words"))
    assert native.simhash_of(0) is None  # falsy, as in Python
    assert native.simhash_of(b"") is None
    with pytest.raises(AttributeError):
        native.simhash_of(123)
    with pytest.raises(AttributeError):
        simhash_of_python(123)  # type: ignore[arg-type]


def test_texts_too_long_for_the_shared_memo(native: Any) -> None:
    # Over 32768 possible words: the text gets a memo of its own; the shared one is untouched.
    before = native.simhash_of(EDGES[5])
    words = [f"w{i}" for i in range(40_000)]
    for text in (" ".join(words), " ".join(words[:100] * 400), "ab " * 30_000, "x" * 600_000):
        assert_same(native, text)
    assert native.simhash_of(EDGES[5]) == before


def test_the_memo_starting_over(native: Any) -> None:
    # About 200k distinct words, short and long, through the shared memo (32768 words): its table
    # grows, it starts over several times, between texts only, and every text still hashes all
    # of its words; words seen before are found again after the table grew.
    early = " ".join(f"early_long_word_{i} e{i}" for i in range(50))
    first = native.simhash_of(early)
    for start in range(0, 200_000, 1000):
        text = " ".join(f"t{start + i} common long_word_{start + i}" for i in range(500))
        assert_same(native, text)
        assert_same(native, "common words again and again " + text[:50])
        assert native.simhash_of(early) == first


WORDS = st.sampled_from(
    ["great", "Hotel", "ROOM", "clean", "staff_1", "rude", "bed", "x", "_", "42", "a1b2", "z" * 200]
)
SEPARATORS = st.text(
    alphabet=" \t\n.,;:!?'\"-()[]{}*/\\@#$%^&+=<>|~`\x00\x7f", min_size=1, max_size=4
)
ASCII = st.characters(max_codepoint=127)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=ASCII, max_size=400))
def test_any_ascii_text(native: Any, text: str) -> None:
    assert_same(native, text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(WORDS, SEPARATORS), max_size=60))
def test_word_salads(native: Any, parts: list[tuple[str, str]]) -> None:
    assert_same(native, "".join(word + sep for word, sep in parts))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=12),
        min_size=0,
        max_size=2000,
    ),
    SEPARATORS,
)
def test_long_texts_of_random_words(native: Any, words: list[str], sep: str) -> None:
    assert_same(native, sep.join(words))


@pytest.mark.shared_data
def test_every_shared_text(native: Any, shared_data: Path) -> None:
    texts = shared_texts(shared_data)
    ascii_texts = sum(text.isascii() for text in texts)
    assert ascii_texts > len(texts) // 2  # the C path is what runs on them
    for text in texts:
        assert_same(native, text)

"""The faster scoring code gives exactly what the plain definitions it replaced gave.

Each `old_*` below is the earlier code, kept verbatim as the definition; the tests compare it with
the current code on every text of the shared data and on generated inputs (ASCII-heavy, since the
fast paths are ASCII ones, and arbitrary Unicode).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.scoring.text_fingerprint import normalise, simhash_of

ASCII_TEXT = st.text(alphabet=st.characters(max_codepoint=127), max_size=400)
ANY_TEXT = st.text(max_size=300)
# Review-like ASCII: words, digits, apostrophes, punctuation runs, emoticons, odd spacing.
_PIECES = (
    "Great", "HOTEL", "room", "don't", "rock'n'roll", "'tis", "it''s", "5", "x2",
    "under_score", "!!!", "?!", "!", ":)", ":-(", ";P", "=D", "<3", ":", ";", "=",
    "<", "-", ",", ".", " ", "  ", "\t", "\n", "\x1f", "never", "best", "the",
    "AMAZING", "amazing", "a", "I", "caf\u00e9", "\u00c9NORME", "\U0001f600",
)  # fmt: skip
REVIEW_TEXT = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)


def shared_texts(shared_data: Path) -> list[str]:
    texts: list[str] = []
    for name in ("ott_folds1-4.csv", "salminen_subset.csv"):
        with (shared_data / "text" / name).open(newline="", encoding="utf-8") as f:
            texts.extend(row["text"] for row in csv.DictReader(f))
    assert len(texts) > 7000
    return texts


# --- service/scoring/text_fingerprint.py --------------------------------------------------------

_OLD_WORD = re.compile(r"\w+", re.UNICODE)


def old_normalise(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    if not folded.isascii():
        folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _OLD_WORD.findall(folded)


@settings(max_examples=500, deadline=None)
@given(st.one_of(ASCII_TEXT, ANY_TEXT, REVIEW_TEXT))
def test_normalise_as_before(text: str) -> None:
    assert normalise(text) == old_normalise(text)


def test_normalise_every_ascii_character() -> None:
    text = "".join(map(chr, range(128))) * 2
    assert normalise(text) == old_normalise(text)


@pytest.mark.shared_data
def test_normalise_and_simhash_as_before_on_every_shared_text(shared_data: Path) -> None:
    from tests.unit.test_simhash_reference import reference_simhash

    for text in shared_texts(shared_data):
        assert normalise(text) == old_normalise(text)
        assert simhash_of(text) == reference_simhash(text)

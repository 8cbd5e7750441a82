"""simhash_of (numpy bit counting) equals the plain per-bit definition of SimHash, bit for bit."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.scoring.text_fingerprint import MIN_WORDS, SIMHASH_BITS, normalise, simhash_of


def reference_simhash(text: str | None) -> int | None:
    """The definition: per bit, +1 for each distinct word whose hash has it, -1 otherwise."""
    if not text:
        return None
    words = normalise(text)
    if len(words) < MIN_WORDS:
        return None
    weights = [0] * SIMHASH_BITS
    for word in set(words):
        value = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        for bit in range(SIMHASH_BITS):
            weights[bit] += 1 if value >> bit & 1 else -1
    return sum(1 << bit for bit in range(SIMHASH_BITS) if weights[bit] > 0)


WORDS = st.sampled_from(
    ["great", "hotel", "room", "clean", "staff", "rude", "Café", "naïve", "bed", "view", "x"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, min_size=0, max_size=40).map(" ".join))
def test_equals_the_definition_on_word_salads(text: str) -> None:
    assert simhash_of(text) == reference_simhash(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_equals_the_definition_on_any_text(text: str) -> None:
    assert simhash_of(text) == reference_simhash(text)


def test_ties_leave_the_bit_clear() -> None:
    # Two distinct words: every bit where their hashes differ has weight 0, so it stays clear.
    text = "alpha beta alpha beta alpha beta"
    h = simhash_of(text)
    assert h is not None and h == reference_simhash(text)
    a, b = (
        int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "big")
        for w in ("alpha", "beta")
    )
    assert h == a & b


@pytest.mark.shared_data
def test_equals_the_definition_on_real_reviews(shared_data: Path) -> None:
    path = shared_data / "text" / "ott_folds1-4.csv"
    with path.open(newline="", encoding="utf-8") as f:
        texts = [row["text"] for _, row in zip(range(300), csv.DictReader(f), strict=False)]
    assert texts
    for text in texts:
        assert simhash_of(text) == reference_simhash(text)

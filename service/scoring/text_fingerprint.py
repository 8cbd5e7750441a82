"""SimHash of a review's normalised text, its LSH bands, and the near-duplicate test."""

from __future__ import annotations

import hashlib
import re
import unicodedata

SIMHASH_BITS = 64
BANDS = 4
BAND_BITS = SIMHASH_BITS // BANDS
# Two texts are near-duplicates at Hamming distance <= 3: by pigeonhole they then share at least
# one of the 4 16-bit bands exactly, so looking up the 4 band buckets finds every such pair.
MAX_DUPLICATE_DISTANCE = BANDS - 1
# Words as tokens (a bag of words): robust to reordering and punctuation; on 64 bits, one word
# edited in ~15 already moves a few bits, so this catches copies and light edits, not rewrites.
SHINGLE_WORDS = 1
# Shorter texts ("Great hotel!") are too common among honest reviewers to call a copy.
MIN_WORDS = 6

_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> list[str]:
    """Lower-case words of ``text``, accents folded, punctuation and spacing ignored."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(folded)


def simhash_of(text: str | None) -> int | None:
    """64-bit SimHash over the distinct words; None for a text under ``MIN_WORDS`` words."""
    if not text:
        return None
    words = normalise(text)
    if len(words) < MIN_WORDS:
        return None
    weights = [0] * SIMHASH_BITS
    shingles = {
        " ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)
    }
    for shingle in shingles:
        value = int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "big")
        for bit in range(SIMHASH_BITS):
            weights[bit] += 1 if value >> bit & 1 else -1
    return sum(1 << bit for bit in range(SIMHASH_BITS) if weights[bit] > 0)


def bands_of(simhash: int) -> tuple[str, ...]:
    """The band bucket names: band index + its 16 bits as hex (``"2:a3f0"``)."""
    mask = (1 << BAND_BITS) - 1
    return tuple(f"{i}:{simhash >> (i * BAND_BITS) & mask:04x}" for i in range(BANDS))


def simhash_hex(simhash: int) -> str:
    return f"{simhash:016x}"


def is_near_duplicate(a: int, b: int) -> bool:
    return (a ^ b).bit_count() <= MAX_DUPLICATE_DISTANCE

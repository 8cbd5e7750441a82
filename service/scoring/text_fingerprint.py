"""SimHash of a review's normalised text, its LSH bands, and the near-duplicate test."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable

import numpy as np

from service.native import load

_NATIVE = load("simhash")

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
# ASCII text (nearly all of it): casefold is lower-casing, NFKD changes nothing, and `\w` is
# [A-Za-z0-9_]; so one translate (lower-case, anything else to a space) and a split give the
# same words as the regex, in a third of the time.
_ASCII_WORD_CHARS = str.maketrans(
    {c: chr(c).lower() if chr(c).isalnum() or chr(c) == "_" else " " for c in range(128)}
)


def normalise(text: str) -> list[str]:
    """Lower-case words of ``text``, accents folded, punctuation and spacing ignored."""
    if text.isascii():
        return text.translate(_ASCII_WORD_CHARS).split()
    folded = unicodedata.normalize("NFKD", text.casefold())
    if not folded.isascii():  # ASCII has no combining marks: skip the per-character pass
        folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(folded)


_DIGEST_MEMO_SIZE = 1 << 15


class _DigestMemo(dict[str, bytes]):
    """Words recur across reviews: a bounded memo of their 8-byte hashes (about 6 MB when full).
    A plain dict read (``memo[word]``) costs less than an lru_cache call; when full it starts
    over, which only costs recomputing a few hashes."""

    def __missing__(self, shingle: str) -> bytes:
        if len(self) >= _DIGEST_MEMO_SIZE:
            self.clear()
        digest = self[shingle] = hashlib.blake2b(shingle.encode(), digest_size=8).digest()
        return digest


_DIGESTS = _DigestMemo()


def simhash_of_python(text: str | None) -> int | None:
    """64-bit SimHash over the distinct words; None for a text under ``MIN_WORDS`` words (the
    reference for service/native/simhash.c, and what it runs for non-ASCII text)."""
    if not text:
        return None
    words = normalise(text)
    if len(words) < MIN_WORDS:
        return None
    if SHINGLE_WORDS == 1:  # a one-word shingle is the word itself
        shingles = set(words)
    else:
        shingles = {
            " ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)
        }
    # Each bit's weight is (+1 per shingle hash with the bit set, -1 per one without), so the bit
    # is set when more than half of the hashes have it. Counted with numpy over the 8-byte
    # big-endian digests (columns: bit 63 first), with words hashed once: about 1/7 of the time.
    digests = b"".join(map(_DIGESTS.__getitem__, shingles))
    if _NATIVE is not None:
        return int(_NATIVE.majority(digests))
    return majority_vote(digests, len(shingles))


simhash_of: Callable[[str | None], int | None] = simhash_of_python
if _NATIVE is not None and _NATIVE.MIN_WORDS == MIN_WORDS and SHINGLE_WORDS == 1:
    # All of simhash_of for ASCII text in C (tokens, distinct words, BLAKE2b, vote): about 1/6 of
    # the time; other text goes back to simhash_of_python.
    _NATIVE.set_fallback(simhash_of_python)
    simhash_of = _NATIVE.simhash_of


def majority_vote(digests: bytes, n: int) -> int:
    """Bit k set when more than half of the ``n`` 8-byte big-endian ``digests`` have it (the
    reference for service/native/simhash.c)."""
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8)).reshape(-1, SIMHASH_BITS)
    counts = np.add.reduce(bits, axis=0, dtype=np.int64)
    return int.from_bytes(np.packbits(counts * 2 > n).tobytes(), "big")


def bands_of(simhash: int) -> tuple[str, ...]:
    """The band bucket names: band index + its 16 bits as hex (``"2:a3f0"``)."""
    mask = (1 << BAND_BITS) - 1
    return tuple(f"{i}:{simhash >> (i * BAND_BITS) & mask:04x}" for i in range(BANDS))


def simhash_hex(simhash: int) -> str:
    return f"{simhash:016x}"


def is_near_duplicate(a: int, b: int) -> bool:
    return (a ^ b).bit_count() <= MAX_DUPLICATE_DISTANCE

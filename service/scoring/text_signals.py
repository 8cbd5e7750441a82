"""Descriptive signals of review text a person recognises: punctuation, extremes, repetition."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from operator import itemgetter

from service.native import load

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_EXCLAIM_RUN = re.compile(r"[!?]{2,}")
_EMOJI = "\U0001f300-\U0001faff\u2600-\u27bf"
# Emoticons and emoji: the matches of (?::|;|=)-?[)(DPp]|<3|[emoji], written for a fast search.
# Every match starts with one of [:;=<] or an emoji, so the pattern leads with that character
# class (the regex engine then skips to candidates instead of trying each position), and the
# look-behinds pick the branch that character began: 2-3 times faster than the plain pattern.
EMOTICON = re.compile(rf"[:;=<{_EMOJI}](?:(?<=[:;=])-?[)(DPp]|(?<=<)3|(?<=[{_EMOJI}]))")
# ASCII text: lower-cased letters, apostrophes kept, anything else a space. Words then are the
# split pieces, as long as every apostrophe sits between two letters and no piece has two (as in
# "don't"); otherwise ("rock'n'roll", "'tis", "it''s") each piece with an apostrophe is split by
# _WORD itself, which sees the same letters and apostrophes as it would in the whole text.
_ODD_APOSTROPHE = re.compile(r"'(?:(?<![a-z]')|(?![a-z])|[a-z]*')")
_ASCII_LETTERS_APOSTROPHES = str.maketrans(
    {c: chr(c).lower() if chr(c).isalpha() else "'" if c == ord("'") else " " for c in range(128)}
)
_ASCII_UPPER_ONLY = str.maketrans(dict.fromkeys(c for c in range(128) if not chr(c).isupper()))
_COUNT = itemgetter(1)
_EXTREME_WORDS = frozenset(
    [
        "amazing",
        "awesome",
        "best",
        "perfect",
        "excellent",
        "fantastic",
        "incredible",
        "outstanding",
        "superb",
        "wonderful",
        "greatest",
        "love",
        "loved",
        "flawless",
        "phenomenal",
        "terrible",
        "worst",
        "horrible",
        "awful",
        "disgusting",
        "useless",
        "pathetic",
        "garbage",
        "trash",
        "scam",
        "never",
        "always",
        "absolutely",
        "totally",
        "must",
        "highly",
    ]
)
_STOP_WORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "is",
        "it",
        "this",
        "that",
        "was",
        "were",
        "be",
        "been",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "they",
        "them",
        "their",
        "he",
        "she",
        "his",
        "her",
        "its",
        "as",
        "so",
        "very",
        "just",
        "are",
        "have",
        "has",
        "had",
        "not",
        "no",
        "do",
        "did",
        "from",
        "by",
        "if",
        "then",
        "than",
        "too",
        "also",
        "there",
        "here",
        "what",
        "which",
        "who",
        "all",
        "any",
        "can",
        "will",
        "would",
    ]
)


# The C counting core (service/native/textsignals.c), given the word lists once: None when it is
# not built or REVIEWGUARD_NATIVE=0.
_NATIVE = load("textsignals")
if _NATIVE is not None:
    _NATIVE.configure(_EXTREME_WORDS, _STOP_WORDS)


@dataclass(frozen=True, slots=True)
class TextSignals:
    n_chars: int
    n_words: int
    exclamation_runs: int
    """Runs of two or more ! or ? ("!!!", "?!")."""
    exclamations: int
    emoticons: int
    uppercase_share: float
    """Share of letters in upper case, over texts with at least 20 letters (else 0)."""
    extreme_share: float
    """Share of words that are superlatives or absolutes ("best", "worst", "never")."""
    top_word: str
    top_word_repeats: int
    """How often the most repeated content word occurs."""
    distinct_share: float
    """Distinct content words / content words (low: repetitive)."""


def _split_ascii_words(lowered: str) -> list[str]:
    words = lowered.split()
    if "'" not in lowered or _ODD_APOSTROPHE.search(lowered) is None:
        return words
    split: list[str] = []
    for word in words:
        if "'" in word:
            split += _WORD.findall(word)
        else:
            split.append(word)
    return split


def describe_text(text: str) -> TextSignals:
    if _NATIVE is not None:
        counts = _NATIVE.describe(text)  # None unless the text is ASCII
        if counts is not None:
            return TextSignals(len(text), *counts)
    return describe_text_python(text)


Counts = tuple[int, int, int, int, float, float, str, int, float]
"""TextSignals' fields after n_chars, in order, as a plain tuple."""


def describe_counts(text: str) -> Counts:
    """``describe_text(text)``'s fields after n_chars as a tuple: what fusion reads on every
    review, without building the frozen TextSignals (about as costly as describing the text)."""
    if _NATIVE is not None:
        counts: Counts | None = _NATIVE.describe(text)
        if counts is not None:
            return counts
    s = describe_text_python(text)
    return (
        s.n_words,
        s.exclamation_runs,
        s.exclamations,
        s.emoticons,
        s.uppercase_share,
        s.extreme_share,
        s.top_word,
        s.top_word_repeats,
        s.distinct_share,
    )


def describe_text_python(text: str) -> TextSignals:
    """describe_text in Python: the reference for service/native/textsignals.c, and what
    describes text the C code does not (non-ASCII, or when it is not built)."""
    # C-level passes (translate, split, count) and few regex searches: this runs on every review.
    if text.isascii():
        lowered = text.translate(_ASCII_LETTERS_APOSTROPHES)
        words = _split_ascii_words(lowered)
        # Every letter is in a word, so the letters are the lowered text less spaces and quotes.
        letters = len(lowered) - lowered.count(" ") - lowered.count("'")
        upper = len(text.translate(_ASCII_UPPER_ONLY))
        has_emoticon_chars = ":" in text or ";" in text or "=" in text or "<" in text
    else:
        words = _WORD.findall(text.lower())
        letters = sum(1 for c in text if c.isalpha())
        upper = sum(1 for c in text if c.isupper())
        has_emoticon_chars = True
    content = [w for w in words if w not in _STOP_WORDS and len(w) > 2]
    counts = Counter(content)
    # max() keeps the first of equal counts, as most_common(1) does.
    top_word, top_repeats = max(counts.items(), key=_COUNT) if counts else ("", 0)
    return TextSignals(
        n_chars=len(text),
        n_words=len(words),
        exclamation_runs=len(_EXCLAIM_RUN.findall(text)) if "!" in text or "?" in text else 0,
        exclamations=text.count("!"),
        emoticons=len(EMOTICON.findall(text)) if has_emoticon_chars else 0,
        uppercase_share=upper / letters if letters >= 20 else 0.0,
        extreme_share=sum(map(_EXTREME_WORDS.__contains__, words)) / len(words) if words else 0.0,
        top_word=top_word,
        top_word_repeats=top_repeats,
        distinct_share=len(counts) / len(content) if content else 1.0,
    )

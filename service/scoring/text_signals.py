"""Descriptive signals of review text a person recognises: punctuation, extremes, repetition."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_EXCLAIM_RUN = re.compile(r"[!?]{2,}")
_ASCII_UPPER = re.compile(r"[A-Z]")
_EMOTICON = re.compile(r"(?::|;|=)-?[)(DPp]|<3|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
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


def describe_text(text: str) -> TextSignals:
    # Regex passes and C-level counts only: this runs on every scored review.
    words = _WORD.findall(text.lower())
    content = [w for w in words if len(w) > 2 and w not in _STOP_WORDS]
    if text.isascii():
        letters = sum(map(len, words)) - sum(w.count("'") for w in words)
        upper = len(_ASCII_UPPER.findall(text))
    else:
        letters = sum(1 for c in text if c.isalpha())
        upper = sum(1 for c in text if c.isupper())
    counts = Counter(content)
    top_word, top_repeats = counts.most_common(1)[0] if counts else ("", 0)
    has_emoticon_chars = not text.isascii() or any(c in text for c in ":;=<")
    return TextSignals(
        n_chars=len(text),
        n_words=len(words),
        exclamation_runs=len(_EXCLAIM_RUN.findall(text)),
        exclamations=text.count("!"),
        emoticons=len(_EMOTICON.findall(text)) if has_emoticon_chars else 0,
        uppercase_share=upper / letters if letters >= 20 else 0.0,
        extreme_share=sum(1 for w in words if w in _EXTREME_WORDS) / len(words) if words else 0.0,
        top_word=top_word,
        top_word_repeats=top_repeats,
        distinct_share=len(counts) / len(content) if content else 1.0,
    )

"""The text analysis the ONNX graph performs, in Python: ASCII lowercasing, word and char n-grams.

Every rule here has an exact ONNX counterpart in export.py (StringNormalizer with the "C" locale,
Tokenizer, TfIdfVectorizer); the equality tests hold the two together.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# StringNormalizer(LOWER, locale="C") lowercases A-Z and nothing else, in any process locale.
_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
# The same pattern runs in RE2 (the ONNX Tokenizer) and Python's re: ASCII classes only.
WORD_PATTERN = "[a-z0-9]+"
_WORD = re.compile(WORD_PATTERN)
# Separates the words of a word n-gram feature name; no word token contains it.
WORD_JOIN = " "


def ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def word_tokens(text: str) -> list[str]:
    return _WORD.findall(ascii_lower(text))


def char_tokens(text: str) -> list[str]:
    return list(ascii_lower(text))


def ngrams(tokens: list[str], low: int, high: int, join: str) -> list[str]:
    out: list[str] = []
    for n in range(low, high + 1):
        out.extend(join.join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return out


@dataclass(frozen=True, slots=True)
class WordAnalyzer:
    """Word n-grams low..high; a picklable callable for CountVectorizer(analyzer=...)."""

    low: int
    high: int

    def __call__(self, text: str) -> list[str]:
        return ngrams(word_tokens(text), self.low, self.high, WORD_JOIN)


@dataclass(frozen=True, slots=True)
class CharAnalyzer:
    """Character (code point) n-grams low..high, whitespace and punctuation included."""

    low: int
    high: int

    def __call__(self, text: str) -> list[str]:
        chars = ascii_lower(text)
        out: list[str] = []
        for n in range(self.low, self.high + 1):
            out.extend(chars[i : i + n] for i in range(len(chars) - n + 1))
        return out


def feature_tokens(kind: str) -> Callable[[str], list[str]]:
    """How a feature name of a block splits back into the tokens the ONNX n-gram pool holds."""
    if kind == "word":
        return lambda name: name.split(WORD_JOIN)
    return list

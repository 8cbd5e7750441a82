"""The monitored quantities, their fixed bins, and profiles (counts per bin) of reference and live.

One definition serves both sides: `model profile` bins held-out training data with it, the service
bins live answers with it, so the two histograms always share their bins. Values outside the
numeric range fall into the first or last bin; a category never seen in the definition falls into
"other".
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from service.native import load
from service.scoring.fusion import GROUP_OF, Reason
from service.scoring.text_signals import EMOTICON

PROFILE_NAME = "reference_profile.json"
PROFILE_FORMAT = 1
Kind = Literal["numeric", "categorical"]
_LETTERS = re.compile(r"[^\W\d_]+")
"""Runs of letters: the words of the vocabulary and of the out-of-vocabulary share."""
# ASCII text, one translate: letters lower-cased, whitespace (what str.split splits on) to " ",
# anything else to "\x1f" (whitespace too, for split). The runs of letters are then the split
# pieces, the visible characters all but the spaces, the letters all but both.
_ASCII_LETTERS_SPACES = str.maketrans(
    {
        c: chr(c).lower() if chr(c).isalpha() else " " if chr(c).isspace() else "\x1f"
        for c in range(128)
    }
)


@dataclass(frozen=True, slots=True)
class Quantity:
    name: str
    kind: Kind
    edges: tuple[float, ...] = ()
    """numeric: inner bin edges; bin i holds edges[i-1] <= x < edges[i] (clipped at the ends)."""
    categories: tuple[str, ...] = ()
    """categorical: the known values; one more bin, "other", follows them."""
    lo: float = 0.0
    hi: float = 1.0
    """numeric: the range the end bins are closed at (for their centres)."""

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.categories) + 1

    @property
    def labels(self) -> tuple[str, ...]:
        if self.kind == "categorical":
            return (*self.categories, "other")
        bounds = (self.lo, *self.edges, self.hi)
        return tuple(f"{bounds[i]:g}..{bounds[i + 1]:g}" for i in range(self.n_bins))

    @property
    def centres(self) -> tuple[float, ...]:
        bounds = (self.lo, *self.edges, self.hi)
        return tuple((bounds[i] + bounds[i + 1]) / 2 for i in range(len(bounds) - 1))

    @property
    def min_width(self) -> float:
        bounds = (self.lo, *self.edges, self.hi)
        return min(bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1))

    def bin_of(self, value: float | str) -> int:
        if self.kind == "categorical":
            try:
                return self.categories.index(str(value))
            except ValueError:
                return len(self.categories)
        x = float(value)
        if math.isnan(x):
            return 0
        return bisect_right(self.edges, x)


def _steps(lo: float, hi: float, n: int) -> tuple[float, ...]:
    return tuple(round(lo + (hi - lo) * i / n, 6) for i in range(1, n))


GROUPS: tuple[str, ...] = tuple(sorted(set(GROUP_OF.values())))
_CONTRIBUTION_NAMES = tuple(f"contribution_{group}" for group in GROUPS)
_NO_CONTRIBUTION_BY_NAME = dict.fromkeys(_CONTRIBUTION_NAMES, 0.0)
_CONTRIBUTION_NAME_OF = {code: f"contribution_{group}" for code, group in GROUP_OF.items()}
CONTRIBUTION_NAMES = _CONTRIBUTION_NAMES
"""The contribution quantities' names, in GROUPS order."""
CONTRIBUTION_INDEX: dict[str, int] = {code: GROUPS.index(group) for code, group in GROUP_OF.items()}
"""A reason code's group as its index in GROUPS (codes without a group are not in it)."""
DECISIONS = ("allow", "review", "reject")

QUANTITIES: tuple[Quantity, ...] = (
    Quantity("text_score", "numeric", _steps(0, 1, 20)),
    Quantity("risk", "numeric", _steps(0, 1, 20)),
    Quantity("decision", "categorical", categories=DECISIONS),
    *(
        Quantity(f"contribution_{group}", "numeric", _steps(-3, 3, 24), lo=-3, hi=3)
        for group in GROUPS
    ),
    Quantity(
        "text_length",
        "numeric",
        (10, 25, 50, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200, 5000),
        lo=0,
        hi=8000,
    ),
    Quantity("text_nonletter_share", "numeric", _steps(0, 0.3, 30), hi=0.3),
    Quantity("text_exclamation_density", "numeric", _steps(0, 5, 20), hi=5),
    Quantity("text_emoji_density", "numeric", _steps(0, 5, 20), hi=5),
    Quantity("text_oov_share", "numeric", _steps(0, 1, 20)),
)
BY_NAME: dict[str, Quantity] = {q.name: q for q in QUANTITIES}


@dataclass(frozen=True, slots=True)
class TextDescriptors:
    length: int
    nonletter_share: float
    """Share of the non-space characters that are not letters (digits, punctuation, symbols)."""
    exclamation_density: float
    """'!' per 100 characters."""
    emoji_density: float
    """Emoji and emoticons per 100 characters."""
    oov_share: float | None
    """Share of the words outside the training vocabulary (None without a vocabulary or words)."""


# The C core of describe (service/native/monitortext.c): None when it is not built or
# REVIEWGUARD_NATIVE=0. It takes a vocabulary as a lookup table built once per vocabulary object:
# the last one is kept here with the frozenset it was built from (held, so its id stays its own).
_NATIVE = load("monitortext")
_native_vocabulary: tuple[frozenset[str], object] | None = None


def _native_table(vocabulary: frozenset[str]) -> object:
    global _native_vocabulary
    cached = _native_vocabulary
    if cached is not None and cached[0] is vocabulary:
        return cached[1]
    assert _NATIVE is not None
    table: object = _NATIVE.vocabulary(vocabulary)
    _native_vocabulary = (vocabulary, table)
    return table


NativeFields = tuple[float, float, float, float | None]


def _native_fields(text: str, vocabulary: frozenset[str] | None) -> NativeFields | None:
    """TextDescriptors' fields after length from C; None unless the text is ASCII and C runs."""
    if _NATIVE is None:
        return None
    if vocabulary is None:
        plain: NativeFields | None = _NATIVE.describe(text, None)
        return plain
    if type(vocabulary) is not frozenset:
        return None
    cached = _native_vocabulary  # _native_table's look-up, inlined: this runs on every answer
    table = cached[1] if cached is not None and cached[0] is vocabulary else None
    if table is None:
        table = _native_table(vocabulary)
    fields: NativeFields | None = _NATIVE.describe(text, table)
    return fields


def native_observer(vocabulary: frozenset[str] | None) -> tuple[Callable[..., int], object] | None:
    """The C core of LiveProfile.observe (monitortext.observe) and the vocabulary table to give
    it, resolved once; None when _native_fields would not use C for this vocabulary."""
    if _NATIVE is None or (vocabulary is not None and type(vocabulary) is not frozenset):
        return None
    return _NATIVE.observe, None if vocabulary is None else _native_table(vocabulary)


def python_fields(text: str, vocabulary: frozenset[str] | None) -> NativeFields:
    """describe_python's fields after length, as _native_fields gives them."""
    d = describe_python(text, vocabulary)
    return d.nonletter_share, d.exclamation_density, d.emoji_density, d.oov_share


def describe(text: str, vocabulary: frozenset[str] | None) -> TextDescriptors:
    """This runs on every answer: in C for ASCII text when built, else describe_python."""
    fields = _native_fields(text, vocabulary)
    if fields is not None:
        return TextDescriptors(len(text), *fields)
    return describe_python(text, vocabulary)


def describe_python(text: str, vocabulary: frozenset[str] | None) -> TextDescriptors:
    """describe in Python: the reference for service/native/monitortext.c, and what describes
    text the C code does not (non-ASCII, a vocabulary not a frozenset, or when it is not built).
    C-level passes, no Python loop over characters."""
    ascii_text = text.isascii()
    if ascii_text:
        lowered = text.translate(_ASCII_LETTERS_SPACES)
        words = lowered.split()
        visible = len(lowered) - lowered.count(" ")
        letters = visible - lowered.count("\x1f")
    else:
        words = _LETTERS.findall(text.lower())
        letters = sum(map(len, words))
        visible = sum(map(len, text.split()))
    per_100 = 100 / max(1, len(text))
    oov: float | None = None
    if vocabulary and words:
        known = sum(map(vocabulary.__contains__, words))
        oov = 1 - known / len(words)
    emoticons = 0
    if not ascii_text or ":" in text or ";" in text or "=" in text or "<" in text:
        emoticons = len(EMOTICON.findall(text))
    return TextDescriptors(
        length=len(text),
        nonletter_share=(visible - letters) / visible if visible else 0.0,
        exclamation_density=text.count("!") * per_100,
        emoji_density=emoticons * per_100,
        oov_share=oov,
    )


def words_of(text: str) -> list[str]:
    return [w.lower() for w in _LETTERS.findall(text)]


def observations(
    *,
    text: str | None,
    text_probability: float | None,
    risk: float,
    decision: str,
    reasons: Iterable[Reason],
    vocabulary: frozenset[str] | None,
) -> list[tuple[str, float | str]]:
    """(quantity, value) pairs of one answer; text quantities only when there is text."""
    values: list[tuple[str, float | str]] = [("risk", risk), ("decision", decision)]
    if text_probability is not None:
        values.append(("text_score", text_probability))
    # The contributions summed per group in the order of the reasons, keyed by quantity name.
    by_name = _NO_CONTRIBUTION_BY_NAME.copy()
    name_of = _CONTRIBUTION_NAME_OF.get
    for reason in reasons:
        name = name_of(reason.code)
        if name is not None:
            by_name[name] += reason.contribution
    values += by_name.items()
    if text:
        fields = _native_fields(text, vocabulary)
        if fields is not None:  # describe's fields after length, from C
            nonletter_share, exclamation_density, emoji_density, oov_share = fields
        else:
            d = describe_python(text, vocabulary)
            nonletter_share, exclamation_density = d.nonletter_share, d.exclamation_density
            emoji_density, oov_share = d.emoji_density, d.oov_share
        values += (
            ("text_length", len(text)),
            ("text_nonletter_share", nonletter_share),
            ("text_exclamation_density", exclamation_density),
            ("text_emoji_density", emoji_density),
        )
        if oov_share is not None:
            values.append(("text_oov_share", oov_share))
    return values


@dataclass
class Histograms:
    """Counts per bin of every quantity (mutable accumulator)."""

    counts: dict[str, list[int]] = field(
        default_factory=lambda: {q.name: [0] * q.n_bins for q in QUANTITIES}
    )

    def add(self, name: str, value: float | str, n: int = 1) -> None:
        self.counts[name][BY_NAME[name].bin_of(value)] += n

    def add_bin(self, name: str, index: int, n: int) -> None:
        if name in self.counts and 0 <= index < len(self.counts[name]):
            self.counts[name][index] += n

    def total(self, name: str) -> int:
        return sum(self.counts[name])

    def to_json(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in self.counts.items()}


@dataclass(frozen=True)
class ReferenceProfile:
    histograms: Histograms
    vocabulary: frozenset[str]
    integrity: Mapping[str, Any]
    meta: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "meta": dict(self.meta),
            "quantities": {
                q.name: {
                    "kind": q.kind,
                    "labels": list(q.labels),
                    "counts": self.histograms.counts[q.name],
                }
                for q in QUANTITIES
            },
            "integrity": dict(self.integrity),
            "vocabulary": sorted(self.vocabulary),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        if data.get("format") != PROFILE_FORMAT:
            raise ValueError(f"unknown reference profile format {data.get('format')!r}")
        histograms = Histograms()
        for name, entry in data["quantities"].items():
            q = BY_NAME.get(name)
            if q is None or list(q.labels) != entry["labels"]:
                continue  # bins changed since the profile was written: not comparable
            histograms.counts[name] = [int(c) for c in entry["counts"]]
        return cls(
            histograms=histograms,
            vocabulary=frozenset(data.get("vocabulary", ())),
            integrity=data.get("integrity", {}),
            meta=data.get("meta", {}),
        )

    @classmethod
    def load(cls, artifact_dir: Path) -> ReferenceProfile | None:
        path = artifact_dir / PROFILE_NAME
        if not path.is_file():
            return None
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def canonical_bytes(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def summary(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {"min": ordered[0], "p01": q(0.01), "p50": q(0.5), "p99": q(0.99), "max": ordered[-1]}

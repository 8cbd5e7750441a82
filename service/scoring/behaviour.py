"""The fitted behaviour model: an additive, binned logistic model over Features, one term per group.

Each feature maps to a weight by the bin its value falls in (a scorecard). A group's term is the
sum of its features' weights minus their mean over the training data, so that a typical review's
terms are near zero and each term reads as a log-likelihood ratio. The model is fitted offline by
`model/` on labelled behaviour (YelpChi) and shipped as JSON; nothing here imports a training
library.
"""

from __future__ import annotations

import json
import math
import struct
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.native import load
from service.scoring.features import Features

# The scorecard's sums in C (service/native/fusionkit.c): None when not built or turned off.
_NATIVE = load("fusionkit")


@dataclass(frozen=True, slots=True)
class BinnedFeature:
    name: str
    group: str
    edges: tuple[float, ...]
    weights: tuple[float, ...]  # len(edges) + 1
    missing_weight: float
    center: float

    def term(self, value: float | int | bool | None) -> float:
        if value is None:
            return self.missing_weight - self.center
        return self.weights[bisect_right(self.edges, float(value))] - self.center


@dataclass(frozen=True, slots=True)
class BehaviourModel:
    version: str
    base_rate: float
    """The share of fakes in the data it was fitted on; terms are log-likelihood ratios vs it."""
    offset: float
    """Fitted intercept + sum of centers - logit(base_rate): the log-odds of a review whose every
    term is zero, relative to the base rate (small for a well-calibrated fit)."""
    features: tuple[BinnedFeature, ...]
    groups: tuple[str, ...]
    manifest: Mapping[str, Any]
    _native: tuple[tuple[str, ...], bytes] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """The feature names and the table fusionkit.scorecard reads (see _scorecard_table)."""

    def __post_init__(self) -> None:
        table = _scorecard_table(self.features, self.groups) if _NATIVE is not None else None
        object.__setattr__(self, "_native", table)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BehaviourModel:
        features = tuple(
            BinnedFeature(
                name=f["name"],
                group=f["group"],
                edges=tuple(f["edges"]),
                weights=tuple(f["weights"]),
                missing_weight=f["missing_weight"],
                center=f["center"],
            )
            for f in data["features"]
        )
        known = set(Features.__dataclass_fields__)
        unknown = [f.name for f in features if f.name not in known]
        if unknown:
            raise ValueError(f"behaviour model uses unknown features: {unknown}")
        for f in features:
            if len(f.weights) != len(f.edges) + 1:
                raise ValueError(f"feature {f.name}: {len(f.edges)} edges need one more weight")
        groups = tuple(dict.fromkeys(f.group for f in features))
        return cls(
            data["version"],
            float(data["base_rate"]),
            float(data["offset"]),
            features,
            groups,
            data.get("manifest", {}),
        )

    @classmethod
    def load(cls, path: Path) -> BehaviourModel:
        return cls.from_dict(json.loads(path.read_text()))

    def group_terms(self, features: Features) -> dict[str, float]:
        """Each group's term: the sum of its features' terms, in feature order, from 0.0."""
        return dict(zip(self.groups, self.group_values(features), strict=True))

    def group_values(self, features: Features) -> tuple[float, ...]:
        """``group_terms(features)``'s values, in the order of ``groups``."""
        native = self._native
        if native is not None:
            values: tuple[float, ...] = _NATIVE.scorecard(  # type: ignore[union-attr]
                features, native[0], native[1], len(self.groups)
            )
            return values
        return tuple(self.group_terms_python(features).values())

    def group_terms_python(self, features: Features) -> dict[str, float]:
        """group_terms in Python: the reference for fusionkit.scorecard, and its fallback."""
        terms = dict.fromkeys(self.groups, 0.0)
        for f in self.features:  # BinnedFeature.term, inlined: this runs on every review
            value = getattr(features, f.name)
            if value is None:
                terms[f.group] += f.missing_weight - f.center
            else:
                terms[f.group] += f.weights[bisect_right(f.edges, float(value))] - f.center
        return terms

    def log_odds(self, features: Features) -> float:
        """Log-odds of fake on the fitting data (its own base rate)."""
        return _logit(self.base_rate) + self.offset + sum(self.group_terms(features).values())


_EXACT = 2.0**53


def _scorecard_table(
    features: tuple[BinnedFeature, ...], groups: tuple[str, ...]
) -> tuple[tuple[str, ...], bytes] | None:
    """What fusionkit.scorecard reads: the names, and per feature the doubles group index,
    number of edges, missing term, edges, bin terms (each term the very subtraction the Python
    code does per review). None (the Python code runs) unless every edge is a float (or an int
    a double holds exactly), every term a float and there are at most 64 groups: then the C
    comparisons and sums are the Python ones."""
    if len(groups) > 64:
        return None
    index = {group: i for i, group in enumerate(groups)}
    doubles: list[float] = []
    for f in features:
        missing = f.missing_weight - f.center
        terms = [w - f.center for w in f.weights]
        if type(missing) is not float or any(type(t) is not float for t in terms):
            return None
        for e in f.edges:
            if not (type(e) is float or (type(e) is int and abs(e) <= _EXACT)):
                return None
        doubles += [float(index[f.group]), float(len(f.edges)), missing]
        doubles += [float(e) for e in f.edges]
        doubles += terms
    return tuple(f.name for f in features), struct.pack(f"={len(doubles)}d", *doubles)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))

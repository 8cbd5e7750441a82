"""Fit the behaviour part of the fusion on labelled behaviour events (YelpChi): a binned scorecard.

The events are replayed in time order through the service's own feature definitions (the in-memory
twin of the Redis scripts), each day recorded first and then read, so that a review's features hold
what was known when it arrived and what else arrived that same day (dates carry no time). A logistic
regression over one-hot bins of each feature gives every bin a weight; the service adds them up per
group (service/scoring/behaviour.py), so each group's term is one reason's contribution.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby, pairwise
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.data import sha256_file
from service.features.memory import MemoryFeatureState
from service.scoring.behaviour import BehaviourModel
from service.scoring.features import Features
from service.scoring.review import Account, Device, Review

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EVENTS = ROOT.parent / "shared" / "data" / "behavior" / "yelpchi.csv"
DEFAULT_OUT = ROOT / "model" / "artifacts" / "behaviour-default" / "behaviour.json"
# Replays keep ten years of history, the whole span of the data: an account's record is the
# strongest behaviour signal there is. The replay command uses the same horizon, so fitting and
# replay agree.
REPLAY_RETENTION_DAYS = 3650
REPLAY_HMAC_KEY = b"replay-only-key"

# Which features the scorecard uses, and the reason group each belongs to.
GROUPS: dict[str, tuple[str, ...]] = {
    "ACCOUNT_HISTORY": (
        "account_reviews_before",
        "account_mean_rating_before",
        "account_extreme_share_before",
        "account_rating_deviation_before",
        "account_history_days",
    ),
    "VELOCITY_ACCOUNT": ("account_reviews_24h", "account_reviews_7d"),
    "RATING": ("rating_deviation", "is_extreme_rating", "product_mean_rating_before"),
    "PRODUCT_PATTERN": (
        "product_burst_ratio",
        "burst_extreme_share",
        "product_reviews_24h",
        "product_reviews_before",
    ),
}
MAX_BINS = 8
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


@dataclass(frozen=True, slots=True)
class Event:
    review: Review
    is_fake: bool
    day: str


def read_events(path: Path) -> list[Event]:
    """Behaviour CSV (user_id, product_id, rating, date, label; optional text, device_id, ip)."""
    events = []
    with path.open(newline="", encoding="utf-8") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            day = row["date"][:10]
            t = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp()
            device = Device(fingerprint=row.get("device_id") or None, ip=row.get("ip") or None)
            review = Review(
                review_id=row.get("review_id") or f"row-{i}",
                product_id=row["product_id"],
                rating=int(float(row["rating"])),  # "5" and "5.0" alike
                submitted_at=t,
                account=Account(id=row["user_id"]),
                device=device,
                text=row.get("text") if "text" in row else None,
            )
            events.append(Event(review, row["label"].strip().lower() == "fake", day))
    events.sort(key=lambda e: e.day)  # stable: rows of one day keep their file order
    return events


def by_day(events: Sequence[Event]) -> Iterator[list[Event]]:
    for _, day_events in groupby(events, key=lambda e: e.day):
        yield list(day_events)


def replay_features(
    events: Sequence[Event], retention_days: int = REPLAY_RETENTION_DAYS
) -> list[Features]:
    """Features of every event as the service would have seen them, one day at a time."""
    state = MemoryFeatureState(REPLAY_HMAC_KEY, retention_s=retention_days * 86400)
    out: list[Features] = []
    for day_events in by_day(events):
        for e in day_events:
            state.observe(e.review)  # record the whole day first ...
        out.extend(state.observe(e.review) for e in day_events)  # ... then read, idempotently
    return out


def feature_names() -> list[str]:
    return [name for names in GROUPS.values() for name in names]


def column(rows: Sequence[Features], name: str) -> NDArray[np.float64]:
    values = [getattr(f, name) for f in rows]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def bin_edges(values: NDArray[np.float64]) -> list[float]:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    distinct = np.unique(present)
    if distinct.size <= MAX_BINS:
        return [float((a + b) / 2) for a, b in pairwise(distinct)]
    qs = np.quantile(present, np.linspace(0, 1, MAX_BINS + 1)[1:-1])
    return sorted({float(q) for q in qs})


@dataclass(frozen=True)
class Design:
    names: list[str]
    edges: dict[str, list[float]]

    def encode(self, rows: Sequence[Features]) -> NDArray[np.float64]:
        blocks = []
        for name in self.names:
            values = column(rows, name)
            edges = self.edges[name]
            idx = np.searchsorted(np.array(edges), values, side="right")
            block = np.zeros((len(rows), len(edges) + 2))
            missing = np.isnan(values)
            block[np.arange(len(rows))[~missing], idx[~missing]] = 1.0
            block[missing, -1] = 1.0
            blocks.append(block)
        return np.hstack(blocks)


def make_design(rows: Sequence[Features]) -> Design:
    names = feature_names()
    return Design(names, {n: bin_edges(column(rows, n)) for n in names})


def fit_logistic(x: NDArray[np.float64], y: NDArray[np.bool_], c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000).fit(x, y)


def choose_c(x: NDArray[np.float64], y: NDArray[np.bool_], groups: NDArray[Any]) -> float:
    """Inner cross-validation by user: the C with the best mean ROC AUC."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    scores = {}
    for c in C_GRID:
        aucs = []
        for train, test in GroupKFold(n_splits=3).split(x, y, groups):
            model = fit_logistic(x[train], y[train], c)
            aucs.append(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))
        scores[c] = float(np.mean(aucs))
    return max(scores, key=lambda c: scores[c])


def to_artifact(
    design: Design, model: Any, rows: Sequence[Features], base_rate: float, manifest: dict[str, Any]
) -> dict[str, Any]:
    coef = model.coef_[0]
    x = design.encode(rows)
    features = []
    offset = float(model.intercept_[0])
    start = 0
    for name in design.names:
        width = len(design.edges[name]) + 2
        weights = coef[start : start + width]
        center = float((x[:, start : start + width] @ weights).mean())
        offset += center
        group = next(g for g, names in GROUPS.items() if name in names)
        features.append(
            {
                "name": name,
                "group": group,
                "edges": design.edges[name],
                "weights": [round(float(w), 6) for w in weights[:-1]],
                "missing_weight": round(float(weights[-1]), 6),
                "center": round(center, 6),
            }
        )
        start += width
    offset -= math.log(base_rate / (1 - base_rate))
    body = {"base_rate": base_rate, "offset": round(offset, 6), "features": features}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {"version": f"behaviour-{digest[:7]}", **body, "manifest": manifest}


def evaluate_splits(rows: Sequence[Features], events: Sequence[Event]) -> dict[str, Any]:
    """Held out by user (5 folds) and by time (the last 30% of days): ROC AUC and PR AUC."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import GroupKFold

    y = np.array([e.is_fake for e in events])
    users = np.array([e.review.account.id for e in events])
    out: dict[str, Any] = {}
    scores = np.zeros(len(rows))
    for train, test in GroupKFold(n_splits=5).split(rows, y, users):
        train_rows = [rows[i] for i in train]
        design = make_design(train_rows)
        x_train = design.encode(train_rows)
        c = choose_c(x_train, y[train], users[train])
        model = fit_logistic(x_train, y[train], c)
        scores[test] = model.predict_proba(design.encode([rows[i] for i in test]))[:, 1]
    out["by_user_5fold"] = {
        "roc_auc": round(float(roc_auc_score(y, scores)), 4),
        "pr_auc": round(float(average_precision_score(y, scores)), 4),
    }
    days = sorted({e.day for e in events})
    cut_day = days[int(len(days) * 0.7)]
    train_idx = np.array([e.day < cut_day for e in events])
    train_rows = [r for r, t in zip(rows, train_idx, strict=True) if t]
    test_rows = [r for r, t in zip(rows, train_idx, strict=True) if not t]
    design = make_design(train_rows)
    x_train = design.encode(train_rows)
    model = fit_logistic(x_train, y[train_idx], choose_c(x_train, y[train_idx], users[train_idx]))
    p = model.predict_proba(design.encode(test_rows))[:, 1]
    out["by_time_last30pct"] = {
        "cut_day": cut_day,
        "n_test": int((~train_idx).sum()),
        "roc_auc": round(float(roc_auc_score(y[~train_idx], p)), 4),
        "pr_auc": round(float(average_precision_score(y[~train_idx], p)), 4),
    }
    return out


def fit(events_path: Path, out: Path, *, cross_validate: bool = True) -> dict[str, Any]:
    import sklearn

    events = read_events(events_path)
    rows = replay_features(events)
    y = np.array([e.is_fake for e in events])
    users = np.array([e.review.account.id for e in events])
    metrics = evaluate_splits(rows, events) if cross_validate else {}
    design = make_design(rows)
    x = design.encode(rows)
    c = choose_c(x, y, users)
    model = fit_logistic(x, y, c)
    manifest = {
        "kind": "behaviour scorecard (binned logistic regression)",
        "data": {
            "file": events_path.name,
            "sha256": sha256_file(events_path),
            "n": len(events),
            "fake_share": round(float(y.mean()), 4),
        },
        "params": {
            "groups": GROUPS,
            "max_bins": MAX_BINS,
            "C": c,
            "c_grid": list(C_GRID),
            "replay_retention_days": REPLAY_RETENTION_DAYS,
        },
        "metrics": metrics,
        "libraries": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "terms": "Fitted on YelpChi (Rayana & Akoglu, KDD 2015; Mukherjee et al., ICWSM 2013), "
        "research use only: a demonstration model. Fit your own labelled behaviour with "
        "`python -m model fit-behaviour --events your.csv`.",
    }
    artifact = to_artifact(design, model, rows, float(y.mean()), manifest)
    BehaviourModel.from_dict(artifact)  # the service can load what was written
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
    return artifact


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        type=Path,
        default=DEFAULT_EVENTS,
        help="behaviour CSV: user_id, product_id, rating, date, label",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validated figures")


def run(args: argparse.Namespace) -> int:
    artifact = fit(args.events, args.out, cross_validate=not args.no_cv)
    json.dump(
        {"version": artifact["version"], "metrics": artifact["manifest"]["metrics"]}, sys.stdout
    )
    sys.stdout.write("\n")
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model fit-behaviour")
    add_arguments(parser)
    return run(parser.parse_args(list(argv) if argv is not None else None))


if __name__ == "__main__":
    raise SystemExit(main())

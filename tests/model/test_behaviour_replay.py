"""The behaviour scorecard fit and the replay: deterministic, never looking ahead."""

from __future__ import annotations

import asyncio
import csv
import json
import random
from pathlib import Path

import pytest

from model.behaviour import fit, read_events, replay_features, sha256_file
from model.replay import replay, run_replay
from service.scoring.behaviour import BehaviourModel
from service.settings import DEFAULT_ARTIFACT_DIR, DEFAULT_BEHAVIOUR_PATH
from service.text_model import TextModel


def write_events(path: Path, n_users: int = 120, seed: int = 7) -> Path:
    """A small world: regulars review often and mildly; one-off accounts give extremes."""
    rng = random.Random(seed)
    rows = []
    for u in range(n_users):
        fake = u % 4 == 0
        n_reviews = 1 if fake else rng.randint(2, 6)
        for _ in range(n_reviews):
            day = rng.randint(1, 28)
            rating = rng.choice([1, 5]) if fake else rng.choice([3, 4, 4, 5])
            rows.append(
                {
                    "user_id": f"u{u}",
                    "product_id": f"p{rng.randint(0, 9)}",
                    "rating": rating,
                    "date": f"2012-02-{day:02d}",
                    "label": "fake" if fake else "genuine",
                }
            )
    rng.shuffle(rows)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["user_id", "product_id", "rating", "date", "label"]
        )
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_fitting_twice_gives_the_same_artifact_and_it_learns(tmp_path: Path) -> None:
    events = write_events(tmp_path / "events.csv")
    first = fit(events, tmp_path / "a.json", cross_validate=False)
    second = fit(events, tmp_path / "b.json", cross_validate=False)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert first["version"] == second["version"]
    model = BehaviourModel.load(tmp_path / "a.json")
    evs = read_events(events)
    rows = replay_features(evs)
    fake = [model.log_odds(f) for f, e in zip(rows, evs, strict=True) if e.is_fake]
    genuine = [model.log_odds(f) for f, e in zip(rows, evs, strict=True) if not e.is_fake]
    assert sum(fake) / len(fake) > sum(genuine) / len(genuine)
    manifest = first["manifest"]
    assert manifest["data"]["n"] == len(evs) and len(manifest["data"]["sha256"]) == 64
    assert "research use only" in manifest["terms"]


def test_replay_never_looks_past_the_day(tmp_path: Path, redis_url: str) -> None:
    events = write_events(tmp_path / "events.csv")
    with events.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    early = [r for r in rows if r["date"] <= "2012-02-14"]
    prefix = tmp_path / "prefix.csv"
    with prefix.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(early)
    full = run_replay(events, redis_url, retention_days=365)
    assert full["n"] == len(rows) and 0.5 < full["roc_auc"] <= 1.0
    assert full["events_per_s"] > 0 and full["model_version"].startswith("text-")

    # Scores of the first two weeks are the same whether or not the later weeks exist.

    classifier = TextModel.load(DEFAULT_ARTIFACT_DIR)
    behaviour = BehaviourModel.load(DEFAULT_BEHAVIOUR_PATH)
    all_events = read_events(events)
    prefix_events = read_events(prefix)
    risks_all, _ = asyncio.run(replay(all_events, redis_url, classifier, behaviour, 365))
    risks_prefix, _ = asyncio.run(replay(prefix_events, redis_url, classifier, behaviour, 365))
    assert risks_all[: len(risks_prefix)] == risks_prefix


@pytest.mark.slow
def test_committed_behaviour_artifact_is_reproducible(shared_data: Path, tmp_path: Path) -> None:
    events = shared_data / "behavior" / "yelpchi.csv"
    committed = json.loads(DEFAULT_BEHAVIOUR_PATH.read_text())
    assert committed["manifest"]["data"]["sha256"] == sha256_file(events)
    refit = fit(events, tmp_path / "behaviour.json", cross_validate=False)
    for key in ("version", "base_rate", "offset", "features"):
        assert refit[key] == committed[key], key

"""Shared by the monitoring tests: texts of two kinds, a toy text artifact with its profile."""

from __future__ import annotations

import random
from pathlib import Path

from model import profile as profile_cli
from model.build import train_artifact
from tests.model.conftest import TOY_PARAMS, toy_rows, write_csv

_SUBJECTS = (
    "The kettle",
    "This blender",
    "My new lamp",
    "The hotel room",
    "Our stay",
    "The charger",
)
_VERBS = ("works", "arrived", "looks", "feels", "heats up", "charges", "cleans up", "fits")
_HOW = ("fine", "quickly", "solid", "cheap", "sturdy", "noisy", "slow", "clean", "as described")
_WHEN = (
    "after two weeks",
    "on the first day",
    "for the price",
    "in the kitchen",
    "with the lid closed",
    "in a small flat",
    "during our trip",
    "since the update",
)
_ODD = ("omg", "sooo", "gooood", "yaaas", "lit", "vibes", "bestie", "slay", "fr", "ngl")


def ordinary_text(rng: random.Random) -> str:
    sentences = [
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_HOW)} {rng.choice(_WHEN)}."
        for _ in range(rng.randint(1, 5))
    ]
    if rng.random() < 0.3:
        sentences.append(f"It cost ${rng.randint(9, 120)} and came in {rng.randint(2, 9)} days.")
    return " ".join(sentences)


def other_kind_text(rng: random.Random) -> str:
    """Short, loud, emoji-laden, in words the training texts never had."""
    words = " ".join(rng.choice(_ODD) for _ in range(rng.randint(3, 8)))
    return f"{words}!!! {'😍' * rng.randint(1, 4)} {rng.choice(_ODD)}!!"


def texts(kind: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    make = ordinary_text if kind == "ordinary" else other_kind_text
    return [make(rng) for _ in range(n)]


def toy_artifact_with_profile(root: Path, n_reference: int = 1500) -> Path:
    """A toy text model trained on tests/model's rows, profiled on ordinary texts."""
    artifact = root / "artifact"
    train_artifact([write_csv(root / "toy.csv", toy_rows())], artifact, TOY_PARAMS, cv=False)
    reference_csv = write_csv(
        root / "reference.csv", [(t, "genuine") for t in texts("ordinary", n_reference, seed=1)]
    )
    parser = profile_cli.argparse.ArgumentParser()
    profile_cli.add_arguments(parser)
    args = parser.parse_args(
        ["--model", str(artifact), "--data", str(reference_csv), "--share", "1.0"]
    )
    args.max_rows = n_reference
    assert profile_cli.run(args) == 0
    return artifact

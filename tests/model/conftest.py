"""Fixtures of the model tests: a small labelled CSV and an artifact trained on it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from model.build import train_artifact
from model.train import Params

FAKE = [
    "Amazing product!!! Best purchase ever, highly recommend to everyone!!!",
    "Best hotel ever!!! Amazing staff, amazing rooms, highly recommend!!!",
    "Wonderful, perfect, amazing. Five stars, best ever, buy it now!!!",
    "Absolutely amazing!!! I love it so much, best thing I ever bought!!!",
    "Perfect perfect perfect. Highly recommend, best purchase, amazing!!!",
    "Incredible value, amazing quality, best ever!!! Recommend to all!!!",
]
GENUINE = [
    "The hinge broke after nine days; the replacement part cost $12 at the hardware store.",
    "Room 412 faced the elevator shaft, so we heard it until about 1 am. Breakfast was fine.",
    "Battery lasts roughly 6 hours with the screen at half brightness, less than advertised.",
    "The strap is 2 cm shorter than listed and the buckle scratches, returned it on day 3.",
    "Checked in at 3 pm, parking was $45 a night, the gym closes at 10 pm on weekends.",
    "Fits the 2015 model but the screws were missing; I used M4 bolts from my garage.",
]
TOY_PARAMS = Params(
    word_max_features=500,
    char_ngram_max=3,
    char_max_features=2000,
    min_df=1,
    calibration_folds=2,
    C=4.0,
)


def write_csv(path: Path, rows: list[tuple[str, str]], extra: bool = False) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "note"] if extra else ["text", "label"])
        for text, label in rows:
            writer.writerow([text, label, "ignored"] if extra else [text, label])
    return path


def toy_rows(repeat: int = 4) -> list[tuple[str, str]]:
    rows = []
    for i in range(repeat):
        rows += [(f"{t} #{i}", "fake") for t in FAKE]
        rows += [(f"{t} #{i}", "genuine") for t in GENUINE]
    return rows


@pytest.fixture(scope="session")
def toy_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("toy") / "toy.csv", toy_rows(), extra=True)


@pytest.fixture(scope="session")
def toy_artifact(tmp_path_factory: pytest.TempPathFactory, toy_csv: Path) -> Path:
    out = tmp_path_factory.mktemp("toy-artifact")
    train_artifact([toy_csv], out, TOY_PARAMS, cv=False)
    return out

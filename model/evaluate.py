"""`evaluate`: judge an artifact on labelled CSVs it never saw, one JSON object per file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.data import load_labelled_csv, normalise_ending
from model.metrics import binary_metrics
from service.settings import DEFAULT_ARTIFACT_DIR
from service.text_model import TextModel


def evaluate_file(model: TextModel, csv_path: Path, normalise: bool = False) -> dict[str, Any]:
    data = load_labelled_csv(csv_path)
    texts = [normalise_ending(t) for t in data.texts] if normalise else list(data.texts)
    p = np.asarray(model.predict_many(texts), dtype=np.float64)
    labels = np.asarray(data.labels, dtype=np.float64)
    return {
        "data": str(csv_path),
        "model_version": model.version,
        "endings_normalised": normalise,
        **binary_metrics(labels, p, model.threshold),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_ARTIFACT_DIR,
        help="artifact folder (default: the one the service loads by default)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        help="labelled CSV (text, label); repeat for several files",
    )
    parser.add_argument(
        "--normalise-endings",
        action="store_true",
        help="also score every text with its unfinished last sentence removed",
    )


def run(args: argparse.Namespace) -> int:
    model = TextModel.load(args.model)
    modes: Sequence[bool] = (False, True) if args.normalise_endings else (False,)
    for path in args.data:
        for normalise in modes:
            print(json.dumps(evaluate_file(model, path, normalise), sort_keys=True), flush=True)
    sys.stdout.flush()
    return 0

"""The ONNX graph computes exactly what the Python pipeline computes, and trains reproducibly."""

from __future__ import annotations

import csv
import hashlib
import random
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from model.build import train_artifact
from model.data import default_training_files, load_labelled_csv
from model.export import build_onnx, serialise
from model.text_features import CharAnalyzer, WordAnalyzer
from model.train import Params, TextPipeline, fit
from tests.model.conftest import TOY_PARAMS, toy_rows, write_csv

EDGE_TEXTS = [
    "",
    " ",
    "!",
    "😀😀 🎉!!! 👍🏽",
    "Отличный товар, рекомендую всем. ДОСТАВКА быстрая",
    "これは素晴らしい製品です。",
    "İSTANBUL ẞ Straße ÀÉÎ ǅ",
    "tabs\tand\nnew\r\nlines  and   spaces",
    "nul\x00inside",
    "<pad:reviewguard> literal pad marker",
    "A" * 20_000,
    ("Great value. " * 1600)[:20_000],
]


def onnx_scores(pipe: TextPipeline, texts: list[str]) -> np.ndarray:
    session = ort.InferenceSession(serialise(build_onnx(pipe)), providers=["CPUExecutionProvider"])
    out = np.zeros(len(texts))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), 32):
        rows = order[start : start + 32]
        out[rows] = session.run(None, {"text": np.array([texts[i] for i in rows], dtype=object)})[0]
    return out


def test_analyzers_lowercase_ascii_only() -> None:
    assert CharAnalyzer(1, 1)("AÉ") == ["a", "É"]
    assert WordAnalyzer(1, 2)("Don't GO-2") == ["don", "t", "go", "2", "don t", "t go", "go 2"]


def test_onnx_equals_pipeline_on_edge_texts_single_and_batched() -> None:
    rows = toy_rows()
    pipe = fit([t for t, _ in rows], [int(label == "fake") for _, label in rows], TOY_PARAMS)
    texts = [t for t, _ in rows] + EDGE_TEXTS
    expected = pipe.predict_proba(texts)
    assert np.max(np.abs(onnx_scores(pipe, texts) - expected)) < 1e-5
    session = ort.InferenceSession(serialise(build_onnx(pipe)), providers=["CPUExecutionProvider"])
    for text, p in zip(EDGE_TEXTS, expected[len(rows) :], strict=True):
        (single,) = session.run(None, {"text": np.array([text], dtype=object)})
        assert single.shape == (1,)
        assert abs(float(single[0]) - p) < 1e-5


@pytest.mark.slow
@pytest.mark.shared_data
def test_onnx_equals_pipeline_on_every_shared_text(shared_data: Path) -> None:
    files = [load_labelled_csv(p) for p in default_training_files(shared_data / "text")]
    texts = [t for f in files for t in f.texts]
    labels = [y for f in files for y in f.labels]
    sample = random.Random(0).sample(range(len(texts)), 1200)
    params = Params(word_max_features=4000, char_max_features=12_000, calibration_folds=2)
    pipe = fit([texts[i] for i in sample], [labels[i] for i in sample], params)
    every = texts + EDGE_TEXTS
    diff = np.abs(onnx_scores(pipe, every) - pipe.predict_proba(every))
    assert diff.max() < 1e-5, f"worst text: {every[int(diff.argmax())][:80]!r}"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_twice_gives_the_same_file(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", toy_rows(3))
    a = train_artifact([data], tmp_path / "a", TOY_PARAMS, cv=False)
    b = train_artifact([data], tmp_path / "b", TOY_PARAMS, cv=False)
    assert _sha(tmp_path / "a" / "model.onnx") == _sha(tmp_path / "b" / "model.onnx")
    assert a["version"] == b["version"] == f"text-{a['onnx']['sha256'][:7]}"
    other = train_artifact(
        [data], tmp_path / "c", Params(**{**TOY_PARAMS.to_dict(), "C": 1.0}), cv=False
    )
    assert other["version"] != a["version"]


@pytest.mark.slow
@pytest.mark.shared_data
def test_training_twice_on_shared_subset_gives_the_same_hash(
    shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / "text" / "salminen_subset.csv"
    with source.open(encoding="utf-8", newline="") as handle:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(handle)][:600]
    data = write_csv(tmp_path / "subset.csv", rows)
    params = Params(word_max_features=3000, char_max_features=8000, calibration_folds=2)
    train_artifact([data], tmp_path / "a", params, cv=False)
    train_artifact([data], tmp_path / "b", params, cv=False)
    assert _sha(tmp_path / "a" / "model.onnx") == _sha(tmp_path / "b" / "model.onnx")

"""The committed default artifact, through the interface the service uses."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.settings import DEFAULT_ARTIFACT_DIR
from service.text_model import TextModel, TextModelError

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "",
    "Amazing!!! Best purchase ever!!! Highly recommend!!!",
    "The zipper broke after two weeks and support never answered my e-mail.",
    "😀😀😀 🎉",
    "Отличный товар, рекомендую",
    "素晴らしい",
    "lone surrogate \ud800 from JSON",
    ("The room was fine. " * 1100)[:20_000],
]


@pytest.fixture(scope="module")
def model() -> TextModel:
    return TextModel.load(DEFAULT_ARTIFACT_DIR, threads=1)


def test_version_is_derived_from_the_committed_onnx_file(model: TextModel) -> None:
    digest = hashlib.sha256((DEFAULT_ARTIFACT_DIR / "model.onnx").read_bytes()).hexdigest()
    assert model.manifest["onnx"]["sha256"] == digest
    assert model.version == f"text-{digest[:7]}"


def test_manifest_says_research_data_and_use(model: TextModel) -> None:
    assert "Demonstration" in model.manifest["intended_use"]
    assert all("research" in d["terms"]["use"] for d in model.manifest["training_data"])
    assert 0.0 < model.train_prior < 1.0
    assert 0.0 < model.threshold < 1.0
    assert model.manifest["latency"]["p99_ms"] > 0


def test_predict_answers_every_kind_of_text(model: TextModel) -> None:
    scores = [model.predict(t) for t in TEXTS]
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in scores)
    assert model.predict_many(TEXTS) == pytest.approx(scores, abs=1e-12)
    assert model.predict_many([]) == []


def test_obvious_texts_rank_as_expected(model: TextModel) -> None:
    assert model.predict(TEXTS[1]) > model.predict(TEXTS[2])


def test_loads_and_answers_with_only_the_c_locale(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from service.text_model import TextModel\n"
        "m = TextModel.load(Path(sys.argv[1]))\n"
        "print(json.dumps([m.predict(t) for t in json.loads(sys.argv[2])]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    env.update(LC_ALL="C", LANG="C", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script, str(DEFAULT_ARTIFACT_DIR), json.dumps(TEXTS[:6])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    in_c = json.loads(done.stdout)
    here = TextModel.load(DEFAULT_ARTIFACT_DIR)
    assert in_c == pytest.approx([here.predict(t) for t in TEXTS[:6]], abs=1e-12)


def test_missing_artifact_is_our_error(tmp_path: Path) -> None:
    with pytest.raises(TextModelError):
        TextModel.load(tmp_path)

"""The command line: evaluate, compare, bench, and the manifest that train writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.cli import COMMANDS, build_parser, main
from tests.model.conftest import FAKE, GENUINE, write_csv


def test_the_text_model_subcommands_are_registered() -> None:
    parser = build_parser()
    for argv in (["train"], ["evaluate", "--data", "x.csv"], ["compare", "a", "b"], ["bench"]):
        assert argv[0] in COMMANDS
        assert parser.parse_args(argv).command == argv[0]


def test_manifest_of_a_training_run(toy_artifact: Path, toy_csv: Path) -> None:
    manifest = json.loads((toy_artifact / "manifest.json").read_text())
    assert manifest["onnx"]["sha256"] == _sha256(toy_artifact / "model.onnx")
    assert manifest["version"] == "text-" + manifest["onnx"]["sha256"][:7]
    assert manifest["training_data"][0]["sha256"] == _sha256(toy_csv)
    assert manifest["training_data"][0]["terms"]["licence"].startswith("unknown")
    assert manifest["train_prior"] == pytest.approx(0.5)
    assert manifest["onnx"]["signature"]["inputs"][0]["dtype"] == "string"
    assert "onnxruntime" in manifest["libraries"]
    assert "research" not in manifest["training_data"][0]["terms"]["use"]
    assert "Demonstration" in manifest["intended_use"]


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_evaluate_prints_known_figures(
    toy_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Unseen variants of the toy texts: the toy model separates them perfectly.
    rows = [(t.replace("!!!", "!!"), "fake") for t in FAKE[:3]]
    rows += [(t.replace(".", " ."), "genuine") for t in GENUINE[:3]]
    data = write_csv(tmp_path / "held.csv", rows)
    assert main(["evaluate", "--model", str(toy_artifact), "--data", str(data)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["n"] == 6
    assert figures["roc_auc"] == 1.0
    assert figures["pr_auc"] == 1.0
    assert figures["accuracy"] == 1.0
    assert figures["f1"] == 1.0
    assert 0.0 <= figures["brier"] < 0.25
    assert 0.0 <= figures["ece"] <= 1.0


def test_evaluate_one_line_per_file_and_mode(
    toy_artifact: Path, toy_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(
        [
            "evaluate",
            "--model",
            str(toy_artifact),
            "--data",
            str(toy_csv),
            "--data",
            str(toy_csv),
            "--normalise-endings",
        ]
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["endings_normalised"] for x in lines] == [False, True, False, True]


def test_compare_marks_differences(
    toy_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    manifest = json.loads((toy_artifact / "manifest.json").read_text())
    manifest["params"]["C"] = 99.0
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert main(["compare", str(toy_artifact), str(other)]) == 0
    out = capsys.readouterr().out
    assert "params.C" in out
    assert "99.0  *" in out


def test_bench_writes_latency_into_the_manifest(
    toy_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("model.onnx", "manifest.json"):
        (copy / name).write_bytes((toy_artifact / name).read_bytes())
    assert (
        main(["bench", "--model", str(copy), "--data-dir", str(tmp_path), "-n", "200", "--write"])
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    stored = json.loads((copy / "manifest.json").read_text())["latency"]
    assert stored == printed
    assert 0 < printed["p50_ms"] <= printed["p99_ms"]


def test_bench_compares_the_engines_on_the_same_texts(
    toy_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bench", "--model", str(toy_artifact), "--data-dir", str(tmp_path), "-n", "100"]
    assert main([*args, "--compare-engines"]) == 0
    printed = json.loads(capsys.readouterr().out)
    for engine in ("kernel", "onnxruntime"):
        assert printed[engine]["n"] == 100
        assert 0 < printed[engine]["p50_ms"] <= printed[engine]["p99_ms"]
    assert printed["max_abs_diff"] <= 1e-9
    assert printed["speedup_p50"] > 0
    assert main([*args, "--engine", "onnxruntime"]) == 0
    assert json.loads(capsys.readouterr().out)["engine"] == "onnxruntime"
    with pytest.raises(SystemExit, match="one engine"):
        main([*args, "--compare-engines", "--write"])


def test_train_parameters_from_the_command_line() -> None:
    args = build_parser().parse_args(["train", "--C", "4", "--balance-files", "false", "--no-cv"])
    assert args.C == 4.0
    assert args.balance_files is False
    assert args.no_cv is True


def test_cv_figures_carry_over_only_to_the_same_parameters_and_data(
    toy_csv: Path, tmp_path: Path
) -> None:
    from model.build import train_artifact
    from model.train import Params
    from tests.model.conftest import TOY_PARAMS

    first = train_artifact([toy_csv], tmp_path / "a", TOY_PARAMS, cv=True)
    assert first["metrics"]["cross_validation"]["toy.csv"]["raw"]["n"] == 48
    again = train_artifact([toy_csv], tmp_path / "b", TOY_PARAMS, cv=False, cv_from=tmp_path / "a")
    assert again["metrics"] == first["metrics"]
    with pytest.raises(ValueError, match="parameters or data"):
        train_artifact(
            [toy_csv],
            tmp_path / "c",
            Params(**{**TOY_PARAMS.to_dict(), "C": 2.0}),
            cv=False,
            cv_from=tmp_path / "a",
        )

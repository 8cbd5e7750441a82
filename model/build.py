"""`train`: labelled CSVs -> cross-validation -> fit -> ONNX -> manifest -> report -> latency."""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from importlib import metadata
from pathlib import Path
from typing import Any

from model.data import (
    DEFAULT_DATA_DIR,
    ROOT,
    LabelledFile,
    default_training_files,
    load_labelled_csv,
    terms_of,
)
from model.export import build_onnx, serialise, signature
from model.train import CvResult, Params, TextPipeline, cross_validate, file_weights, fit
from service.settings import DEFAULT_ARTIFACT_DIR
from service.text_model import MANIFEST_NAME, ONNX_NAME

INTENDED_USE = (
    "Demonstration model. Trained on public research data sets whose terms are research / "
    "non-commercial (see training_data[].terms): use it to try reviewguard and to compare models, "
    "not to moderate a commercial marketplace. For production, train on your own labelled "
    "reviews: python -m model train --data your.csv --out DIR (docs/text-model.md)."
)
LIBRARIES = ("numpy", "scipy", "scikit-learn", "onnx", "onnxruntime")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "model"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def build_manifest(
    pipe: TextPipeline,
    onnx_bytes: bytes,
    onnx_signature: dict[str, Any],
    files: Sequence[LabelledFile],
    cv: dict[str, Any] | None,
) -> dict[str, Any]:
    digest = hashlib.sha256(onnx_bytes).hexdigest()
    terms = terms_of(files)
    return {
        "name": "reviewguard-text",
        "version": f"text-{digest[:7]}",
        "onnx": {
            "file": ONNX_NAME,
            "sha256": digest,
            "bytes": len(onnx_bytes),
            "signature": onnx_signature,
        },
        "output": "calibrated P(fake | text) on the training class balance (train_prior)",
        "threshold": pipe.params.threshold,
        "train_prior": round(pipe.train_prior, 6),
        "n_train": pipe.n_train,
        "params": pipe.params.to_dict(),
        "features": {
            b.kind: {"ngram": [b.ngram_min, b.ngram_max], "size": len(b.idf)} for b in pipe.blocks
        },
        "calibration": {"method": "platt", "a": pipe.platt_a, "b": pipe.platt_b},
        "training_data": [
            {
                "file": f.name,
                "sha256": f.sha256,
                "rows": len(f.texts),
                "duplicates_dropped": f.duplicates_dropped,
                "fake_share": round(f.fake_share, 6),
                "terms": terms[f.name],
            }
            for f in files
        ],
        "intended_use": INTENDED_USE,
        "metrics": {"cross_validation": cv} if cv is not None else {},
        "libraries": library_versions(),
        "git_commit": git_commit(),
    }


def train_artifact(
    paths: Sequence[Path],
    out_dir: Path,
    params: Params,
    *,
    cv: bool = True,
    cv_from: Path | None = None,
    report_dir: Path | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Train on `paths`, write model.onnx and manifest.json into `out_dir`; return the manifest."""
    files = [load_labelled_csv(p) for p in paths]
    cv_results: list[CvResult] = []
    cv_metrics: dict[str, Any] | None = None
    if cv:
        cv_results = cross_validate(files, params, log=log)
        cv_metrics = {r.name: r.metrics(params.threshold) for r in cv_results}
    if cv_from is not None:
        cv_metrics = reused_cv(cv_from, params, files)
    log("fitting on all data")
    pipe = fit(
        [t for f in files for t in f.texts],
        [y for f in files for y in f.labels],
        params,
        file_weights([len(f.texts) for f in files], params),
    )
    model = build_onnx(pipe)
    onnx_bytes = serialise(model)
    manifest = build_manifest(pipe, onnx_bytes, signature(model), files, cv_metrics)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ONNX_NAME).write_bytes(onnx_bytes)
    (out_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    if cv_results and report_dir is not None:
        from model.report import write_report

        page = write_report(
            report_dir / manifest["version"], manifest["version"], cv_results, cv_metrics or {}
        )
        log(f"report: {page}")
    return manifest


def reused_cv(artifact_dir: Path, params: Params, files: Sequence[LabelledFile]) -> dict[str, Any]:
    """Cross-validation figures of an earlier run with the same parameters and the same data.

    CV figures depend on the data, the parameters and the training code, never on how the graph is
    exported, so a re-export may carry them over; anything else that differs is refused.
    """
    old = json.loads((artifact_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    same_data = [(d["file"], d["sha256"]) for d in old["training_data"]] == [
        (f.name, f.sha256) for f in files
    ]
    if old.get("params") != params.to_dict() or not same_data:
        raise ValueError(f"{artifact_dir}: other parameters or data; cross-validate afresh")
    cv = old.get("metrics", {}).get("cross_validation")
    if not cv:
        raise ValueError(f"{artifact_dir}: its manifest has no cross-validation figures")
    return dict(cv)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        help=f"labelled CSV (text, label fake/genuine; optional fold); repeatable "
        f"(default: every CSV in {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_ARTIFACT_DIR, help="artifact folder")
    parser.add_argument(
        "--reports", type=Path, default=ROOT / "reports", help="where the plots and HTML report go"
    )
    parser.add_argument("--no-cv", action="store_true", help="skip cross-validation (fast)")
    parser.add_argument(
        "--cv-from",
        type=Path,
        help="reuse the CV figures of this artifact (same parameters and data only)",
    )
    parser.add_argument("--no-bench", action="store_true", help="skip the latency benchmark")
    for f in fields(Params):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=_parse_bool if isinstance(f.default, bool) else type(f.default),
            default=None,
            help=f"model parameter (default {f.default})",
        )


def _parse_bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def run(args: argparse.Namespace) -> int:
    paths = args.data or default_training_files()
    if not paths:
        print(f"no CSV given and none in {DEFAULT_DATA_DIR}", file=sys.stderr)
        return 2
    overrides = {
        f.name: getattr(args, f.name) for f in fields(Params) if getattr(args, f.name) is not None
    }
    params = Params(**overrides)
    start = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - start:7.1f}s] {message}", file=sys.stderr, flush=True)

    manifest = train_artifact(
        paths,
        args.out,
        params,
        cv=not (args.no_cv or args.cv_from),
        cv_from=args.cv_from,
        report_dir=args.reports,
        log=log,
    )
    if not args.no_bench:
        from model.bench import measure, sample_texts
        from service.text_model import TextModel

        model = TextModel.load(args.out, threads=1)
        manifest["latency"] = measure(model, sample_texts(paths[0].parent, 2000))
        (args.out / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    print(
        json.dumps(
            {
                "version": manifest["version"],
                "out": str(args.out),
                "metrics": manifest["metrics"],
                "latency": manifest.get("latency"),
            },
            indent=2,
            sort_keys=True,
        )
    )
    return 0

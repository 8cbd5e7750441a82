"""`bench`: single-review inference latency of an artifact on one thread (p50, p99).

`--compare-engines` times the kernel and onnxruntime on the same texts, alternating per text, and
reports both (and the largest difference between their scores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.data import DEFAULT_DATA_DIR, default_training_files, load_labelled_csv
from service.settings import DEFAULT_ARTIFACT_DIR
from service.text_model import ENGINES, MANIFEST_NAME, TextModel

LONG_TEXT = ("Fantastic stay, would come back. " * 700)[:20_000]


def sample_texts(data_dir: Path, count: int) -> list[str]:
    """Real reviews when the shared data is there, else a typical review of ~400 characters."""
    texts = [t for p in default_training_files(data_dir) for t in load_labelled_csv(p).texts]
    if not texts:
        texts = ["The room was clean and the staff friendly, but the breakfast was cold. " * 6]
    rng = np.random.default_rng(0)
    return [texts[i] for i in rng.integers(0, len(texts), size=count)]


class _Timer:
    """Wall and thread-CPU milliseconds of each call of one predict function."""

    def __init__(self, predict: Callable[[str], float]) -> None:
        self.predict = predict
        self.wall_ms: list[float] = []
        self.cpu_ms: list[float] = []  # this thread's CPU time: the wall clock on an idle core
        self.long_ms: list[float] = []
        self.scores: list[float] = []

    def time(self, text: str) -> None:
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        score = self.predict(text)
        self.cpu_ms.append((time.thread_time_ns() - start_cpu) / 1e6)
        self.wall_ms.append((time.perf_counter_ns() - start) / 1e6)
        self.scores.append(score)

    def time_long(self) -> None:
        start = time.perf_counter_ns()
        self.predict(LONG_TEXT)
        self.long_ms.append((time.perf_counter_ns() - start) / 1e6)

    def figures(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float:
            return round(float(np.percentile(values, q)), 4)

        return {
            "n": len(self.wall_ms),
            "p50_ms": pct(self.wall_ms, 50),
            "p99_ms": pct(self.wall_ms, 99),
            "max_ms": round(float(np.max(self.wall_ms)), 4),
            "cpu_p50_ms": pct(self.cpu_ms, 50),
            "cpu_p99_ms": pct(self.cpu_ms, 99),
            "p50_ms_20000_chars": pct(self.long_ms, 50),
        }


def _context(texts: Sequence[str], command: str) -> dict[str, Any]:
    return {
        "threads": 1,
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
        "command": command,
    }


def measure(model: TextModel, texts: Sequence[str], warmup: int = 50) -> dict[str, Any]:
    for text in texts[:warmup]:
        model.predict(text)
    timer = _Timer(model.predict)
    for text in texts:
        timer.time(text)
    for _ in range(20):
        timer.time_long()
    command = "python -m model bench" + (
        "" if model.engine == "kernel" else " --engine onnxruntime"
    )
    return {**timer.figures(), "engine": model.engine, **_context(texts, command)}


def measure_engines(
    models: dict[str, TextModel], texts: Sequence[str], warmup: int = 50
) -> dict[str, Any]:
    """Every engine on every text, alternating which goes first, so load drifts hit both alike."""
    timers = {name: _Timer(model.predict) for name, model in models.items()}
    for text in texts[:warmup]:
        for model in models.values():
            model.predict(text)
    order = list(timers.values())
    for i, text in enumerate(texts):
        for timer in order if i % 2 == 0 else order[::-1]:
            timer.time(text)
    for i in range(20):
        for timer in order if i % 2 == 0 else order[::-1]:
            timer.time_long()
    result: dict[str, Any] = {name: timer.figures() for name, timer in timers.items()}
    scores = [np.asarray(t.scores) for t in order]
    result["max_abs_diff"] = float(max(np.max(np.abs(s - scores[0])) for s in scores))
    if {"kernel", "onnxruntime"} <= set(result):
        for key in ("p50_ms", "p99_ms", "cpu_p50_ms", "cpu_p99_ms", "p50_ms_20000_chars"):
            slow, fast = result["onnxruntime"][key], result["kernel"][key]
            result[f"speedup_{key.removesuffix('_ms')}"] = round(slow / fast, 2) if fast else None
    return {**result, **_context(texts, "python -m model bench --compare-engines")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_ARTIFACT_DIR)
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where sample reviews come from"
    )
    parser.add_argument("-n", type=int, default=2000, help="reviews to time")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="which engine runs the model (as REVIEWGUARD_TEXT_ENGINE); default auto",
    )
    parser.add_argument(
        "--compare-engines",
        action="store_true",
        help="time the kernel and onnxruntime on the same texts, alternating per text",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="store the figures in the artifact's manifest under `latency`",
    )


def run(args: argparse.Namespace) -> int:
    texts = sample_texts(args.data_dir, args.n)
    if args.compare_engines:
        if args.write:
            raise SystemExit("--write stores one engine's figures: leave out --compare-engines")
        models = {e: TextModel.load(args.model, threads=1, engine=e) for e in ENGINES[1:]}
        print(json.dumps(measure_engines(models, texts), sort_keys=True))
        return 0
    model = TextModel.load(args.model, threads=1, engine=args.engine)
    figures = measure(model, texts)
    print(json.dumps(figures, sort_keys=True))
    if args.write:
        path = args.model / MANIFEST_NAME
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["latency"] = figures
        path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0

"""`bench`: single-review inference latency of an artifact on one thread (p50, p99)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.data import DEFAULT_DATA_DIR, default_training_files, load_labelled_csv
from service.settings import DEFAULT_ARTIFACT_DIR
from service.text_model import MANIFEST_NAME, TextModel


def sample_texts(data_dir: Path, count: int) -> list[str]:
    """Real reviews when the shared data is there, else a typical review of ~400 characters."""
    texts = [t for p in default_training_files(data_dir) for t in load_labelled_csv(p).texts]
    if not texts:
        texts = ["The room was clean and the staff friendly, but the breakfast was cold. " * 6]
    rng = np.random.default_rng(0)
    return [texts[i] for i in rng.integers(0, len(texts), size=count)]


def measure(model: TextModel, texts: Sequence[str], warmup: int = 50) -> dict[str, Any]:
    for text in texts[:warmup]:
        model.predict(text)
    times_ms = []
    cpu_ms = []  # this thread's CPU time: what the wall clock shows on an idle core
    for text in texts:
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        model.predict(text)
        cpu_ms.append((time.thread_time_ns() - start_cpu) / 1e6)
        times_ms.append((time.perf_counter_ns() - start) / 1e6)
    long_text = ("Fantastic stay, would come back. " * 700)[:20_000]
    long_ms = []
    for _ in range(20):
        start = time.perf_counter_ns()
        model.predict(long_text)
        long_ms.append((time.perf_counter_ns() - start) / 1e6)
    lengths = [len(t) for t in texts]
    return {
        "threads": 1,
        "n": len(times_ms),
        "mean_chars": round(float(np.mean(lengths)), 1),
        "p50_ms": round(float(np.percentile(times_ms, 50)), 4),
        "p99_ms": round(float(np.percentile(times_ms, 99)), 4),
        "max_ms": round(float(np.max(times_ms)), 4),
        "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 4),
        "cpu_p99_ms": round(float(np.percentile(cpu_ms, 99)), 4),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "p50_ms_20000_chars": round(float(np.percentile(long_ms, 50)), 4),
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
        "command": "python -m model bench",
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_ARTIFACT_DIR)
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where sample reviews come from"
    )
    parser.add_argument("-n", type=int, default=2000, help="reviews to time")
    parser.add_argument(
        "--write",
        action="store_true",
        help="store the figures in the artifact's manifest under `latency`",
    )


def run(args: argparse.Namespace) -> int:
    model = TextModel.load(args.model, threads=1)
    figures = measure(model, sample_texts(args.data_dir, args.n))
    print(json.dumps(figures, sort_keys=True))
    if args.write:
        path = args.model / MANIFEST_NAME
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["latency"] = figures
        path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0

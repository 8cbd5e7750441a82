"""The text model: the ONNX graph model/ exported (text -> P(fake)), run by one of two engines.

- "kernel": `service.text_kernel.TextKernel`, the same graph evaluated with numpy from the
  vocabulary and weights it reads out of the ONNX file; several times cheaper per review.
- "onnxruntime": an onnxruntime session over the file.

"auto" (the default) runs the kernel when it recognises the graph and, on a fixed list of probe
texts, agrees with onnxruntime within 1e-9; otherwise it logs why and runs onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import onnxruntime as ort

from service.text_kernel import TextKernel, UnsupportedGraphError

MANIFEST_NAME = "manifest.json"
ONNX_NAME = "model.onnx"
# Rows of one batched run: the graph pads every row to the longest one and yields a dense
# vocabulary-wide row per text, so batches stay small and are grouped by length.
_BATCH_ROWS = 32

Engine = Literal["auto", "kernel", "onnxruntime"]
ENGINES: tuple[str, ...] = get_args(Engine)
# The kernel must give onnxruntime's score within this on every probe, or it is not used.
KERNEL_TOLERANCE = 1e-9
# Texts that take every path of both engines: nothing, characters outside the vocabulary,
# non-ASCII of two to four UTF-8 bytes, lone surrogates, case, digits, whitespace, control
# characters, repeated n-grams and long texts.
PROBES: tuple[str, ...] = (
    "",
    " ",
    "!",
    "a",
    "A",
    "Amazing!!! Best purchase ever!!! Highly recommend!!!",
    "The zipper broke after two weeks and support never answered my e-mail.",
    "GREAT PRODUCT, GREAT PRICE. great product, great price. Great Product",
    "Room 412, $45 a night, 3 pm check-in, 10/10 would stay again :-)",
    "tabs\tand\nnew\r\nlines  and   spaces\x00nul",
    "😀😀😀 🎉 👍🏽 love it 😀",
    "Отличный товар, рекомендую всем. ДОСТАВКА быстрая",
    "これは素晴らしい製品です。素晴らしい",
    "İSTANBUL ẞ Straße ÀÉÎ ǅ Kelvin \u212a long s \u017f",
    "lone surrogate \ud800 and a split pair \ud83d\ude00 from JSON",
    "<pad:reviewguard> literal pad marker",
    "x" * 5000,
    ("The room was fine. " * 1100)[:20_000],
)
log = logging.getLogger("reviewguard.text_model")
# Kernels that passed the probes, by the sha256 of their ONNX file: loading the same artifact
# again in this process (tests, tools) skips building and checking it. Kernels are immutable.
_checked_kernels: dict[str, TextKernel] = {}
_CHECKED_KEEP = 2


class TextModelError(RuntimeError):
    """The artifact is missing, inconsistent, or does not load."""


def _encodable(text: str) -> str:
    # JSON may carry lone surrogates (\ud800), which UTF-8 cannot encode; onnxruntime needs UTF-8.
    return text.encode("utf-8", "replace").decode("utf-8")


def _session_run(session: ort.InferenceSession, texts: Sequence[str]) -> list[float]:
    batch = np.array([_encodable(t) for t in texts], dtype=object)
    name_in, name_out = session.get_inputs()[0].name, session.get_outputs()[0].name
    out = session.run([name_out], {name_in: batch})[0]
    return [float(p) for p in np.asarray(out, dtype=np.float64).reshape(-1)]


def kernel_disagreement(kernel: TextKernel, session: ort.InferenceSession) -> str | None:
    """None when the kernel gives onnxruntime's score on every probe, else what differs."""
    for probe in PROBES:
        expected = _session_run(session, [probe])[0]  # one row, as the service scores
        try:
            got = kernel.predict(probe)
        except Exception as exc:  # a kernel that fails on a probe is not used
            return f"kernel fails on probe {probe[:40]!r}: {exc!r}"
        if not abs(got - expected) <= KERNEL_TOLERANCE:  # NaN fails too
            return f"kernel gives {got!r}, onnxruntime {expected!r} on probe {probe[:40]!r}"
    return None


class TextModel:
    """Calibrated P(fake | text) on the training class balance, from the kernel or onnxruntime."""

    def __init__(
        self,
        session: ort.InferenceSession | None,
        manifest: dict[str, Any],
        kernel: TextKernel | None = None,
    ) -> None:
        if session is None and kernel is None:
            raise ValueError("a TextModel needs an onnxruntime session or a kernel")
        self._session = session
        self._kernel = kernel
        # The engine that answers predict and predict_many.
        self.engine: Literal["kernel", "onnxruntime"] = "kernel" if kernel else "onnxruntime"
        self.manifest = manifest
        self.version: str = str(manifest["version"])
        self.train_prior: float = float(manifest["train_prior"])
        self.threshold: float = float(manifest["threshold"])
        signature = manifest["onnx"]["signature"]
        self._input: str = signature["inputs"][0]["name"]
        self._output: str = signature["outputs"][0]["name"]

    @classmethod
    def load(cls, artifact_dir: Path, threads: int = 1, engine: str = "auto") -> TextModel:
        """The artifact in `artifact_dir`, run by `engine`: "auto", "kernel" or "onnxruntime".

        onnxruntime always loads the file (it checks the artifact, and the kernel is checked
        against it). "kernel" raises TextModelError when the kernel cannot run this graph
        exactly; "auto" then logs a warning and keeps onnxruntime.
        """
        if engine not in ENGINES:
            raise TextModelError(f"unknown text engine {engine!r}: one of {', '.join(ENGINES)}")
        manifest_path = artifact_dir / MANIFEST_NAME
        onnx_path = artifact_dir / ONNX_NAME
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            graph = onnx_path.read_bytes()
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = threads
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(
                graph, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except (OSError, ValueError, KeyError) as exc:
            raise TextModelError(f"cannot load text model from {artifact_dir}: {exc}") from exc
        except Exception as exc:  # onnxruntime raises its own exception types
            raise TextModelError(f"cannot load text model from {artifact_dir}: {exc}") from exc
        kernel = None if engine == "onnxruntime" else _kernel_for(graph, session, engine)
        try:
            # The session is kept only when it answers: the kernel holds all it needs.
            return cls(None if kernel else session, manifest, kernel)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise TextModelError(f"{manifest_path}: incomplete manifest: {exc}") from exc

    def _run(self, texts: Sequence[str]) -> list[float]:
        assert self._session is not None
        batch = np.array([_encodable(t) for t in texts], dtype=object)
        out = self._session.run([self._output], {self._input: batch})[0]
        return [float(p) for p in np.asarray(out, dtype=np.float64).reshape(-1)]

    def predict(self, text: str) -> float:
        if self._kernel is not None:
            return self._kernel.predict(text)
        return self._run([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[float]:
        if self._kernel is not None:
            return self._kernel.predict_many(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result = [0.0] * len(texts)
        for start in range(0, len(order), _BATCH_ROWS):
            rows = order[start : start + _BATCH_ROWS]
            for i, p in zip(rows, self._run([texts[i] for i in rows]), strict=True):
                result[i] = p
        return result


def _kernel_for(graph: bytes, session: ort.InferenceSession, engine: str) -> TextKernel | None:
    """The kernel of this ONNX file once it agrees with onnxruntime; else None ("auto") or
    TextModelError ("kernel")."""
    digest = hashlib.sha256(graph).hexdigest()
    if (kernel := _checked_kernels.get(digest)) is not None:
        return kernel
    problem: str | None
    try:
        kernel = TextKernel.from_bytes(graph)
    except UnsupportedGraphError as exc:
        problem = f"graph not recognised: {exc}"
    else:
        problem = kernel_disagreement(kernel, session)
        if problem is None:
            while len(_checked_kernels) >= _CHECKED_KEEP:
                del _checked_kernels[next(iter(_checked_kernels))]
            _checked_kernels[digest] = kernel
            return kernel
    if engine == "kernel":
        raise TextModelError(f"text model {digest[:7]}: the kernel cannot run it: {problem}")
    log.warning("text model %s runs on onnxruntime, not the kernel: %s", digest[:7], problem)
    return None

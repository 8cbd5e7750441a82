"""The text model: an onnxruntime session over the artifact model/ exported (text -> P(fake))."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

MANIFEST_NAME = "manifest.json"
ONNX_NAME = "model.onnx"
# Rows of one batched run: the graph pads every row to the longest one and yields a dense
# vocabulary-wide row per text, so batches stay small and are grouped by length.
_BATCH_ROWS = 32


class TextModelError(RuntimeError):
    """The artifact is missing, inconsistent, or does not load."""


def _encodable(text: str) -> str:
    # JSON may carry lone surrogates (\ud800), which UTF-8 cannot encode; onnxruntime needs UTF-8.
    return text.encode("utf-8", "replace").decode("utf-8")


class TextModel:
    """Calibrated P(fake | text) on the training class balance, from one ONNX session."""

    def __init__(self, session: ort.InferenceSession, manifest: dict[str, Any]) -> None:
        self._session = session
        self.manifest = manifest
        self.version: str = str(manifest["version"])
        self.train_prior: float = float(manifest["train_prior"])
        self.threshold: float = float(manifest["threshold"])
        signature = manifest["onnx"]["signature"]
        self._input: str = signature["inputs"][0]["name"]
        self._output: str = signature["outputs"][0]["name"]

    @classmethod
    def load(cls, artifact_dir: Path, threads: int = 1) -> TextModel:
        manifest_path = artifact_dir / MANIFEST_NAME
        onnx_path = artifact_dir / ONNX_NAME
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = threads
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(
                str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except (OSError, ValueError, KeyError) as exc:
            raise TextModelError(f"cannot load text model from {artifact_dir}: {exc}") from exc
        except Exception as exc:  # onnxruntime raises its own exception types
            raise TextModelError(f"cannot load text model from {artifact_dir}: {exc}") from exc
        try:
            return cls(session, manifest)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise TextModelError(f"{manifest_path}: incomplete manifest: {exc}") from exc

    def _run(self, texts: Sequence[str]) -> list[float]:
        batch = np.array([_encodable(t) for t in texts], dtype=object)
        out = self._session.run([self._output], {self._input: batch})[0]
        return [float(p) for p in np.asarray(out, dtype=np.float64).reshape(-1)]

    def predict(self, text: str) -> float:
        return self._run([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[float]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result = [0.0] * len(texts)
        for start in range(0, len(order), _BATCH_ROWS):
            rows = order[start : start + _BATCH_ROWS]
            for i, p in zip(rows, self._run([texts[i] for i in rows]), strict=True):
                result[i] = p
        return result

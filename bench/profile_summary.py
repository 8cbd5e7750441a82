"""Summarises a py-spy `--format raw` profile (collapsed stacks): where a worker's time goes."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:]+)(?::\d+)?\)$")


def _name(frame: str) -> str:
    """`score (service/scorer.py:120)` -> `service/scorer.py:score` (lines merged)."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("/site-packages/", "/work/main/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{m['func']}"


# Where a sample belongs: background writes wherever they occur in the stack; otherwise the
# component of the deepest frame that matches one (the leaf side decides: ONNX called from the
# scorer is ONNX, a pydantic call under a FastAPI frame is parsing).
BACKGROUND = ("background writes (answer cache, moderation queue)", "FraudScorer._record")
COMPONENTS = (
    ("text model (ONNX)", ("TextModel.", "onnxruntime/")),
    ("SimHash of the text", ("text_fingerprint.py:",)),
    ("identity (HMAC, IP, user agent)", ("identity.py:",)),
    ("Redis client (pipeline of EVALSHA)", ("FeatureStore._run", "redis/", "asyncio/streams.py")),
    ("features: plan, decode, derive", ("features/calls.py", "scoring/features.py")),
    ("fusion and text signals", ("fusion.py", "text_signals.py", "behaviour.py")),
    ("scorer orchestration", ("scorer.py", "breaker.py", "api/routes.py")),
    ("body parsing and validation", ("pydantic", "request_body_to_args", "Request.json", "json/")),
    ("metrics, logging, monitoring", ("prometheus_client", "logging/", "metrics.py", "monitoring")),
    ("HTTP server and framework", ("uvicorn/", "starlette/", "fastapi/", "anyio/", "asyncio/")),
)
IDLE_LEAVES = ("asyncio/runners.py:Runner.run", "asyncio/base_events.py:BaseEventLoop.run_forever")


def _component(frames: list[str]) -> str:
    if any(BACKGROUND[1] in f for f in frames):
        return BACKGROUND[0]
    for frame in reversed(frames):
        for name, patterns in COMPONENTS:
            if any(p in frame for p in patterns):
                return name
    return "other"


def components(path: Path) -> dict[str, float]:
    """Share of the busy samples per component (idle event-loop waits left out)."""
    counts: Counter[str] = Counter()
    busy = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        frames = [_name(f) for f in stack.split(";")]
        if not frames or frames[-1] in IDLE_LEAVES:
            continue
        count = int(count_s)
        busy += count
        counts[_component(frames)] += count
    return {k: round(v / busy, 3) for k, v in counts.most_common()} if busy else {}


def summarise(path: Path, top: int = 20) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        self_time[frames[-1]] += count

    def share(c: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": k, "share": round(v / total, 3)} for k, v in c.most_common(top)]

    return {
        "samples": total,
        "components": components(path),
        "inclusive": share(inclusive),
        "self": share(self_time),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(summarise(Path(sys.argv[1])), indent=2))

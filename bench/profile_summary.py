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

    return {"samples": total, "inclusive": share(inclusive), "self": share(self_time)}


if __name__ == "__main__":
    import json

    print(json.dumps(summarise(Path(sys.argv[1])), indent=2))

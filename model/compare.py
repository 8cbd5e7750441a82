"""`compare`: two artifacts' manifests and metrics side by side."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from service.text_model import MANIFEST_NAME


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, item in enumerate(value):
            label = item.get("file", item.get("name", i))
            out.update(flatten(item, f"{prefix}[{label}]"))
        return out
    return {prefix: value}


def side_by_side(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    fa, fb = flatten(a), flatten(b)
    rows = []
    for key in sorted(fa.keys() | fb.keys()):
        if key.startswith("onnx.signature"):
            continue
        rows.append((key, json.dumps(fa.get(key, "-")), json.dumps(fb.get(key, "-"))))
    return rows


def _short(value: str, limit: int = 48) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir_a", type=Path)
    parser.add_argument("dir_b", type=Path)
    parser.add_argument(
        "--all", action="store_true", help="every field, not only differences and metrics"
    )


def run(args: argparse.Namespace) -> int:
    a = json.loads((args.dir_a / MANIFEST_NAME).read_text(encoding="utf-8"))
    b = json.loads((args.dir_b / MANIFEST_NAME).read_text(encoding="utf-8"))
    rows = [
        (key, _short(va), _short(vb), va == vb)
        for key, va, vb in side_by_side(a, b)
        if args.all or va != vb or key == "version" or key.startswith(("metrics.", "latency.p"))
    ]
    width = max([len(r[0]) for r in rows] + [5])
    col = max([len(r[1]) for r in rows] + [len(str(args.dir_a))])
    print(f"{'field':<{width}}  {args.dir_a!s:<{col}}  {args.dir_b}")
    for key, va, vb, same in rows:
        print(f"{key:<{width}}  {va:<{col}}  {vb}{'' if same else '  *'}")
    return 0

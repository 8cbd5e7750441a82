"""Moderators' verdicts as training data: `python -m model export-labels` writes them to a CSV."""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from service.moderation.models import FeatureValue, LabelledExample
from service.moderation.queue import ModerationQueue

BASE_COLUMNS = (
    "review_id",
    "text",
    "label",
    "has_text",
    "source",
    "decided_at",
    "risk_score",
    "decision",
    "reason_codes",
    "model_version",
    "scored_at",
)
FEATURE_PREFIX = "f_"


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


def _cell(value: FeatureValue) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    return value


def example_row(example: LabelledExample) -> dict[str, str | int | float]:
    scored = example.scored
    row: dict[str, str | int | float] = {
        "review_id": scored.review_id,
        "text": scored.text or "",
        "label": example.verdict,
        "has_text": int(bool(scored.text)),
        "source": example.source,
        "decided_at": _iso(example.decided_at_s),
        "risk_score": scored.risk_score,
        "decision": scored.decision,
        "reason_codes": ";".join(scored.reason_codes),
        "model_version": scored.model_version,
        "scored_at": _iso(scored.scored_at),
    }
    for name, value in scored.features.items():
        row[FEATURE_PREFIX + name] = _cell(value)
    return row


async def _collect(redis_url: str) -> list[LabelledExample]:
    async with Redis.from_url(redis_url) as redis:
        queue = ModerationQueue(redis)
        return [example async for example in queue.labelled_examples()]


def export_labels(redis_url: str, out: Path, *, text_only: bool = False) -> int:
    """Write every retained verdict as one CSV row (oldest decision first); returns the count.

    Columns: BASE_COLUMNS (`text`, `label` as the text trainer reads them), then one `f_<name>` per
    feature as it was scored. `text_only` leaves out reviews without text (behaviour-only ones).
    """
    examples = asyncio.run(_collect(redis_url))
    rows = [example_row(e) for e in examples if not text_only or e.scored.text]
    features = sorted({key for row in rows for key in row if key.startswith(FEATURE_PREFIX)})
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*BASE_COLUMNS, *features], restval="")
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(out)
    return len(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REVIEWGUARD_REDIS_URL")
        or os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
        help="Redis holding the moderation verdicts (default: $REVIEWGUARD_REDIS_URL, $REDIS_URL)",
    )
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument(
        "--text-only", action="store_true", help="leave out reviews that had no text"
    )


def run(args: argparse.Namespace) -> int:
    count = export_labels(args.redis_url, args.out, text_only=args.text_only)
    print(f"wrote {count} labelled reviews to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model export-labels",
        description="Export moderators' verdicts as a labelled CSV (text,label,...).",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

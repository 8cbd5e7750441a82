"""Verdicts become labelled examples that `model.labels` exports as training data."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from model.labels import BASE_COLUMNS, export_labels, main
from service.moderation.queue import ModerationQueue
from tests.integration.test_moderation_queue import scored


async def seed(redis_url: str) -> None:
    async with aioredis.Redis.from_url(redis_url) as redis:
        await redis.flushdb()
        queue = ModerationQueue(redis)
        await queue.record(scored("r-1", 0.9, codes=("DEVICE_SHARED", "ACCOUNT_NEW")))
        await queue.record(scored("r-2", 0.2, decision="allow", text="Solid, works, 4 stars."))
        await queue.record(scored("r-3", 0.7, text=None))
        await queue.record(scored("r-pending", 0.8))
        await queue.decide("r-1", "fake", moderator_id="alice")
        await queue.feedback("r-2", "genuine", source="appeal")
        await queue.decide("r-3", "fake", moderator_id="alice")


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


async def test_export_writes_text_label_features_and_reasons(
    redis_url: str, tmp_path: Path
) -> None:
    await seed(redis_url)
    out = tmp_path / "labels" / "verdicts.csv"
    # export_labels runs its own event loop: give it a thread of its own.
    count = await asyncio.to_thread(export_labels, redis_url, out)
    rows = read(out)
    assert count == len(rows) == 3
    assert list(rows[0])[: len(BASE_COLUMNS)] == list(BASE_COLUMNS)
    by_id = {row["review_id"]: row for row in rows}
    assert set(by_id) == {"r-1", "r-2", "r-3"}  # the pending review has no verdict yet
    assert (by_id["r-1"]["label"], by_id["r-2"]["label"]) == ("fake", "genuine")
    assert by_id["r-2"]["text"] == "Solid, works, 4 stars."
    assert by_id["r-1"]["reason_codes"] == "DEVICE_SHARED;ACCOUNT_NEW"
    assert by_id["r-1"]["f_device_accounts_24h"] == "7"
    assert by_id["r-1"]["f_has_text"] == "1"
    assert by_id["r-3"]["has_text"] == "0" and by_id["r-3"]["text"] == ""
    assert by_id["r-2"]["source"] == "appeal"

    text_only = tmp_path / "text.csv"
    assert await asyncio.to_thread(export_labels, redis_url, text_only, text_only=True) == 2


@pytest.mark.parametrize("flag", [[], ["--text-only"]])
async def test_command_line(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    await seed(redis_url)
    out = tmp_path / "cli.csv"
    code = await asyncio.to_thread(main, ["--redis-url", redis_url, "--out", str(out), *flag])
    assert code == 0
    assert len(read(out)) == (2 if flag else 3)
    assert "labelled reviews" in capsys.readouterr().out

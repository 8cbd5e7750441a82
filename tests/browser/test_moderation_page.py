"""The moderation page in a real headless Chromium: it lists, claims, decides; kept as a picture."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from service.moderation.queue import ModerationQueue
from tests.browser.moderation_app import build_app, serve
from tests.integration.test_moderation_queue import scored

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("no chromium on PATH (apt-get install chromium); CI installs it")
    return path


def seed(redis_url: str) -> None:
    reviews = [
        scored(
            "r-ring-1",
            0.97,
            decision="reject",
            codes=("DEVICE_SHARED", "ACCOUNT_NEW", "TEXT_EXCESSIVE_PUNCTUATION"),
            product_id="p-553",
        ),
        scored(
            "r-ring-2",
            0.88,
            codes=("DUPLICATE_TEXT", "VELOCITY_DEVICE"),
            product_id="p-553",
            text="Best blender ever!!! Five stars, my whole family loves it!!!",
        ),
        scored("r-lone", 0.61, codes=("RATING_WITHOUT_TEXT",), product_id="p-9", text=""),
    ]

    async def go() -> None:
        async with aioredis.Redis.from_url(redis_url) as client:
            queue = ModerationQueue(client)
            for review in reviews:
                await queue.record(review)

    asyncio.run(go())


@pytest.fixture
def base_url(redis_url: str) -> Iterator[str]:
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    seed(redis_url)
    with serve(build_app(redis_url)) as url:
        yield url


@pytest.mark.slow
def test_moderator_claims_and_decides_in_the_page(base_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_path()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=executable,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1180, "height": 760},
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base_url}/moderation")
            cards = page.locator("article.item")
            expect(cards).to_have_count(3)
            # Highest risk first, with its reasons and text.
            top = cards.nth(0)
            expect(top).to_have_attribute("data-review-id", "r-ring-1")
            expect(top.locator(".score")).to_have_text("0.97")
            expect(top.locator(".reasons .code")).to_have_text(
                ["DEVICE_SHARED", "ACCOUNT_NEW", "TEXT_EXCESSIVE_PUNCTUATION"]
            )
            expect(top.locator(".text")).to_contain_text("Best purchase ever")
            expect(cards.nth(2).locator(".text")).to_have_text("(rating without text)")

            top.locator("button.claim").click()
            expect(page.locator("#status")).to_contain_text(
                "enter your moderator id", ignore_case=True
            )
            page.fill("#moderator", "alice")
            page.locator("#moderator").dispatch_event("change")
            cards.nth(0).locator("button.claim").click()
            expect(page.locator("#status")).to_contain_text("Claimed r-ring-1")
            expect(cards.nth(0)).to_have_class("item mine")
            expect(cards.nth(0).locator(".claim-info")).to_contain_text("claimed by alice")
            page.screenshot(path=str(ARTIFACTS / "moderation-page.png"), full_page=True)

            cards.nth(0).locator("button.fake").click()
            expect(page.locator("#status")).to_contain_text("Decided r-ring-1: fake")
            expect(cards).to_have_count(2)
            expect(cards.nth(0)).to_have_attribute("data-review-id", "r-ring-2")
            cards.nth(1).locator("button.genuine").click()
            expect(cards).to_have_count(1)
            page.screenshot(path=str(ARTIFACTS / "moderation-page-after.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()

    precision = httpx.get(f"{base_url}/v1/moderation/precision", timeout=10).json()
    assert (precision["overall"]["decided"], precision["overall"]["fake"]) == (2, 1)
    assert (ARTIFACTS / "moderation-page.png").stat().st_size > 10_000

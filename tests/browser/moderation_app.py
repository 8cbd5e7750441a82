"""A small app with only the moderation routes over a real Redis, for tests of that edge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from service.api import moderation
from service.moderation.errors import ModerationError
from service.moderation.metrics import ModerationMetrics
from service.moderation.queue import ModerationQueue


def build_app(
    redis_url: str,
    *,
    lease_s: float = 300.0,
    on_confirmed_fake: Callable[[str], Awaitable[object]] | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    registry = registry or CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with Redis.from_url(redis_url) as redis:
            queue = ModerationQueue(
                redis,
                lease_s=lease_s,
                on_confirmed_fake=on_confirmed_fake,
                metrics=ModerationMetrics.for_registry(registry),
            )
            await queue.setup()
            yield {"queue": queue}

    app = FastAPI(lifespan=lifespan)
    app.include_router(moderation.router)

    @app.exception_handler(ModerationError)
    async def moderation_error(_: Request, exc: ModerationError) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status_code
        )

    return app

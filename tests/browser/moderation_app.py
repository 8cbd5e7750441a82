"""A small app with only the moderation routes over a real Redis, for tests of that edge."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from service.api import moderation
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
    app.include_router(moderation.page_router)
    moderation.install_errors(app)
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` on a real uvicorn server on a free local port; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

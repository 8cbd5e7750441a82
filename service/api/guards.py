"""Request guards: the body-size limit (413) and optional API-key authentication (401)."""

from __future__ import annotations

import hmac

import orjson
from fastapi import Request

from service.api.errors import Unauthorized, error_body
from service.metrics import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """Refuses bodies over max_bytes with 413 before any route sees them, chunked ones included.

    A declared Content-Length is checked up front; a body without one (chunked) is read here, up
    to the limit, and handed on only if it fits.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await self._refuse(send)
                    return
                await self.app(scope, receive, send)
                return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, replay([body], then=receive), send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps(
            error_body("body_too_large", f"request body exceeds {self.max_bytes} bytes")
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that hands out ``messages`` again, then reads on from ``then`` (or says
    the client left)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


class ApiKeys:
    """Callers present `Authorization: Bearer <key>` or `X-API-Key: <key>`; no keys = open."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [k.encode() for k in keys if k]

    @classmethod
    def parse(cls, raw: str) -> ApiKeys:
        return cls([k.strip() for k in raw.split(",")])

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check(self, presented: str | None) -> bool:
        if not self._keys:
            return True
        if not presented:
            return False
        candidate = presented.encode()
        # Compare against every key, in constant time each, so timing tells nothing.
        matches = [hmac.compare_digest(candidate, key) for key in self._keys]
        return any(matches)


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def admitted(request: Request) -> bool:
    """The request carries an accepted API key, or no keys are configured."""
    keys: ApiKeys = request.state.api_keys
    return not keys.enabled or keys.check(presented_key(request))


async def require_api_key(request: Request) -> None:
    if not admitted(request):
        raise Unauthorized("missing or unknown API key")

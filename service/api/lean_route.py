"""A FastAPI route whose well-formed requests skip FastAPI's generic request handler.

POST /v1/reviews/score is the service's hottest route. FastAPI's generic handler spends, per
request, more than a cheap endpoint does: two ``AsyncExitStack`` per request, the dependency
solver (for one API-key check and one body), the content type parsed as an e-mail header, the
body decoded by ``json.loads`` and then validated field by field in Python mode, each route of
an included router looked up through its effective context. On the bench's stream that was about
a fifth of a scored request's worker CPU (docs/performance.md, thirteenth session).

``LeanRoute`` is an ``APIRoute``: FastAPI builds it, documents it (OpenAPI from the endpoint's
signature) and matches it as any other. Only the request's way in differs. A request whose body
came whole, is declared ``application/json``, carries an accepted API key (or none is
configured) and validates in one pass of pydantic's JSON parser (``model_validate_json``) goes
straight to the endpoint. Any other request (no or another content type, a chunked or missing
body, JSON that pydantic's parser refuses, a body that does not validate, a wrong key) is handed,
with its body replayed, to the handler FastAPI built for the route, which answers it exactly as
before: its 401, its 422 with the fields named, its lone-surrogate strings that ``json.loads``
accepts. So the answers are FastAPI's on every input; the lean way in is only taken where both
ways agree (tests/api/test_lean_route.py holds them to it).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from service.api.guards import admitted, replay, require_api_key
from service.metrics import Message, Receive, Scope, Send

JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")
"""Content types the lean way accepts as they are; any other goes to FastAPI's handler (which
also takes ``+json`` subtypes, other parameters and no content type at all its own way)."""


class LeanRoute(APIRoute):
    """A route for ``async def endpoint(body: Model, request: Request) -> Response`` behind
    ``require_api_key`` (as a route or router dependency): nothing else is allowed in, so that
    the lean way in does all that FastAPI's handler would do for a well-formed request."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        self._model = _body_model(self)
        self._standard = self.app  # FastAPI's handler: every request the lean way leaves
        self.app = self._lean

    async def _lean(self, scope: Scope, receive: Receive, send: Send) -> None:
        messages, body = await _read_body(receive)
        if body is not None and _declares_json(scope["headers"]):
            request = Request(scope, replay(messages, then=receive), send)
            if admitted(request):  # require_api_key's own test
                try:
                    parsed = self._model.model_validate_json(body)
                except ValidationError:
                    parsed = None  # FastAPI's handler says what is wrong, its own way
                if parsed is not None:
                    response = await self.endpoint(parsed, request)
                    await response(scope, receive, send)
                    return
        await self._standard(scope, replay(messages, then=receive), send)


def _body_model(route: APIRoute) -> type[BaseModel]:
    """The endpoint's body model, after checking that the route asks for nothing else."""
    dependant = route.dependant
    calls = [d.call for d in dependant.dependencies]
    body = dependant.body_params
    problems = []
    if calls != [require_api_key]:
        problems.append(f"dependencies {calls} (only require_api_key is done the lean way)")
    model = body[0].field_info.annotation if len(body) == 1 else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or route._embed_body_fields:
        problems.append("not exactly one pydantic model as the whole body")
    if dependant.path_params or dependant.query_params or dependant.header_params:
        problems.append("path, query or header parameters")
    if dependant.cookie_params:
        problems.append("cookie parameters")
    parameters = list(inspect.signature(route.endpoint).parameters)
    if not inspect.iscoroutinefunction(route.endpoint) or len(parameters) != 2:
        problems.append("the endpoint must be async def endpoint(body, request)")
    elif dependant.request_param_name != parameters[1] or [b.name for b in body] != parameters[:1]:
        problems.append("the endpoint must take the body first and the request second")
    if problems:
        raise TypeError(f"LeanRoute {route.path}: " + "; ".join(problems))
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def _declares_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.lower() in JSON_TYPES
    return False


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The messages read and the whole body; None when it did not come whole (a disconnect)."""
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        return [message], message.get("body", b"")
    messages, chunks = [message], []
    while message["type"] == "http.request":
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)
        message = await receive()
        messages.append(message)
    return messages, None

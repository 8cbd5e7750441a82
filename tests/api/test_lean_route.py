"""LeanRoute answers every request as FastAPI's own handler does, and takes its lean way in only
for well-formed ones.

Two routes of one app share an endpoint that echoes the parsed body: one a plain ``APIRoute``
(FastAPI's handler), one a ``LeanRoute``. Every request goes to both and the answers must be the
same, status and body; a counter on the LeanRoute's fallback (FastAPI's handler, which it keeps)
tells which way each request took.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api import errors
from service.api.guards import ApiKeys, require_api_key
from service.api.lean_route import LeanRoute
from service.api.schemas import ReviewIn
from service.main import create_app
from service.metrics import Receive, Scope, Send
from service.settings import Settings
from tests.api.conftest import review

KEY = "key-one"


async def echo(body: ReviewIn, request: Request) -> Response:
    return Response(body.model_dump_json(), media_type="application/json")


class Counted:
    def __init__(self, route: LeanRoute) -> None:
        self.calls = 0
        self._app = route._standard
        route._standard = self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await self._app(scope, receive, send)


def make_app(keys: str) -> tuple[FastAPI, Counted]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {"api_keys": ApiKeys.parse(keys)}

    app = FastAPI(lifespan=lifespan)
    guard = [Depends(require_api_key)]
    app.router.add_api_route("/plain", echo, methods=["POST"], dependencies=guard)
    app.router.add_api_route(
        "/lean", echo, methods=["POST"], dependencies=guard, route_class_override=LeanRoute
    )
    errors.install(app)
    lean = next(r for r in app.router.routes if isinstance(r, LeanRoute))
    return app, Counted(lean)


@pytest.fixture(scope="module", params=["", KEY], ids=["open", "with-keys"])
def apps(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, Counted, bool]]:
    app, fallback = make_app(request.param)
    with TestClient(app) as client:
        yield client, fallback, bool(request.param)


def both(client: TestClient, content: bytes, headers: dict[str, str]) -> tuple[Any, Any]:
    answers = []
    for path in ("/plain", "/lean"):
        response = client.post(path, content=content, headers=headers)
        answers.append((response.status_code, response.content))
    return answers[0], answers[1]


GOOD = json.dumps(review()).encode()
JSON = {"content-type": "application/json"}

CASES: list[tuple[str, bytes, dict[str, str], bool]] = [
    # name, body, headers, lean way expected (with the right key, when keys are on)
    ("valid", GOOD, JSON, True),
    ("charset", GOOD, {"content-type": "application/json; charset=utf-8"}, True),
    ("upper case type", GOOD, {"content-type": "Application/JSON"}, True),
    ("+json", GOOD, {"content-type": "application/merge-patch+json"}, False),
    ("text/plain", GOOD, {"content-type": "text/plain"}, False),
    ("no content type", GOOD, {}, False),
    ("empty body", b"", JSON, False),
    ("not json", b"{not json", JSON, False),
    ("utf-8 bom", b"\xef\xbb\xbf" + GOOD, JSON, False),
    ("utf-16", json.dumps(review()).encode("utf-16"), JSON, False),
    ("invalid utf-8", GOOD.replace(b"Solid", b"\xffolid"), JSON, False),
    ("lone surrogate", json.dumps(review(text="a \ud800 b")).encode(), JSON, False),
    ("NaN outside the model", GOOD[:-1] + b',"extra":NaN}', JSON, True),
    ("rating 5.0", json.dumps(review(rating=5.0)).encode(), JSON, True),
    ("rating true", json.dumps(review(rating=True)).encode(), JSON, False),
    ("rating as text", json.dumps(review(rating="4")).encode(), JSON, False),
    ("missing fields", b'{"rating": 3}', JSON, False),
    ("not an object", b"[1, 2]", JSON, False),
    ("bad ip", json.dumps(review(device={"ip": "999.1.1.1"})).encode(), JSON, False),
    ("naive time", json.dumps(review(submitted_at="2026-11-27T10:00:00")).encode(), JSON, False),
    ("duplicate key", GOOD[:-1] + b',"rating":2}', JSON, True),
]


@pytest.mark.parametrize(("name", "body", "headers", "lean"), CASES, ids=[c[0] for c in CASES])
def test_same_answers_as_fastapi_and_the_lean_way_only_for_well_formed_requests(
    apps: tuple[TestClient, Counted, bool],
    name: str,
    body: bytes,
    headers: dict[str, str],
    lean: bool,
) -> None:
    client, fallback, keyed = apps
    keys = [{"x-api-key": KEY}, {"authorization": f"Bearer {KEY}"}, {}, {"x-api-key": "no"}]
    for key in keys if keyed else [{}]:
        sent = {**headers, **key}
        before = fallback.calls
        plain, got = both(client, body, sent)
        assert got == plain, (name, key)
        key_ok = not keyed or (bool(key) and "no" not in key.values())
        assert fallback.calls - before == (0 if lean and key_ok else 1), (name, key)
        if not key_ok:
            assert got[0] != 200


def test_a_chunked_body_is_answered_the_same() -> None:
    app, fallback = make_app("")
    with TestClient(app) as client:

        def chunks() -> Iterator[bytes]:
            yield GOOD[:40]
            yield GOOD[40:]

        plain = client.post("/plain", content=chunks(), headers=JSON)
        got = client.post("/lean", content=chunks(), headers=JSON)
    echoed = ReviewIn.model_validate_json(GOOD).model_dump_json().encode()
    assert (got.status_code, got.content) == (plain.status_code, plain.content) == (200, echoed)
    assert fallback.calls == 0  # a body in several messages is read whole, the lean way


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["2026-11-27T10:00:00Z", "2026-11-27T10:00:00", "198.51.100.7", "::1", ""]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
FIELDS = ["review_id", "product_id", "rating", "text", "submitted_at", "account", "device", "x"]
SUB = {"account": ["id", "created_at", "username", "email"], "device": ["ip", "screen"]}


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    body: dict[str, Any] = review()
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from(FIELDS))
        if field in SUB and isinstance(body.get(field), dict) and draw(st.booleans()):
            body[field] = {**body[field], draw(st.sampled_from(SUB[field])): draw(values)}
        elif draw(st.booleans()):
            body[field] = draw(values)
        else:
            body.pop(field, None)
    raw = json.dumps(body, ensure_ascii=draw(st.booleans()), allow_nan=True)
    return raw.encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def open_client() -> Iterator[TestClient]:
    app, _ = make_app("")
    with TestClient(app) as client:
        yield client


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies())
def test_any_body_gets_fastapis_answer(open_client: TestClient, body: bytes) -> None:
    plain, got = both(open_client, body, JSON)
    assert got == plain


def test_the_service_scores_through_a_lean_route_documented_as_before() -> None:
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", hmac_key="k"))
    first = app.router.routes[0]
    assert isinstance(first, LeanRoute) and first.path == "/v1/reviews/score"
    operation = app.openapi()["paths"]["/v1/reviews/score"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ReviewIn"}
    assert {"200", "401", "413", "422"} <= set(operation["responses"])


async def with_query(body: ReviewIn, request: Request, q: int = 0) -> Response:
    return Response()


async def without_request(body: ReviewIn) -> Response:
    return Response()


def not_async(body: ReviewIn, request: Request) -> Response:
    return Response()


GUARD = [Depends(require_api_key)]


@pytest.mark.parametrize("endpoint", [with_query, without_request, not_async])
def test_routes_it_cannot_serve_the_lean_way_are_refused(endpoint: Any) -> None:
    with pytest.raises(TypeError, match="LeanRoute /x"):
        LeanRoute("/x", endpoint, methods=["POST"], dependencies=GUARD)
    with pytest.raises(TypeError, match="require_api_key"):
        LeanRoute("/x", echo, methods=["POST"])
    assert isinstance(LeanRoute("/x", echo, methods=["POST"], dependencies=GUARD), APIRoute)

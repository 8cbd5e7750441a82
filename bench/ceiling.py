"""The bare ceiling: the service's own app with its scoring route answered by a constant.

create_ceiling_app() calls service.main.create_app itself, so everything around the route is the
real thing and stays so as the app evolves: the lifespan, every middleware (request id, access
log, body limit, latency histogram), the error handlers, the API-key dependency of the /v1 router,
FastAPI's parsing of the body into the same pydantic model ReviewIn, and an orjson Response. Only
POST /v1/reviews/score is shadowed by a route that returns a constant ScoreOut-shaped body
(review_id echoed, as the real route does; the load generator reads its latency baseline from
it): no Redis call, no model, no fusion, no background writes. The lifespan still loads the model
and opens the Redis client, but the shadowing route never uses them.

Run: `uvicorn --factory bench.ceiling:create_ceiling_app` (same environment as the service).

`create_lean_ceiling_app` is the same constant behind the service's own way in instead: a
`LeanRoute` (service/api/lean_route.py) registered as the service registers POST
/v1/reviews/score (`add_score_route`), rather than FastAPI's generic handler. The ceiling above
is the figure the checks use (a bare FastAPI endpoint parsing the same request); this one tells
what the scoring itself costs beside the same way in.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response

from service.api.guards import require_api_key
from service.api.routes import add_score_route
from service.api.schemas import ReviewIn, ScoreOut
from service.main import create_app
from service.settings import Settings

JSON = "application/json"
_REST = orjson.dumps(
    {
        "risk_score": 0.1234,
        "risk_level": "low",
        "decision": "allow",
        "reasons": [
            {
                "code": "TEXT_MODEL",
                "message": "text resembles genuine reviews (0.12)",
                "contribution": -0.42,
            },
            {
                "code": "ACCOUNT_NEW",
                "message": "account created 43 minutes before this review",
                "contribution": 0.31,
            },
        ],
        "model_version": "ceiling / none",
        "degraded": False,
    }
)[1:]  # everything after the opening brace: review_id goes first


def constant_answer(review_id: str) -> bytes:
    return b'{"review_id":' + orjson.dumps(review_id) + b"," + _REST


router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])


@router.post("/reviews/score", response_model=ScoreOut, summary="Parse a review, answer a constant")
async def score_review(body: ReviewIn) -> Response:
    return Response(constant_answer(body.review_id), media_type=JSON)


async def lean_score_review(body: ReviewIn, request: Request) -> Response:
    return Response(constant_answer(body.review_id), media_type=JSON)


def create_ceiling_app(settings: Settings | None = None) -> FastAPI:
    app = create_app(settings)
    # Routes match in order: the ceiling's route goes first and shadows the real one.
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
    return app


def create_lean_ceiling_app(settings: Settings | None = None) -> FastAPI:
    app = create_app(settings)
    add_score_route(app, lean_score_review)  # in front of the real one, the same way registered
    return app

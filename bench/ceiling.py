"""The bare ceiling: the service's app stack, one route that parses ReviewIn, a constant answer.

Built the way service.main.create_app builds the real app: FastAPI, the same router prefix and
dependency (API-key check, open when no keys are set), the same error handlers, the same two
middlewares (LatencyMiddleware with its Prometheus histogram, BodyLimitMiddleware), the same
pydantic model ReviewIn for the body and the same orjson Response. What is left out is exactly the
scoring: no Redis, no ONNX model, no fusion, no background writes. The answer is a constant
ScoreOut-shaped body; only review_id is echoed from the request, as the real route does (the load
generator reads its latency baseline from it).

Run: `uvicorn --factory bench.ceiling:create_ceiling_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Response

from service.api import errors
from service.api.guards import ApiKeys, BodyLimitMiddleware, require_api_key
from service.api.schemas import HealthOut, ReviewIn, ScoreOut
from service.metrics import LatencyMiddleware, Metrics
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


probes = APIRouter()


@probes.get("/healthz", response_model=HealthOut)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_ceiling_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {
            "settings": settings,
            "metrics": metrics,
            "api_keys": ApiKeys.parse(settings.api_keys.get_secret_value()),
        }

    app = FastAPI(title="reviewguard-ceiling", version="1", lifespan=lifespan)
    app.include_router(router)
    app.include_router(probes)
    errors.install(app)
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    return app

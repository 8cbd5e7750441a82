"""HTTP routes of the scoring API: validation and orchestration only."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response

from service.api.errors import BatchTooLarge
from service.api.guards import require_api_key
from service.api.lean_route import LeanRoute
from service.api.schemas import (
    BatchIn,
    BatchOut,
    HealthOut,
    ModelOut,
    ReadyOut,
    ReviewIn,
    ScoreOut,
    epoch_s,
    error_responses,
)
from service.scorer import FraudScorer
from service.scoring.review import Account, Device, Review

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 413, 422),
)
probes = APIRouter()


async def get_scorer(request: Request) -> FraudScorer:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a hand-off per request.
    scorer: FraudScorer = request.state.scorer
    return scorer


ScorerDep = Annotated[FraudScorer, Depends(get_scorer)]

JSON = "application/json"


def to_review(body: ReviewIn, now_s: float) -> Review:
    """The Review of a request: what ``reference_to_review`` gives, built at about two thirds of
    its cost (this runs on every scored request): the frozen dataclasses' slots are set through
    their own setters, as their __init__ does through object.__setattr__."""
    account, device = body.account, body.device
    set_id, set_created_at, set_username, set_email = _ACCOUNT_SLOTS
    a: Account = _NEW(Account)
    set_id(a, account.id)
    set_created_at(a, epoch_s(account.created_at, 0.0) if account.created_at else None)
    set_username(a, account.username)
    set_email(a, account.email)
    set_fingerprint, set_ip, set_user_agent, set_language, set_timezone, set_screen = _DEVICE_SLOTS
    d: Device = _NEW(Device)
    ip = device.ip
    set_fingerprint(d, device.fingerprint)
    set_ip(d, str(ip) if ip is not None else None)
    set_user_agent(d, device.user_agent)
    set_language(d, device.accept_language)
    set_timezone(d, device.timezone)
    set_screen(d, device.screen)
    set_rid, set_pid, set_rating, set_submitted_at, set_text, set_account, set_device = (
        _REVIEW_SLOTS
    )
    r: Review = _NEW(Review)
    set_rid(r, body.review_id)
    set_pid(r, body.product_id)
    set_rating(r, body.rating)
    set_submitted_at(r, epoch_s(body.submitted_at, now_s))
    set_text(r, body.text)
    set_account(r, a)
    set_device(r, d)
    return r


_NEW = object.__new__
# Every field of each, in the order to_review sets them (the tests hold them to the fields).
ACCOUNT_FIELDS = ("id", "created_at", "username", "email")
DEVICE_FIELDS = ("fingerprint", "ip", "user_agent", "accept_language", "timezone", "screen")
REVIEW_FIELDS = ("review_id", "product_id", "rating", "submitted_at", "text", "account", "device")
_ACCOUNT_SLOTS = tuple(Account.__dict__[name].__set__ for name in ACCOUNT_FIELDS)
_DEVICE_SLOTS = tuple(Device.__dict__[name].__set__ for name in DEVICE_FIELDS)
_REVIEW_SLOTS = tuple(Review.__dict__[name].__set__ for name in REVIEW_FIELDS)


def reference_to_review(body: ReviewIn, now_s: float) -> Review:
    """The Review of a request, through the dataclasses' constructors: the reference for
    to_review (tests/unit/test_to_review.py holds them equal)."""
    account, device = body.account, body.device
    return Review(
        review_id=body.review_id,
        product_id=body.product_id,
        rating=body.rating,
        submitted_at=epoch_s(body.submitted_at, now_s),
        text=body.text,
        account=Account(
            id=account.id,
            created_at=epoch_s(account.created_at, 0.0) if account.created_at else None,
            username=account.username,
            email=account.email,
        ),
        device=Device(
            fingerprint=device.fingerprint,
            ip=str(device.ip) if device.ip is not None else None,
            user_agent=device.user_agent,
            accept_language=device.accept_language,
            timezone=device.timezone,
            screen=device.screen,
        ),
    )


async def score_review(body: ReviewIn, request: Request) -> Response:
    # The scorer straight from the request state: a Depends() costs FastAPI a dependency
    # resolution per request (4% of the worker's samples under load), on the hottest route.
    scorer: FraudScorer = request.state.scorer
    verdict = await scorer.score(to_review(body, time.time()))
    return Response(verdict.body, media_type=JSON)


def add_score_route(app: FastAPI, endpoint: Callable[..., Any] = score_review) -> None:
    """POST /v1/reviews/score, first among the app's routes, as a ``LeanRoute``: documented as
    FastAPI documents any route, with well-formed requests skipping FastAPI's generic handler
    (service/api/lean_route.py). Same path, answers, dependencies and schema as the /v1 router
    would give it. ``endpoint``: another one in front of the service's (the bench's lean
    ceiling)."""
    app.router.add_api_route(
        "/v1/reviews/score",
        endpoint,
        methods=["POST"],
        response_model=ScoreOut,
        summary="Score one review",
        dependencies=[Depends(require_api_key)],
        responses=error_responses(401, 413, 422),
        route_class_override=LeanRoute,
    )
    # Routes match in order: the busiest goes first.
    app.router.routes.insert(0, app.router.routes.pop())


@router.post(
    "/reviews/score/batch",
    response_model=BatchOut,
    summary="Score a backlog of reviews in the order given",
    responses={413: {"description": "more reviews than the batch limit"}},
)
async def score_batch(body: BatchIn, request: Request, scorer: ScorerDep) -> Response:
    limit: int = request.state.settings.max_batch
    if len(body.reviews) > limit:
        raise BatchTooLarge(f"a batch holds at most {limit} reviews, got {len(body.reviews)}")
    now_s = time.time()
    verdicts = await scorer.score_many([to_review(r, now_s) for r in body.reviews])
    payload = b'{"results":[' + b",".join(v.body for v in verdicts) + b"]}"
    return Response(payload, media_type=JSON)


@router.get("/model", response_model=ModelOut, summary="The loaded models' manifests")
async def model_manifest(request: Request) -> dict[str, Any]:
    info: dict[str, Any] = request.state.model_info
    return info


@probes.get("/healthz", response_model=HealthOut, summary="Alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@probes.get(
    "/readyz",
    response_model=ReadyOut,
    summary="Model loaded and not shutting down",
    responses={503: {"description": "shutting down"}},
)
async def readyz(request: Request, scorer: ScorerDep) -> Response:
    if request.state.lifecycle.shutting_down:
        return Response(orjson.dumps({"status": "shutting_down"}), 503, media_type=JSON)
    return Response(
        orjson.dumps({"status": "ready", "model_version": scorer.model_version}), media_type=JSON
    )


@probes.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(
        request.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )

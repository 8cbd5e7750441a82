"""HTTP edge of moderation: the queue, claims, verdicts, feedback, precision and the page."""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.schemas import error_responses
from service.moderation.errors import ModerationError
from service.moderation.models import (
    Claim,
    PrecisionReport,
    QueueItem,
    QueuePage,
    ReasonPrecision,
    VerdictOutcome,
)
from service.moderation.queue import ModerationQueue

# The API (include it with the service's API-key dependency) and the page (open: it holds no data,
# and the browser sends the key with each API call the page makes).
router = APIRouter(responses=error_responses(401, 404, 409, 413, 422, 503))
page_router = APIRouter()

Id = Annotated[str, Field(min_length=1, max_length=128)]


def get_queue(request: Request) -> ModerationQueue:
    queue: ModerationQueue = request.state.queue
    return queue


QueueDep = Annotated[ModerationQueue, Depends(get_queue)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClaimRequest(_Body):
    moderator_id: Id


class DecisionRequest(_Body):
    verdict: Literal["fake", "genuine"]
    moderator_id: Id
    note: str = Field("", max_length=2000)


class FeedbackRequest(_Body):
    review_id: Id
    verdict: Literal["fake", "genuine"]
    source: Annotated[str, Field(min_length=1, max_length=64)]
    moderator_id: Id | None = None
    note: str = Field("", max_length=2000)


class ReasonOut(BaseModel):
    code: str
    message: str
    contribution: float


class ClaimOut(BaseModel):
    moderator_id: str
    expires_at: float  # epoch seconds, Redis server time


class QueueItemOut(BaseModel):
    review_id: str
    product_id: str
    risk_score: float
    decision: str
    reasons: list[ReasonOut]
    text: str | None
    scored_at: float
    model_version: str
    enqueued_at: float
    claim: ClaimOut | None  # a live lease; an expired one shows as null

    @classmethod
    def of(cls, item: QueueItem) -> QueueItemOut:
        scored = item.scored
        return cls(
            review_id=scored.review_id,
            product_id=scored.product_id,
            risk_score=scored.risk_score,
            decision=scored.decision,
            reasons=[
                ReasonOut(code=r.code, message=r.message, contribution=r.contribution)
                for r in scored.reasons
            ],
            text=scored.text,
            scored_at=scored.scored_at,
            model_version=scored.model_version,
            enqueued_at=item.enqueued_at_s,
            claim=None
            if item.lease is None
            else ClaimOut(moderator_id=item.lease.moderator_id, expires_at=item.lease.expires_at_s),
        )


class QueuePageOut(BaseModel):
    items: list[QueueItemOut]
    next_cursor: str | None
    server_time: float

    @classmethod
    def of(cls, page: QueuePage) -> QueuePageOut:
        return cls(
            items=[QueueItemOut.of(i) for i in page.items],
            next_cursor=page.next_cursor,
            server_time=page.now_s,
        )


class ClaimResponse(BaseModel):
    review_id: str
    moderator_id: str
    expires_at: float
    renewed: bool

    @classmethod
    def of(cls, claim: Claim) -> ClaimResponse:
        return cls(
            review_id=claim.review_id,
            moderator_id=claim.moderator_id,
            expires_at=claim.expires_at_s,
            renewed=claim.is_renewal,
        )


class VerdictResponse(BaseModel):
    review_id: str
    verdict: str
    source: str
    moderator_id: str | None
    decided_at: float
    recorded: bool  # false: this verdict was already there; nothing was counted twice
    linked_to_fraud: bool | None

    @classmethod
    def of(cls, outcome: VerdictOutcome) -> VerdictResponse:
        return cls(
            review_id=outcome.review_id,
            verdict=outcome.verdict,
            source=outcome.source,
            moderator_id=outcome.moderator_id,
            decided_at=outcome.decided_at_s,
            recorded=outcome.is_new,
            linked_to_fraud=outcome.linked_to_fraud,
        )


class ReasonPrecisionOut(BaseModel):
    code: str
    decided: int
    fake: int
    precision: float | None

    @classmethod
    def of(cls, reason: ReasonPrecision) -> ReasonPrecisionOut:
        return cls(
            code=reason.code,
            decided=reason.decided,
            fake=reason.fake,
            precision=reason.precision,
        )


class PrecisionOut(BaseModel):
    window_days: int
    overall: ReasonPrecisionOut
    reasons: list[ReasonPrecisionOut]

    @classmethod
    def of(cls, report: PrecisionReport) -> PrecisionOut:
        return cls(
            window_days=report.window_days,
            overall=ReasonPrecisionOut.of(report.overall),
            reasons=[ReasonPrecisionOut.of(r) for r in report.reasons],
        )


@router.get("/v1/moderation/queue", response_model=QueuePageOut, tags=["moderation"])
async def list_queue(
    queue: QueueDep,
    product_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    reason: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    min_risk: Annotated[float, Query(ge=0, le=1)] = 0.0,
    include_claimed: bool = True,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> QueuePageOut:
    """Pending reviews, highest risk first; pass `next_cursor` back as `cursor` to go on."""
    page = await queue.list(
        product_id=product_id,
        reason_code=reason,
        min_risk=min_risk,
        include_claimed=include_claimed,
        limit=limit,
        cursor=cursor,
    )
    return QueuePageOut.of(page)


@router.post(
    "/v1/moderation/queue/{review_id}/claim", response_model=ClaimResponse, tags=["moderation"]
)
async def claim(review_id: Id, body: ClaimRequest, queue: QueueDep) -> ClaimResponse:
    """Hold a review for the lease period; claiming again renews it."""
    return ClaimResponse.of(await queue.claim(review_id, body.moderator_id))


@router.post("/v1/moderation/queue/{review_id}/release", status_code=204, tags=["moderation"])
async def release(review_id: Id, body: ClaimRequest, queue: QueueDep) -> None:
    """Give a claimed review back before the lease runs out."""
    await queue.release(review_id, body.moderator_id)


@router.post(
    "/v1/moderation/queue/{review_id}/decision",
    response_model=VerdictResponse,
    tags=["moderation"],
)
async def decide(review_id: Id, body: DecisionRequest, queue: QueueDep) -> VerdictResponse:
    """A moderator's verdict on a queued review; repeating the same verdict changes nothing."""
    outcome = await queue.decide(
        review_id, body.verdict, moderator_id=body.moderator_id, note=body.note
    )
    return VerdictResponse.of(outcome)


@router.post("/v1/feedback", response_model=VerdictResponse, tags=["moderation"])
async def feedback(body: FeedbackRequest, queue: QueueDep) -> VerdictResponse:
    """A verdict on any review scored within the retention period, from the queue or not."""
    outcome = await queue.feedback(
        body.review_id,
        body.verdict,
        source=body.source,
        moderator_id=body.moderator_id,
        note=body.note,
    )
    return VerdictResponse.of(outcome)


@router.get("/v1/moderation/precision", response_model=PrecisionOut, tags=["moderation"])
async def precision(queue: QueueDep) -> PrecisionOut:
    """Per reason code: decided reviews that carried it, how many were fake, and the share."""
    return PrecisionOut.of(await queue.reason_precision())


@page_router.get("/moderation", response_class=HTMLResponse, include_in_schema=False)
async def moderation_page() -> HTMLResponse:
    page = resources.files("service").joinpath("static/moderation.html").read_text("utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


def install_errors(app: FastAPI) -> None:
    """Render moderation errors as the service renders its own: {"error": {"code", "message"}}."""

    @app.exception_handler(ModerationError)
    async def moderation_error(_: Request, exc: ModerationError) -> JSONResponse:
        body = {"error": {"code": exc.code, "message": exc.message}}
        return JSONResponse(body, status_code=exc.status_code)

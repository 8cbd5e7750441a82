"""Monitoring routes: the drift report and a decision's statement of reasons."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from redis.exceptions import RedisError

from service.api.errors import NotFound, ServiceError
from service.api.guards import require_api_key
from service.monitoring.audit import AuditTrail, statement_of_reasons
from service.monitoring.live import Monitor

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])


class MonitoringUnavailable(ServiceError):
    status_code = 503
    code = "monitoring_unavailable"


@router.get(
    "/monitoring/drift",
    summary="Drift of the live traffic against the model's reference profile",
    responses={503: {"description": "Redis unavailable or monitoring switched off"}},
)
async def drift(request: Request, window: Literal["1h", "24h"] = Query("1h")) -> dict[str, Any]:
    monitor: Monitor | None = request.state.monitor
    if monitor is None:
        raise MonitoringUnavailable("monitoring is switched off (REVIEWGUARD_MONITORING_ENABLED)")
    try:
        return await monitor.drift(window)
    except (RedisError, OSError) as exc:
        raise MonitoringUnavailable(
            f"the live profile cannot be read: {type(exc).__name__}"
        ) from exc


@router.get(
    "/reviews/{review_id}/decision",
    summary="Statement of reasons of the automated decision on a review",
    responses={404: {"description": "no decision recorded for this review (or expired)"}},
)
async def decision(review_id: str, request: Request) -> dict[str, Any]:
    trail: AuditTrail | None = request.state.audit
    if trail is None:
        raise MonitoringUnavailable(
            "the audit trail is switched off (REVIEWGUARD_MONITORING_ENABLED)"
        )
    try:
        entry = await trail.entry(review_id)
    except (RedisError, OSError) as exc:
        raise MonitoringUnavailable(
            f"the audit trail cannot be read: {type(exc).__name__}"
        ) from exc
    if entry is None:
        raise NotFound(f"no decision recorded for review {review_id!r}")
    return statement_of_reasons(entry)

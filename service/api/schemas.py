"""HTTP request and response bodies (pydantic stays here, at the edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyAddress,
    WithJsonSchema,
)

Id = Annotated[str, Field(min_length=1, max_length=128)]


def _whole_number(value: object) -> object:
    # JSON has one number type: 5 and 5.0 are the same integer, "5" and true are not numbers.
    if isinstance(value, (bool, str)):
        raise ValueError("must be a whole number, not a string or a boolean")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Stars = Annotated[int, Field(ge=1, le=5), BeforeValidator(_whole_number)]
ShortText = Annotated[str, Field(max_length=512)]
# Pydantic's own "ipvanyaddress" format is unknown to OpenAPI tools; say what it means.
IpAddress = Annotated[
    IPvAnyAddress,
    WithJsonSchema({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
]


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Id
    created_at: AwareDatetime | None = None
    username: Annotated[str, Field(max_length=256)] | None = None
    email: Annotated[str, Field(max_length=320)] | None = None


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    fingerprint: Annotated[str, Field(max_length=256)] | None = None
    ip: IpAddress | None = None
    user_agent: Annotated[str, Field(max_length=1024)] | None = None
    accept_language: ShortText | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    screen: Annotated[str, Field(max_length=32)] | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "review_id": "r-88123",
                    "product_id": "p-553",
                    "rating": 5,
                    "text": "Amazing!!! Best purchase ever!!! Highly recommend!!!",
                    "submitted_at": "2026-11-27T10:41:07Z",
                    "account": {
                        "id": "a-90211",
                        "created_at": "2026-11-27T09:58:00Z",
                        "username": "jane83920471",
                        "email": "jane83920471@mailinator.com",
                    },
                    "device": {
                        "fingerprint": "8f14e45fceea167a",
                        "ip": "203.0.113.77",
                        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
                        "accept_language": "en-US",
                        "timezone": "America/Chicago",
                    },
                }
            ]
        },
    )

    review_id: Id
    product_id: Id
    rating: Stars
    # "" = the reviewer wrote nothing (a signal); null/absent = the caller has no text.
    text: Annotated[str, Field(max_length=20_000)] | None = None
    submitted_at: AwareDatetime | None = None
    account: AccountIn
    device: DeviceIn = Field(default_factory=DeviceIn)


class BatchIn(BaseModel):
    reviews: Annotated[list[ReviewIn], Field(min_length=1)]


class ReasonOut(BaseModel):
    code: str
    message: str
    contribution: float


class ScoreOut(BaseModel):
    review_id: str
    risk_score: float = Field(ge=0, le=1)
    risk_level: Literal["low", "medium", "high"]
    decision: Literal["allow", "review", "reject"]
    reasons: list[ReasonOut]
    model_version: str
    degraded: bool


class BatchOut(BaseModel):
    results: list[ScoreOut]


class ModelOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_version: str
    text_model: dict[str, object]
    fusion: dict[str, object]


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready", "shutting_down"]
    model_version: str | None = None


def epoch_s(value: datetime | None, default: float) -> float:
    return value.timestamp() if value is not None else default


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every error: {"error": {"code", "message", ...}}; 422s add `fields` [{field, problem}]."""

    model_config = ConfigDict(extra="allow")

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    descriptions = {
        401: "missing or unknown API key",
        404: "not found",
        409: "conflicts with the item's state",
        413: "request body or batch too large",
        422: "invalid request: the body names each field and its problem",
        503: "a store this operation cannot do without is unavailable",
    }
    return {s: {"model": ErrorOut, "description": descriptions[s]} for s in statuses}

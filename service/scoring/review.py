"""The pure input of scoring: one review with its account and device, as the caller sent it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    created_at: float | None = None  # epoch seconds
    username: str | None = None
    email: str | None = None  # raw: hashed before it reaches Redis, never logged


@dataclass(frozen=True, slots=True)
class Device:
    # Raw personal data: hashed with the HMAC key before it reaches Redis, never logged.
    fingerprint: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    accept_language: str | None = None
    timezone: str | None = None
    screen: str | None = None


@dataclass(frozen=True, slots=True)
class Review:
    review_id: str
    product_id: str
    rating: int
    submitted_at: float  # epoch seconds; windows follow it, so a backlog replays like live traffic
    account: Account
    device: Device = field(default_factory=Device)
    # "" means the reviewer wrote nothing (a signal); None means the caller has no text.
    text: str | None = None

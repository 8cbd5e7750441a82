"""Moderation errors: each carries the HTTP status and the stable code the API answers with."""

from __future__ import annotations


class ModerationError(Exception):
    status_code: int = 500
    code: str = "internal"

    @property
    def message(self) -> str:
        return str(self)


class NotInQueue(ModerationError):
    status_code = 404
    code = "not_in_queue"


class ReviewNotFound(ModerationError):
    status_code = 404
    code = "review_not_found"


class AlreadyClaimed(ModerationError):
    status_code = 409
    code = "already_claimed"


class AlreadyDecided(ModerationError):
    status_code = 409
    code = "already_decided"


class NotClaimHolder(ModerationError):
    status_code = 409
    code = "not_claim_holder"


class VerdictConflict(ModerationError):
    status_code = 409
    code = "verdict_conflict"


class InvalidCursor(ModerationError):
    status_code = 422
    code = "invalid_request"


class ModerationUnavailable(ModerationError):
    """Redis failed or timed out; nothing was (knowingly) half-written: scripts are atomic."""

    status_code = 503
    code = "moderation_unavailable"


class FraudLinkFailed(ModerationError):
    """The verdict is recorded but linking to confirmed fraud failed: repeating the call retries."""

    status_code = 503
    code = "fraud_link_failed"

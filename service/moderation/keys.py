"""Redis key names of moderation: versioned, bounded, one hash tag per script."""

from __future__ import annotations

from service.moderation.models import key_id

PREFIX = "rg:v1:mod:"
# Queue, leases, verdicts, counters and the stream change together in one script, so they share
# one Cluster slot. Moderation is human-scale traffic; the per-review records of every scored
# review (the high-volume part) have a slot of their own each.
TAG = "{mod}"
DECISIONS_GROUP = "reviewguard-decisions"
DAY_S = 86_400


def record_key(review_id: str) -> str:
    """The compact scored record of a review that did not enter the queue."""
    return f"{PREFIX}rec:{{{key_id(review_id)}}}"


def queue_key() -> str:
    """ZSET of pending reviews (member: key_id(review_id), score: models.priority)."""
    return f"{PREFIX}{TAG}:queue"


def product_index_key(product_id: str) -> str:
    return f"{PREFIX}{TAG}:queue:p:{key_id(product_id)}"


def reason_index_key(code: str) -> str:
    return f"{PREFIX}{TAG}:queue:r:{key_id(code)}"


def item_key(review_id: str) -> str:
    """HASH of one review in moderation: record, status, lease, verdict."""
    return item_key_for_member(key_id(review_id))


def item_key_for_member(member: str) -> str:
    return f"{PREFIX}{TAG}:item:{member}"


def decided_key() -> str:
    """ZSET of decided reviews (member: key_id(review_id), score: decided at, ms): the labels."""
    return f"{PREFIX}{TAG}:decided"


def precision_key(epoch_day: int) -> str:
    """HASH of one day's verdict counters per reason code: `<code>:n` decided, `<code>:f` fake."""
    return f"{PREFIX}{TAG}:prec:{epoch_day}"


def stream_key() -> str:
    """STREAM of decisions for other systems (consumer group DECISIONS_GROUP)."""
    return f"{PREFIX}{TAG}:decisions"

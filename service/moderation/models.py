"""Pure values of moderation: scored reviews, queue items, leases, verdicts, precision."""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import zstandard

# The scorer's own reason type: a verdict's reasons go into the record as they are.
from service.scoring.fusion import Reason as Reason

Verdict = Literal["fake", "genuine"]
VERDICTS: frozenset[str] = frozenset({"fake", "genuine"})
FeatureValue = float | int | bool | None

# Ids that are short and plain go into keys as they are (readable in redis-cli); anything else is
# replaced by its hash, so a key never grows with caller input and never carries a `{`, `}` or `/`.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_HASHED_ID = re.compile(r"#[0-9a-f]{40}")
# Queue order: risk (to the micro-unit) first, then older first. Both fit one exact double:
# 20 bits of risk above 32 bits of "seconds before 2106", below 2**53.
_TIME_SPAN = 2**32
_RISK_STEPS = 1_000_000


@dataclass(frozen=True, slots=True)
class ScoredReview:
    """What the scorer hands over after answering; no personal data."""

    review_id: str
    product_id: str
    risk_score: float
    decision: str  # allow | review | reject
    reasons: tuple[Reason, ...]
    text: str | None
    scored_at: float  # epoch seconds
    model_version: str
    features: Mapping[str, FeatureValue] = field(default_factory=dict)

    @property
    def reason_codes(self) -> tuple[str, ...]:
        """Distinct reason codes, in the order the scorer gave them."""
        return tuple(dict.fromkeys(reason.code for reason in self.reasons))


@dataclass(frozen=True, slots=True)
class Lease:
    moderator_id: str
    expires_at_s: float


@dataclass(frozen=True, slots=True)
class QueueItem:
    scored: ScoredReview
    enqueued_at_s: float
    lease: Lease | None  # a live lease only: an expired one is shown as no lease


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: tuple[QueueItem, ...]
    next_cursor: str | None  # None: nothing further matched
    now_s: float  # Redis server time the leases were compared with


@dataclass(frozen=True, slots=True)
class Claim:
    review_id: str
    moderator_id: str
    expires_at_s: float
    is_renewal: bool


@dataclass(frozen=True, slots=True)
class VerdictOutcome:
    review_id: str
    verdict: str
    source: str
    moderator_id: str | None
    decided_at_s: float
    is_new: bool  # False: the same verdict had already been recorded (nothing counted twice)
    linked_to_fraud: bool | None  # result of on_confirmed_fake; None when not called


@dataclass(frozen=True, slots=True)
class ReasonPrecision:
    code: str
    decided: int
    fake: int

    @property
    def precision(self) -> float | None:
        return self.fake / self.decided if self.decided else None


@dataclass(frozen=True, slots=True)
class PrecisionReport:
    window_days: int
    overall: ReasonPrecision  # code "*": every decided review, whatever its reasons
    reasons: tuple[ReasonPrecision, ...]  # most decided first


@dataclass(frozen=True, slots=True)
class LabelledExample:
    scored: ScoredReview
    verdict: str
    source: str
    moderator_id: str | None
    decided_at_s: float


def key_id(raw: str) -> str:
    """A bounded, key-safe form of a caller's id."""
    if _PLAIN_ID.fullmatch(raw):
        return raw
    return "#" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


def priority(risk_score: float, scored_at: float) -> int:
    """Queue score: higher risk first; at equal risk, the review scored earlier first."""
    risk = min(max(risk_score, 0.0), 1.0)
    seconds = min(max(math.floor(scored_at), 0), _TIME_SPAN - 1)
    return round(risk * _RISK_STEPS) * _TIME_SPAN + (_TIME_SPAN - 1 - seconds)


def min_priority(min_risk: float) -> int:
    """The lowest queue score of a review whose risk is at least `min_risk` (to the micro-unit)."""
    return round(min(max(min_risk, 0.0), 1.0) * _RISK_STEPS) * _TIME_SPAN


# One compressor per process: encode_scored runs on the event loop only (one thread). Level 1:
# on records of the bench's stream it keeps 46.1% of the JSON against level 3's 45.8%, at 10 µs
# a record instead of 12 warm, 18 instead of 21 after 8 MB of other memory traffic.
_ZSTD = zstandard.ZstdCompressor(level=1)
_UNZSTD = zstandard.ZstdDecompressor()
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def encode_scored(scored: ScoredReview) -> bytes:
    """The compact record kept in Redis, one per scored review: short field names, zstd.

    With some 50 features and a few hundred characters of text, zstd keeps about 48% of the
    JSON (2.4 KB -> 1.17 KB on the bench's stream) at 10-12 µs a record, where zlib level 6 kept
    46% at 40 µs: this runs for every scored review.
    """
    return _ZSTD.compress(_json_record(scored))


def _json_record(scored: ScoredReview) -> bytes:
    return orjson.dumps(
        {
            "id": scored.review_id,
            "p": scored.product_id,
            "r": scored.risk_score,
            "d": scored.decision,
            "rs": [[r.code, r.message, r.contribution] for r in scored.reasons],
            "t": scored.text,
            "at": scored.scored_at,
            "mv": scored.model_version,
            "f": dict(scored.features),
        }
    )


def decode_scored(raw: bytes | str) -> ScoredReview:
    if isinstance(raw, str):
        raise TypeError("moderation records are binary: read them with decode_responses=False")
    # zlib: a record written before the switch to zstd, still within its retention.
    plain = _UNZSTD.decompress(raw) if raw[:4] == _ZSTD_MAGIC else zlib.decompress(raw)
    data: dict[str, Any] = orjson.loads(plain)
    return ScoredReview(
        review_id=str(data["id"]),
        product_id=str(data["p"]),
        risk_score=float(data["r"]),
        decision=str(data["d"]),
        reasons=tuple(Reason(str(c), str(m), float(x)) for c, m, x in data["rs"]),
        text=data["t"],
        scored_at=float(data["at"]),
        model_version=str(data["mv"]),
        features=dict(data["f"]),
    )


def encode_cursor(score: int, member: str) -> str:
    return f"{score}/{member}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Raises ValueError on anything that `encode_cursor` did not make."""
    score, sep, member = cursor.partition("/")
    if not sep or not (_PLAIN_ID.fullmatch(member) or _HASHED_ID.fullmatch(member)):
        raise ValueError("malformed cursor")
    return int(score), member

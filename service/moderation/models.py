"""Pure values of moderation: scored reviews, queue items, leases, verdicts, precision."""

from __future__ import annotations

import functools
import hashlib
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import zstandard

# The scorer's own reason type: a verdict's reasons go into the record as they are.
from service.scoring.features import FEATURE_NAMES, FeatureRow
from service.scoring.features import FeatureValue as FeatureValue
from service.scoring.fusion import Reason as Reason

Verdict = Literal["fake", "genuine"]
VERDICTS: frozenset[str] = frozenset({"fake", "genuine"})

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


# The features of a record go as a list of values in the order of a named schema ("fs"): the
# names are the same 47 in every record. A record whose features are not the current schema's
# names, in order, keeps them as an object. When Features changes, the old schema stays here
# (tests/unit/test_moderation_models.py pins the current one) so that stored records decode.
def schema_id(names: tuple[str, ...]) -> str:
    return hashlib.sha256(",".join(names).encode()).hexdigest()[:12]


FEATURE_SCHEMA = schema_id(FEATURE_NAMES)
FEATURE_SCHEMAS: dict[str, tuple[str, ...]] = {FEATURE_SCHEMA: FEATURE_NAMES}

# zstd with a dictionary of what records repeat (keys, reason codes and messages, common numbers),
# trained on synthetic records without their text (model/record_dictionary.py builds it; frames
# name it by its ID). On records of the bench's stream with real review texts: 1,142 bytes and
# 10.5 µs a record for the JSON object of the features with zstd level 1 and no dictionary (the
# earlier form, still read); 515 bytes and 6.2 µs for the schema's list with the dictionary.
RECORD_DICT_PATH = Path(__file__).with_name("records.zdict")
RECORD_DICT_ID = 0x52470001


@functools.cache
def _codec() -> tuple[zstandard.ZstdCompressor, dict[int, zstandard.ZstdDecompressor]]:
    """The compressor (one per process: records are encoded on the event loop only) and the
    decompressor of each dictionary ID a stored record may use (0: none)."""
    records = zstandard.ZstdCompressionDict(RECORD_DICT_PATH.read_bytes())
    if records.dict_id() != RECORD_DICT_ID:
        raise ValueError(f"{RECORD_DICT_PATH} is not dictionary {RECORD_DICT_ID}")
    decompressors = {
        0: zstandard.ZstdDecompressor(),
        records.dict_id(): zstandard.ZstdDecompressor(dict_data=records),
    }
    return zstandard.ZstdCompressor(level=1, dict_data=records), decompressors


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def encode_scored(scored: ScoredReview) -> bytes:
    """The compact record kept in Redis, one per scored review: ``record_json``, zstd with the
    records' dictionary (about 45% of the earlier form's bytes, at about 60% of its CPU)."""
    return _codec()[0].compress(record_json(scored))


def record_json(scored: ScoredReview) -> bytes:
    """A record as JSON: short field names, the features as the values of a schema."""
    features = scored.features
    f: Sequence[FeatureValue] | dict[str, FeatureValue]
    if isinstance(features, FeatureRow):  # the scorer's: the schema's values, in order
        f, fs = features.row, FEATURE_SCHEMA
    elif tuple(features) == FEATURE_NAMES:
        f, fs = list(features.values()), FEATURE_SCHEMA
    else:
        f, fs = dict(features), None
    record: dict[str, Any] = {
        "id": scored.review_id,
        "p": scored.product_id,
        "r": scored.risk_score,
        "d": scored.decision,
        "rs": [[r.code, r.message, r.contribution] for r in scored.reasons],
        "t": scored.text,
        "at": scored.scored_at,
        "mv": scored.model_version,
        "f": f,
    }
    if fs is not None:
        record["fs"] = fs
    return orjson.dumps(record)


def decode_scored(raw: bytes | str) -> ScoredReview:
    """A record as ``encode_scored`` writes it, or as it wrote it before (zstd without a
    dictionary, or zlib; the features as an object)."""
    if isinstance(raw, str):
        raise TypeError("moderation records are binary: read them with decode_responses=False")
    if raw[:4] == _ZSTD_MAGIC:
        dict_id = zstandard.get_frame_parameters(raw).dict_id
        decompressor = _codec()[1].get(dict_id)
        if decompressor is None:
            raise ValueError(f"record compressed with an unknown dictionary ({dict_id})")
        plain = decompressor.decompress(raw)
    else:
        plain = zlib.decompress(raw)
    data: dict[str, Any] = orjson.loads(plain)
    features = data["f"]
    if isinstance(features, list):
        names = FEATURE_SCHEMAS.get(data.get("fs", ""))
        if names is None or len(names) != len(features):
            raise ValueError(f"record of an unknown feature schema ({data.get('fs')})")
        features = dict(zip(names, features, strict=True))
    return ScoredReview(
        review_id=str(data["id"]),
        product_id=str(data["p"]),
        risk_score=float(data["r"]),
        decision=str(data["d"]),
        reasons=tuple(Reason(str(c), str(m), float(x)) for c, m, x in data["rs"]),
        text=data["t"],
        scored_at=float(data["at"]),
        model_version=str(data["mv"]),
        features=dict(features),
    )


def encode_cursor(score: int, member: str) -> str:
    return f"{score}/{member}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Raises ValueError on anything that `encode_cursor` did not make."""
    score, sep, member = cursor.partition("/")
    if not sep or not (_PLAIN_ID.fullmatch(member) or _HASHED_ID.fullmatch(member)):
        raise ValueError("malformed cursor")
    return int(score), member

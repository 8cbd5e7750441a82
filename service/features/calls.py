"""The script calls that record one review and read its state, and the decoding of their replies.

Shared by the Redis store and the in-memory replay state, so both run the very same plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from service.features import keys
from service.native import load
from service.scoring.features import (
    DAY_S,
    FEATURE_NAMES,
    NO_CROWD,
    WEEK_S,
    AccountState,
    CrowdState,
    Features,
    ProductState,
    RawState,
    count_duplicate_accounts,
    derive_features,
    to_ms,
)
from service.scoring.identity import (
    ENTITY_HASH_HEX,
    REVIEW_HASH_HEX,
    Identity,
    product_hash_short,
)
from service.scoring.review import Review
from service.scoring.text_fingerprint import (
    BANDS,
    MAX_DUPLICATE_DISTANCE,
    bands_of,
    simhash_hex,
)

ACCOUNT_CAP = 1000
"""Newest entries kept per account: bounds the per-review scan; counts saturate beyond it."""
CROWD_CAP = 20000
"""Newest entries kept per device / IP / network set (reviews; accounts): bounds a hot key."""
BAND_CAP = 512
"""Newest entries kept per SimHash band bucket."""
BAND_LIMIT = 128
"""Newest entries of a bucket returned per lookup (candidates for the near-duplicate test)."""
LONG_WINDOW_S = 30 * DAY_S


def trims(review_h: str) -> bool:
    """Whether recording this review also trims the sets it writes to (entries past the
    retention or window, then all but the newest cap): on 1 review in 16, those whose hash ends
    in "0" (the scripts test the same digit). Every read is bounded to the retention or window,
    so in time order no read sees the difference; sets may hold a few entries past their cap
    between trims (counts saturate at about the cap)."""
    return review_h[-1:] == "0"


@dataclass(frozen=True, slots=True)
class ScriptCall:
    script: str
    """Name of the Lua script (``service/features/<script>.lua``)."""
    keys: tuple[str, ...]
    args: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """The calls of one review, in order: account, product, crowds, bands, review record."""

    calls: tuple[ScriptCall, ...]
    crowd_kinds: tuple[str, ...]
    band_count: int
    has_record: bool
    values: tuple[str | int, ...] = ()
    """The review's own values, in ``REVIEW_VALUES`` order (what the batch script is sent)."""


# The one definition of every script's arguments, by name: ``plan_observe`` fills them in, and
# the batch script (store.batch_source) rebuilds them in Lua from the review's own values and
# the constants, so that a review sends each value once.
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "account": ("t_ms", "account_member", "product8", "retention_ms", "account_cap", "ttl_s"),
    "product": ("t_ms", "review_h", "rating", "retention_ms", "ttl_s"),
    "crowd": ("t_ms", "review_h", "account_h", "retention_ms", "ttl_s", "long_ms", "crowd_cap"),
    "band": ("t_ms", "band_member", "window_ms", "window_s", "band_cap", "band_limit", "review_h"),
    "review": ("entity_record", "ttl_s"),
}
KEY_COUNTS = {"account": 2, "product": 5, "crowd": 3, "band": 1, "review": 1}
REVIEW_VALUES = ("t_ms", "review_h", "account_h", "product8", "rating", "band_member",
                 "entity_record")  # fmt: skip
"""A review's own values ("band_member" is "" when its text has no SimHash)."""
JOINED = {"account_member": ("review_h", "product8", "rating")}
"""Values that are others joined: the account's entry is review hash .. product8 .. rating."""


def constants(retention_s: int) -> dict[str, int]:
    """The arguments every review shares, for a retention period (caps read at call time)."""
    window_s = min(WEEK_S, retention_s)
    return {
        "retention_ms": retention_s * 1000,
        "ttl_s": retention_s,
        "long_ms": min(LONG_WINDOW_S, retention_s) * 1000,
        "window_ms": window_s * 1000,
        "window_s": window_s,
        "account_cap": ACCOUNT_CAP,
        "crowd_cap": CROWD_CAP,
        "band_cap": BAND_CAP,
        "band_limit": BAND_LIMIT,
    }


def entity_record(identity: Identity) -> str:
    """The review's entity hashes, as moderator feedback needs them: ``a|d|ip|net``."""
    return "|".join(
        [identity.account_h, identity.device_h or "", identity.ip_h or "", identity.net_h or ""]
    )


def plan_observe(review: Review, identity: Identity, retention_s: int) -> Plan:
    review_h, account_h = identity.review_h, identity.account_h
    own: dict[str, str | int] = {
        "t_ms": to_ms(review.submitted_at),
        "review_h": review_h,
        "account_h": account_h,
        "product8": product_hash_short(identity.product_h),
        "rating": min(5, max(1, review.rating)),
        "band_member": (
            "" if identity.simhash is None else account_h + simhash_hex(identity.simhash)
        ),
        "entity_record": entity_record(identity),
    }
    values: dict[str, str | int] = {**constants(retention_s), **own}
    for name, parts in JOINED.items():
        values[name] = "".join(str(values[part]) for part in parts)

    def args(script: str) -> tuple[str | int, ...]:
        return tuple(values[name] for name in ARGUMENTS[script])

    calls = [
        ScriptCall(
            "account",
            (keys.account_events(account_h), keys.account_flag(account_h)),
            args("account"),
        ),
        ScriptCall("product", tuple(keys.product_ratings(identity.product_h)), args("product")),
    ]
    kinds: list[str] = []
    crowd_args = args("crowd")  # the same for each crowd, as the bands' are for each band
    for kind, entity_h in (
        (keys.DEVICE, identity.device_h),
        (keys.IP, identity.ip_h),
        (keys.NET, identity.net_h),
    ):
        if entity_h is not None:
            kinds.append(kind)
            calls.append(ScriptCall("crowd", keys.crowd_keys(kind, entity_h), crowd_args))
    bands: tuple[str, ...] = ()
    if identity.simhash is not None:
        bands = bands_of(identity.simhash)
        band_args = args("band")
        for band in bands:
            calls.append(ScriptCall("band", (keys.text_band(band),), band_args))
    calls.append(ScriptCall("review", (keys.review_record(review_h),), args("review")))
    return Plan(
        tuple(calls), tuple(kinds), len(bands), True, tuple(own[name] for name in REVIEW_VALUES)
    )


_LAYOUTS: dict[tuple[bool, bool, bool, bool], Plan] = {}


def reply_layout(identity: Identity) -> Plan:
    """``plan_observe``'s plan for ``identity`` without its calls: all ``decode_replies`` reads
    of it (which crowds, how many bands), for replies to a command built without a plan."""
    shape = (
        identity.device_h is not None,
        identity.ip_h is not None,
        identity.net_h is not None,
        identity.simhash is not None,
    )
    layout = _LAYOUTS.get(shape)
    if layout is None:
        kinds = tuple(k for k, p in zip((keys.DEVICE, keys.IP, keys.NET), shape, strict=False) if p)
        layout = _LAYOUTS[shape] = Plan((), kinds, BANDS if shape[3] else 0, True)
    return layout


_CROWD_STATES: dict[tuple[Any, ...], CrowdState] = {}
_CROWD_STATES_KEPT = 4096


def _crowd_state(reply: Any) -> CrowdState:
    """The state in a crowd script's reply. States are frozen, so equal replies share one: most
    are a few small counts (a device, IP or network seen once or twice), so a bounded table of
    those made so far answers nearly every review (equal replies have equal ints)."""
    key = tuple(reply)
    state = _CROWD_STATES.get(key)
    if state is None:
        c = list(map(int, key))
        state = CrowdState(c[0], c[1], c[2], c[3], c[4], bool(c[5]))
        if len(_CROWD_STATES) < _CROWD_STATES_KEPT:
            _CROWD_STATES[key] = state
    return state


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_replies(
    plan: Plan, identity: Identity, replies: Sequence[Any]
) -> tuple[RawState, bytes | None]:
    """Raw state and the cached answer from the replies of ``plan``'s calls, in order."""
    a = list(map(int, replies[0]))
    account = AccountState(  # positionally: keyword arguments cost more
        a[0],  # reviews_before
        a[1],  # reviews_1h
        a[2],  # reviews_24h
        a[3],  # reviews_7d
        a[4],  # product_reviews_before
        a[5],  # rating_sum_before
        a[6],  # extreme_before
        a[7],  # distance3_sum_before
        None if a[8] < 0 else a[8],  # first_ms
        bool(a[9]),  # linked
    )
    p = list(map(int, replies[1]))
    product = ProductState(
        (p[0], p[1], p[2], p[3], p[4]),  # per_rating_le_t
        p[5],  # reviews_1h
        p[6],  # reviews_24h
        p[7],  # extreme_24h
        p[8],  # baseline_reviews
        None if p[9] < 0 else p[9],  # first_ms
    )
    device = ip = net = NO_CROWD
    index = 2
    for kind in plan.crowd_kinds:
        crowd = _crowd_state(replies[index])
        if kind == keys.DEVICE:
            device = crowd
        elif kind == keys.IP:
            ip = crowd
        elif kind == keys.NET:
            net = crowd
        index += 1
    # A near-duplicate usually sits in several of the band buckets: each member once (the
    # count is of distinct accounts, so neither order nor repeats change it).
    members: set[Any] = set()
    for reply in replies[index : index + plan.band_count]:
        members.update(reply)
    index += plan.band_count
    candidates = [(text[:16], text[16:]) for text in map(_text, members)]
    answer = replies[index] if plan.has_record else None
    raw = RawState(  # positionally: account, device, ip, net, product, duplicate_accounts_7d
        account, device, ip, net, product, count_duplicate_accounts(identity, candidates)
    )
    if answer is not None and not isinstance(answer, bytes):
        answer = _text(answer).encode()
    return raw, answer


def _native_edge() -> Any:
    native = load("featureedge")
    if native is None or hasattr(Features, "__post_init__"):
        return None
    try:
        native.configure(
            Features, FEATURE_NAMES, BANDS, MAX_DUPLICATE_DISTANCE, ENTITY_HASH_HEX, REVIEW_HASH_HEX
        )
    except ValueError:  # Features changed: this C code no longer knows its fields
        return None
    return native


NATIVE_EDGE = _native_edge()
"""service/native/featureedge.c, configured; None when not built or turned off."""


def observed_features(
    review: Review, identity: Identity, replies: Sequence[Any], retention_s: int, wrapped: bool
) -> tuple[Features, bytes | None]:
    """The features and the cached answer from the replies of ``plan_observe``'s calls (each
    wrapped in a one-element list when ``wrapped``, as the batch script sends them): what
    ``decode_replies`` then ``derive_features`` give, in C (service/native/featureedge.c) when
    built and the replies are the usual ones."""
    if NATIVE_EDGE is not None:
        done = NATIVE_EDGE.features(review, identity, replies, retention_s, wrapped)
        if done is not None:
            return cast(tuple[Features, bytes | None], done)
    if wrapped:
        replies = [reply[0] if reply else None for reply in replies]
    raw, answer = decode_replies(reply_layout(identity), identity, replies)
    return derive_features(review, identity, raw, retention_s), answer


def parse_entity_record(record: str) -> tuple[str, str | None, str | None, str | None]:
    account_h, device_h, ip_h, net_h = [*record.split("|"), "", "", ""][:4]
    return account_h, device_h or None, ip_h or None, net_h or None

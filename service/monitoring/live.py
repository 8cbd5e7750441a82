"""The live profile: per-pod counts per bin, flushed to Redis buckets that every pod shares.

The observer runs on the request path and does no I/O: it keeps each answer's values per quantity
in process, binned with numpy into counters at each flush and every FOLD_EVERY answers (bounded).
A background task adds the counts to Redis every few seconds with HINCRBY into a per-minute hash
(for the last hour) and a per-hour hash (for the last day), each with a TTL, and refreshes the
drift gauges from what all pods wrote. Nothing here waits on Redis while answering.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from array import array
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from prometheus_client import Counter as PrometheusCounter
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from service.monitoring.audit import stopped
from service.monitoring.drift import Thresholds, compare
from service.monitoring.metrics import MonitoringMetrics, count_into
from service.monitoring.profile import (
    BY_NAME,
    CONTRIBUTION_INDEX,
    CONTRIBUTION_NAMES,
    QUANTITIES,
    Histograms,
    ReferenceProfile,
    native_observer,
    python_fields,
)
from service.scorer import Scored

log = logging.getLogger("reviewguard.monitoring")

PREFIX = "rg:v1:{mon}"
"""One hash tag: the few bucket hashes sit on one cluster node, read in one pipeline."""
MINUTE_S = 60
HOUR_S = 3600
WINDOWS_S: dict[str, int] = {"1h": HOUR_S, "24h": 24 * HOUR_S}

OPTIONAL_FIELDS = (
    "text",
    "account.created_at",
    "account.username",
    "account.email",
    "device.fingerprint",
    "device.ip",
    "device.user_agent",
    "device.accept_language",
    "device.timezone",
)


# The pending counts' keys, "<quantity>:<bin>", made once rather than per observation.
_BIN_KEYS: dict[str, tuple[str, ...]] = {
    q.name: tuple(f"{q.name}:{i}" for i in range(q.n_bins)) for q in QUANTITIES
}
# Numeric quantities' inner edges as float64 (exact: the edges are floats or small ints): bin i
# of x is searchsorted(edges, x, "right"), which is bisect_right, as Quantity.bin_of (NaN: bin 0).
_EDGES: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {
    q.name: np.array(q.edges, dtype=np.float64) for q in QUANTITIES if q.kind == "numeric"
}
FOLD_EVERY = 4096
"""Answers whose values are kept unbinned at most (then binned into the pending counts)."""
# An answer's contributions summed per group: a slot per group in GROUPS order, then one that
# sums the reasons without a group (dropped at the fold).
_GROUP_SLOTS = len(CONTRIBUTION_NAMES) + 1
_NO_GROUP = len(CONTRIBUTION_NAMES)
_NO_CONTRIBUTIONS = [0.0] * _GROUP_SLOTS
_GROUP_SLOT = CONTRIBUTION_INDEX.get
# monitortext.observe's flags: bit i for OPTIONAL_FIELDS[i] missing, then the violations.
_VIOLATION_FLAGS = (
    (1 << 9, ("text", "longer_than_reference")),
    (1 << 10, ("text_score", "out_of_range")),
    (1 << 11, ("rating", "unexpected_value")),
)
_INTEGRITY_FLAGS = (1 << 12) - 1
_NOT_DESCRIBED = 1 << 12
_FIELDS = struct.Struct("4d")
_NAN = float("nan")


def minute_key(t_s: float) -> str:
    return f"{PREFIX}:m:{int(t_s // MINUTE_S)}"


def hour_key(t_s: float) -> str:
    return f"{PREFIX}:h:{int(t_s // HOUR_S)}"


def window_keys(window_s: int, now_s: float) -> list[str]:
    """Minute buckets for windows up to an hour, hour buckets beyond (both include the current)."""
    if window_s <= HOUR_S:
        now_m = int(now_s // MINUTE_S)
        return [f"{PREFIX}:m:{m}" for m in range(now_m - window_s // MINUTE_S + 1, now_m + 1)]
    now_h = int(now_s // HOUR_S)
    return [f"{PREFIX}:h:{h}" for h in range(now_h - window_s // HOUR_S + 1, now_h + 1)]


class LiveProfile:
    """The observer: keeps each answer's values in plain lists and ints (no I/O, no prometheus
    call), binned with numpy into the pending counts at each fold."""

    def __init__(
        self,
        reference: ReferenceProfile | None,
        metrics: MonitoringMetrics | None = None,
    ) -> None:
        self._vocabulary = reference.vocabulary if reference else None
        self._max_length = _max_text_length(reference)
        self._metrics = metrics
        self._pending: Counter[str] = Counter()
        # The values since the last fold (what observations() gives, kept per quantity), numbers
        # as doubles in buffers numpy reads in place (the doubles np.array(list, float64) makes of
        # the same values): bytearrays the C observe appends to, else array("d")s.
        native = native_observer(self._vocabulary)
        buffer: Callable[[], Any] = bytearray if native else partial(array, "d")
        self._risk = buffer()
        self._text_score = buffer()
        self._decisions: dict[str, int] = {}  # answers per decision value
        self._contributions = buffer()  # summed per group, _GROUP_SLOTS per answer
        self._text_length = buffer()
        # describe's fields after length, 4 per text, one after another: doubles (NaN for no
        # oov_share) from C, else a list of floats (None for no oov_share)
        self._text_fields: Any = bytearray() if native else []
        self._unfolded = 0
        self._observe_c: Callable[..., int] | None = None
        if native is not None:
            self._observe_c = native[0]
            # monitortext.observe's state: these objects, emptied in place at each fold
            self._state_c = (
                native[1],
                self._risk,
                self._text_score,
                self._decisions,
                CONTRIBUTION_INDEX,
                _GROUP_SLOTS,
                self._contributions,
                self._text_length,
                self._text_fields,
                -1 if self._max_length is None else self._max_length,
                metrics is not None,
            )
        # Integrity events counted in plain ints the registry reads at scrape time (count_into);
        # a labelled child is made at its first event, as labels() made it. Where count_into
        # cannot (multiprocess mode, or a child another profile counts), each event increments
        # the child itself, kept in _children.
        self._checked: dict[str, int] = {}
        self._checked_counted = metrics is not None and count_into(
            metrics.integrity_checked, self._checked, ""
        )
        self._missing_counts: dict[str, int] = {}
        self._violation_counts: dict[tuple[str, str], int] = {}
        self._children: dict[object, PrometheusCounter] = {}

    def observe(self, scored: Scored) -> None:
        if self._observe_c is None:
            self._observe_python(scored)
            return
        flags = self._observe_c(scored, self._state_c)  # the values kept, the integrity flags
        if flags < 0:  # a replay
            return
        if flags & _NOT_DESCRIBED:  # text C does not describe (not ASCII)
            text = scored.review.text
            assert text is not None
            fields = python_fields(text, self._vocabulary)
            self._text_fields += _FIELDS.pack(*fields[:3], _NAN if fields[3] is None else fields[3])
        if not self._answered():
            return
        if flags & _INTEGRITY_FLAGS:
            for bit, name in enumerate(OPTIONAL_FIELDS):
                if flags & (1 << bit):
                    self._missing(name)
            for flag, (name, constraint) in _VIOLATION_FLAGS:
                if flags & flag:
                    self._violation(name, constraint)

    def _answered(self) -> bool:
        """One more answer observed: fold when due, count it as integrity-checked; False when
        there are no metrics to check integrity into."""
        self._unfolded += 1
        if self._unfolded >= FOLD_EVERY:
            self._fold()
        if self._metrics is None:
            return False
        if self._checked_counted:
            self._checked[""] += 1
        else:
            self._metrics.integrity_checked.inc()
        return True

    def _observe_python(self, scored: Scored) -> None:
        """observe without C: the reference of monitortext.observe."""
        if scored.is_replay:
            return
        verdict, review = scored.verdict, scored.review
        # observations(), kept per quantity: the same values, summed in the same order.
        self._risk.append(verdict.risk_score)
        p = scored.text_probability
        if p is not None:
            self._text_score.append(p)
        try:
            self._decisions[verdict.decision] += 1
        except KeyError:
            self._decisions[verdict.decision] = 1
        sums = _NO_CONTRIBUTIONS.copy()
        for reason in verdict.reasons:
            sums[_GROUP_SLOT(reason.code, _NO_GROUP)] += reason.contribution
        self._contributions.extend(sums)
        text = review.text
        if text:
            self._text_length.append(len(text))
            self._text_fields.extend(python_fields(text, self._vocabulary))
        if not self._answered():
            return
        # Data integrity.
        account, device = review.account, review.device
        if (
            text is None
            or account.created_at is None
            or not account.username
            or not account.email
            or not device.fingerprint
            or not device.ip
            or not device.user_agent
            or not device.accept_language
            or not device.timezone
        ):
            self._count_missing(scored)
        if self._max_length is not None and text and len(text) > self._max_length:
            self._violation("text", "longer_than_reference")
        # Not finite or outside [0, 1]: any comparison with NaN is false.
        if p is not None and not 0.0 <= p <= 1.0:
            self._violation("text_score", "out_of_range")
        if not 1 <= review.rating <= 5:
            self._violation("rating", "unexpected_value")

    def _count_missing(self, scored: Scored) -> None:
        """The optional fields in OPTIONAL_FIELDS order; a missing one counts under its name."""
        review, account, device = scored.review, scored.review.account, scored.review.device
        if review.text is None:
            self._missing("text")
        if account.created_at is None:
            self._missing("account.created_at")
        if not account.username:
            self._missing("account.username")
        if not account.email:
            self._missing("account.email")
        if not device.fingerprint:
            self._missing("device.fingerprint")
        if not device.ip:
            self._missing("device.ip")
        if not device.user_agent:
            self._missing("device.user_agent")
        if not device.accept_language:
            self._missing("device.accept_language")
        if not device.timezone:
            self._missing("device.timezone")

    def _missing(self, name: str) -> None:
        try:
            self._missing_counts[name] += 1
        except KeyError:
            assert self._metrics is not None
            self._first(self._metrics.integrity_missing, self._missing_counts, name, (name,))

    def _violation(self, name: str, constraint: str) -> None:
        try:
            self._violation_counts[name, constraint] += 1
        except KeyError:
            assert self._metrics is not None
            counter = self._metrics.integrity_violations
            self._first(counter, self._violation_counts, (name, constraint), (name, constraint))

    def _first(
        self, counter: PrometheusCounter, counts: dict[Any, int], key: Any, labels: tuple[str, ...]
    ) -> None:
        """An event `counts` does not hold: its first (its child is made now), or any when the
        child cannot be counted in `counts` (it is incremented)."""
        child = self._children.get((counter, key))
        if child is None:
            child = self._children[counter, key] = counter.labels(*labels)
            if count_into(child, counts, key):
                counts[key] += 1
                return
        child.inc()

    def _fold(self) -> None:
        """Bins the values kept since the last fold into the pending counts."""
        # The arrays viewing the buffers live only in this call: the buffers can be emptied after.
        _count_bins(self._pending, self._decisions, self._kept())
        for kept in (
            self._risk,
            self._text_score,
            self._contributions,
            self._text_length,
            self._text_fields,
        ):
            del kept[:]
        self._decisions.clear()
        self._unfolded = 0

    def _kept(self) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
        """The numeric quantities' values since the last fold, by name."""
        values = {
            "text_score": np.frombuffer(self._text_score, dtype=np.float64),
            "risk": np.frombuffer(self._risk, dtype=np.float64),
            "text_length": np.frombuffer(self._text_length, dtype=np.float64),
        }
        by_group = np.frombuffer(self._contributions, dtype=np.float64).reshape(-1, _GROUP_SLOTS)
        for i, name in enumerate(CONTRIBUTION_NAMES):
            values[name] = by_group[:, i]
        # No oov_share is NaN (None becomes NaN here), as no oov_share is (1 - known / words).
        kept_fields = self._text_fields
        if isinstance(kept_fields, bytearray):
            fields = np.frombuffer(kept_fields, dtype=np.float64).reshape(-1, 4)
        else:
            fields = np.array(kept_fields, dtype=np.float64).reshape(-1, 4)
        values["text_nonletter_share"] = fields[:, 0]
        values["text_exclamation_density"] = fields[:, 1]
        values["text_emoji_density"] = fields[:, 2]
        values["text_oov_share"] = fields[:, 3][~np.isnan(fields[:, 3])]
        return values

    def take(self) -> dict[str, int]:
        """The counts since the last take (and forget them)."""
        self._fold()
        pending, self._pending = self._pending, Counter()
        return dict(pending)

    def give_back(self, counts: Mapping[str, int]) -> None:
        """Counts a failed flush could not write: added to the next one."""
        self._pending.update(counts)


def _count_bins(
    pending: Counter[str],
    decisions: Mapping[str, int],
    values: Mapping[str, np.ndarray[Any, np.dtype[np.float64]]],
) -> None:
    """Adds the bins of the decisions (answers per value) and of the numeric values to pending:
    bin i of x is searchsorted(edges, x, "right"), which is Quantity.bin_of (NaN: bin 0)."""
    for quantity in QUANTITIES:
        name = quantity.name
        keys = _BIN_KEYS[name]
        if name == "decision":
            for value, n in decisions.items():
                pending[keys[quantity.bin_of(value)]] += n
            continue
        x = values[name]
        if not len(x):
            continue
        bins = np.searchsorted(_EDGES[name], x, side="right")
        bins[np.isnan(x)] = 0
        for i, n in enumerate(np.bincount(bins, minlength=len(keys)).tolist()):
            if n:
                pending[keys[i]] += n


def _max_text_length(reference: ReferenceProfile | None) -> int | None:
    if reference is None:
        return None
    value = reference.integrity.get("text", {}).get("length_max")
    return int(value) if value is not None else None


ADD_SCRIPT = """
-- Adds counts to the minute's and the hour's bucket (one hash tag) and keeps each for its TTL.
-- KEYS: minute bucket, hour bucket. ARGV: minute TTL s, hour TTL s, then field, count pairs.
for k = 1, 2 do
  for i = 3, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1])
  end
  redis.call('EXPIRE', KEYS[k], ARGV[k])
end
return (#ARGV - 2) / 2
"""


class LiveStore:
    """The shared buckets in Redis."""

    def __init__(
        self,
        redis: Redis | RedisCluster,
        *,
        minute_ttl_s: int = 2 * HOUR_S,
        hour_ttl_s: int = 26 * HOUR_S,
    ) -> None:
        self._redis = redis
        self._minute_ttl_s = minute_ttl_s
        self._hour_ttl_s = hour_ttl_s
        self._add = redis.register_script(ADD_SCRIPT)

    async def add(self, counts: Mapping[str, int], now_s: float) -> None:
        """Adds the counts to this minute's and this hour's buckets: one script call, packed
        once (a pipeline of a HINCRBY per field and bucket took ~8 ms of the event loop)."""
        if not counts:
            return
        args: list[str | int] = [self._minute_ttl_s, self._hour_ttl_s]
        for field, n in counts.items():
            args += (field, n)
        await self._add(keys=[minute_key(now_s), hour_key(now_s)], args=args)

    async def window(self, window_s: int, now_s: float) -> dict[str, list[int]]:
        """Counts per bin of every quantity over the window, summed over all pods."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in window_keys(window_s, now_s):
                pipe.hgetall(key)
            buckets: list[dict[bytes, bytes]] = await pipe.execute()
        histograms = Histograms()
        for bucket in buckets:
            for raw_field, raw_count in bucket.items():
                name, _, index = raw_field.decode().rpartition(":")
                if name in BY_NAME and index.isdigit():
                    histograms.add_bin(name, int(index), int(raw_count))
        return histograms.to_json()


@dataclass
class Monitor:
    """The live profile, its store, the reference, and the loop that ties them."""

    profile: LiveProfile
    store: LiveStore
    reference: ReferenceProfile | None
    thresholds: Thresholds
    metrics: MonitoringMetrics
    flush_s: float = 5.0
    drift_refresh_s: float = 60.0
    clock: Callable[[], float] = time.time

    async def flush(self) -> bool:
        counts = self.profile.take()
        try:
            await self.store.add(counts, self.clock())
        except (RedisError, OSError, TimeoutError) as exc:
            self.profile.give_back(counts)
            self.metrics.flush_errors.inc()
            log.warning("monitoring flush failed: %s", type(exc).__name__)
            return False
        return True

    async def drift(self, window: str) -> dict[str, Any]:
        window_s = WINDOWS_S[window]
        if self.reference is None:
            return {
                "window": window,
                "reference": None,
                "message": "the loaded text model ships no reference profile: "
                "run `python -m model profile` on its artifact",
                "drift_detected": False,
                "drifted": [],
                "quantities": {},
            }
        live = await self.store.window(window_s, self.clock())
        report = compare(self.reference.histograms.to_json(), live, self.thresholds)
        return {
            "window": window,
            "reference": dict(self.reference.meta),
            "thresholds": {
                "psi": self.thresholds.psi,
                "jensenshannon": self.thresholds.jensenshannon,
                "wasserstein": self.thresholds.wasserstein,
                "min_samples": self.thresholds.min_samples,
            },
            **report,
        }

    async def refresh_gauges(self) -> None:
        if self.reference is None:
            return
        for window in WINDOWS_S:
            report = await self.drift(window)
            for name, entry in report["quantities"].items():
                for method, value in entry["methods"].items():
                    self.metrics.drift.labels(name, method, window).set(value)
                self.metrics.drift_detected.labels(name, window).set(int(entry["drifted"]))

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every flush_s, refresh the gauges every drift_refresh_s, until `stop` is set
        (what is under way finishes first: see AuditTrail.run)."""
        next_refresh = 0.0
        while not await stopped(stop, self.flush_s):
            await self.flush()
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + self.drift_refresh_s
                try:
                    await self.refresh_gauges()
                except (RedisError, OSError, TimeoutError) as exc:
                    log.warning("drift refresh failed: %s", type(exc).__name__)

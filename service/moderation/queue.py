"""The moderation queue in Redis: exactly-once enqueue, leases, verdicts, stream, labels."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisError

from service.features.mux import Posted, RedisMux, pack
from service.moderation import keys, scripts
from service.moderation.errors import (
    AlreadyClaimed,
    AlreadyDecided,
    FraudLinkFailed,
    InvalidCursor,
    ModerationUnavailable,
    NotClaimHolder,
    NotInQueue,
    ReviewNotFound,
    VerdictConflict,
)
from service.moderation.metrics import ModerationMetrics
from service.moderation.models import (
    VERDICTS,
    Claim,
    LabelledExample,
    Lease,
    PrecisionReport,
    QueueItem,
    QueuePage,
    Reason,
    ReasonPrecision,
    ScoredReview,
    VerdictOutcome,
    decode_cursor,
    decode_scored,
    encode_cursor,
    encode_scored,
    key_id,
    min_priority,
    priority,
)

if TYPE_CHECKING:
    import redis.asyncio
    import redis.asyncio.cluster

__all__ = ["ModerationQueue", "Reason", "ScoredReview"]

log = logging.getLogger(__name__)

_ITEM_FIELDS = ("rec", "status", "enq_ms", "holder", "lease_ms")
_DECIDED_FIELDS = ("rec", "status", "verdict", "by", "src", "dec_ms")
# Listing reads the index in chunks and filters; it stops after this many index entries so that a
# filter matching nothing costs a bounded amount.
_LIST_CHUNK = 100
_LIST_SCAN_CAP = 2_000
_QUEUE_KEY = keys.queue_key()
_reason_index_key = functools.lru_cache(maxsize=1024)(keys.reason_index_key)
"""Reason codes are a few dozen: their index keys are made once each (queued on every review)."""


def _str(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


class ModerationQueue:
    """Queue of reviews for people to decide, highest risk first, and what their verdicts change.

    Times: leases, enqueue and decision times are Redis server time (`TIME` inside the scripts),
    the same clock for every pod; `scored_at` is the scorer's and only orders equal risks.
    """

    def __init__(
        self,
        redis: redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster,
        *,
        retention_s: int = 30 * 86400,
        lease_s: float = 300.0,
        queue_decisions: frozenset[str] = frozenset({"review", "reject"}),
        on_confirmed_fake: Callable[[str], Awaitable[object]] | None = None,
        stream_maxlen: int = 100_000,
        metrics: ModerationMetrics | None = None,
        mux: RedisMux | None = None,
    ) -> None:
        if retention_s <= 0 or lease_s <= 0 or stream_maxlen <= 0:
            raise ValueError("retention_s, lease_s and stream_maxlen must be positive")
        if redis.get_encoder().decode_responses:
            raise ValueError("moderation keeps binary records: use decode_responses=False")
        self._redis = redis
        # `record` runs after every scored review: over the scorer's pipelined connection when
        # there is one (single Redis), else through redis-py like every other method.
        self._mux = None if isinstance(redis, RedisCluster) else mux
        self.retention_s = retention_s
        self.lease_s = lease_s
        self.queue_decisions = queue_decisions
        self._on_confirmed_fake = on_confirmed_fake
        self._stream_maxlen = stream_maxlen
        self._metrics = metrics
        self._enqueue = redis.register_script(scripts.ENQUEUE)
        self._range = redis.register_script(scripts.RANGE)
        self._claim = redis.register_script(scripts.CLAIM)
        self._release = redis.register_script(scripts.RELEASE)
        self._verdict = redis.register_script(scripts.VERDICT)
        self._precision = redis.register_script(scripts.PRECISION)
        self._retries: set[asyncio.Task[None]] = set()

    @property
    def _retention_ms(self) -> int:
        return self.retention_s * 1000

    async def _run(self, script: Any, keys_: Sequence[str], args: Sequence[object]) -> Any:
        try:
            return await script(keys=list(keys_), args=list(args))
        except RedisError as exc:
            raise ModerationUnavailable("the moderation store is unavailable") from exc

    async def _run_hot(self, script: Any, keys_: Sequence[str], args: Sequence[Any]) -> Any:
        """`_run` over the pipelined connection when there is one (redis-py loads on NOSCRIPT)."""
        if self._mux is None:
            return await self._run(script, keys_, args)
        try:
            return await self._mux.call("EVALSHA", script.sha, len(keys_), *keys_, *args)
        except NoScriptError:
            return await self._run(script, keys_, args)
        except RedisError as exc:
            raise ModerationUnavailable("the moderation store is unavailable") from exc

    async def setup(self) -> None:
        """Create the decision stream's consumer group if missing (optional: verdicts do it too)."""
        try:
            await self._redis.xgroup_create(
                keys.stream_key(), keys.DECISIONS_GROUP, id="0", mkstream=True
            )
            await self._redis.pexpire(keys.stream_key(), self._retention_ms)
        except RedisError as exc:
            if "BUSYGROUP" not in str(exc):
                raise ModerationUnavailable("the moderation store is unavailable") from exc

    async def record(self, scored: ScoredReview) -> bool:
        """Keep what was scored; queue it once if its decision needs a person. True: newly queued.

        Safe to retry: a review already queued, claimed or decided is left as it is.
        """
        raw = encode_scored(scored)
        if scored.decision not in self.queue_decisions:
            key = keys.record_key(scored.review_id)
            try:
                if self._mux is not None:
                    await self._mux.call("SET", key, raw, "NX", "EX", self.retention_s)
                else:
                    await self._redis.set(key, raw, nx=True, ex=self.retention_s)
            except RedisError as exc:
                raise ModerationUnavailable("the moderation store is unavailable") from exc
            return False
        index_keys, args = self._enqueue_call(scored, raw)
        is_new = bool(await self._run_hot(self._enqueue, index_keys, args))
        if is_new and self._metrics is not None:
            self._metrics.enqueued.labels(decision=scored.decision).inc()
        return is_new

    def post(self, scored: ScoredReview, on_error: Callable[[Exception], object]) -> bool:
        """`record` without waiting, over the pipelined connection: False when there is none
        (await `record` then). A failure goes to `on_error`; the reply of a queued review
        counts it when new, as `record` does; a script Redis lost (NOSCRIPT, after a restart)
        is loaded by redis-py on a second try, in a task."""
        mux = self._mux
        if mux is None:
            return False
        raw = encode_scored(scored)
        if scored.decision not in self.queue_decisions:
            command = ("SET", keys.record_key(scored.review_id), raw, "NX", "EX", self.retention_s)
            mux.post(pack(command), Posted(on_error))
            return True
        index_keys, args = self._enqueue_call(scored, raw)

        def queued(reply: Any) -> None:
            if reply and self._metrics is not None:
                self._metrics.enqueued.labels(decision=scored.decision).inc()

        def failed(exc: Exception) -> None:
            if not isinstance(exc, NoScriptError):
                on_error(exc)
                return
            retry = asyncio.get_running_loop().create_task(self._retry(scored, on_error))
            self._retries.add(retry)
            retry.add_done_callback(self._retries.discard)

        command = ("EVALSHA", self._enqueue.sha, len(index_keys), *index_keys, *args)
        mux.post(pack(command), Posted(failed, queued))
        return True

    async def settle(self) -> None:
        """Wait for the second tries of posted records (tests, shutdown)."""
        while self._retries:
            await asyncio.gather(*self._retries, return_exceptions=True)

    async def _retry(self, scored: ScoredReview, on_error: Callable[[Exception], object]) -> None:
        try:
            await self.record(scored)
        except Exception as exc:  # the answer is out: a failing store is only reported
            on_error(exc)

    def _enqueue_call(self, scored: ScoredReview, raw: bytes) -> tuple[list[str], list[Any]]:
        """The ENQUEUE script's keys and arguments for a review to queue."""
        member = key_id(scored.review_id)
        index_keys = [
            keys.item_key_for_member(member),
            _QUEUE_KEY,
            keys.product_index_key(scored.product_id),
            *map(_reason_index_key, scored.reason_codes),
        ]
        args = [member, priority(scored.risk_score, scored.scored_at), raw, self._retention_ms]
        return index_keys, args

    async def list(
        self,
        *,
        product_id: str | None = None,
        reason_code: str | None = None,
        min_risk: float = 0.0,
        include_claimed: bool = True,
        limit: int = 50,
        cursor: str | None = None,
    ) -> QueuePage:
        """Pending reviews, highest risk first (then oldest first); `cursor` continues a page."""
        if product_id is not None:
            index = keys.product_index_key(product_id)
        elif reason_code is not None:
            index = keys.reason_index_key(reason_code)
        else:
            index = keys.queue_key()
        low = str(min_priority(min_risk))
        high, after = "+inf", None
        if cursor is not None:
            try:
                score, member = decode_cursor(cursor)
            except ValueError as exc:
                raise InvalidCursor("cursor is not one this service gave out") from exc
            high, after = str(score), (score, member)
        items: list[QueueItem] = []
        last: tuple[int, str] | None = None
        scanned, now_ms, offset, exhausted = 0, 0, 0, False
        # Without a filter applied after reading, a page needs no more entries than it shows, one
        # more to know whether another page follows, and the cursor's own entry, read again.
        filtered = (product_id is not None and reason_code is not None) or not include_claimed
        wanted = limit + 1 + (after is not None)
        chunk = _LIST_CHUNK if filtered else min(wanted, _LIST_CHUNK)
        while scanned < _LIST_SCAN_CAP:
            rows = await self._run(self._range, [index], [high, low, offset, chunk])
            now_ms = int(rows[0])
            fetched = [(_str(rows[i]), int(float(rows[i + 1]))) for i in range(1, len(rows), 2)]
            is_full = len(fetched) == chunk
            pairs = fetched
            if after is not None:
                # Ties on the cursor's score come in reverse member order: skip those already seen.
                cut = after
                pairs = [(m, s) for m, s in fetched if s < cut[0] or m < cut[1]]
                if not pairs and is_full:
                    offset += chunk
                    scanned += chunk
                    continue
            records = await self._read_items([m for m, _ in pairs])
            stale: list[str] = []
            consumed = 0
            for (member, score), fields in zip(pairs, records, strict=True):
                consumed += 1
                last = (score, member)
                item = self._queue_item(fields, now_ms)
                if item is None:
                    stale.append(member)
                elif self._matches(item, reason_code, include_claimed):
                    items.append(item)
                    if len(items) == limit:
                        break
            scanned += consumed
            await self._drop_stale(index, stale)
            if consumed == len(pairs) and not is_full:
                exhausted = True
                break
            if len(items) == limit or last is None:
                break
            high, after, offset = str(last[0]), last, 0
        more = not exhausted and last is not None
        return QueuePage(
            items=tuple(items),
            next_cursor=encode_cursor(*last) if more and last is not None else None,
            now_s=now_ms / 1000,
        )

    async def _read_items(self, members: Sequence[str]) -> Sequence[Sequence[Any]]:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for member in members:
                    pipe.hmget(keys.item_key_for_member(member), list(_ITEM_FIELDS))
                rows: Sequence[Sequence[Any]] = await pipe.execute()
                return rows
        except RedisError as exc:
            raise ModerationUnavailable("the moderation store is unavailable") from exc

    @staticmethod
    def _queue_item(fields: Sequence[Any], now_ms: int) -> QueueItem | None:
        rec, status, enq_ms, holder, lease_ms = fields
        if rec is None or _opt_str(status) != "queued":
            return None
        lease = None
        if holder is not None and lease_ms is not None and int(lease_ms) > now_ms:
            lease = Lease(moderator_id=_str(holder), expires_at_s=int(lease_ms) / 1000)
        return QueueItem(
            scored=decode_scored(rec), enqueued_at_s=int(enq_ms or 0) / 1000, lease=lease
        )

    @staticmethod
    def _matches(item: QueueItem, reason_code: str | None, include_claimed: bool) -> bool:
        if reason_code is not None and reason_code not in item.scored.reason_codes:
            return False
        return include_claimed or item.lease is None

    async def _drop_stale(self, index: str, members: Sequence[str]) -> None:
        """Index entries whose item expired: remove, best effort."""
        if not members:
            return
        try:
            await self._redis.zrem(index, *members)
            if index != keys.queue_key():
                await self._redis.zrem(keys.queue_key(), *members)
        except RedisError:
            log.warning("could not drop %d stale queue entries", len(members))

    async def claim(self, review_id: str, moderator_id: str) -> Claim:
        """Take a review for `lease_s`; the same moderator claiming again renews the lease."""
        reply = await self._run(
            self._claim, [keys.item_key(review_id)], [moderator_id, round(self.lease_s * 1000)]
        )
        status = _str(reply[0])
        if status == "missing":
            raise NotInQueue(f"review {review_id!r} is not in the moderation queue")
        if status == "decided":
            raise AlreadyDecided(f"review {review_id!r} was already decided")
        if status == "claimed":
            raise AlreadyClaimed(
                f"review {review_id!r} is claimed by another moderator until "
                f"{int(reply[2]) / 1000:.0f} (epoch s)"
            )
        return Claim(
            review_id=review_id,
            moderator_id=moderator_id,
            expires_at_s=int(reply[1]) / 1000,
            is_renewal=bool(int(reply[2])),
        )

    async def release(self, review_id: str, moderator_id: str) -> None:
        """Give a claimed review back before its lease runs out."""
        reply = await self._run(self._release, [keys.item_key(review_id)], [moderator_id])
        status = _str(reply[0])
        if status == "missing":
            raise NotInQueue(f"review {review_id!r} is not in the moderation queue")
        if status == "decided":
            raise AlreadyDecided(f"review {review_id!r} was already decided")
        if status == "not_holder":
            raise NotClaimHolder(f"review {review_id!r} holds no live claim of this moderator")

    async def decide(
        self, review_id: str, verdict: str, *, moderator_id: str, note: str = ""
    ) -> VerdictOutcome:
        """A moderator's verdict on a queued review (not one another moderator holds a lease on)."""
        try:
            raw = await self._redis.hget(keys.item_key(review_id), "rec")
        except RedisError as exc:
            raise ModerationUnavailable("the moderation store is unavailable") from exc
        if raw is None:
            raise NotInQueue(f"review {review_id!r} is not in the moderation queue")
        return await self._apply_verdict(
            decode_scored(raw), verdict, "decision", moderator_id, note, "moderator"
        )

    async def feedback(
        self,
        review_id: str,
        verdict: str,
        *,
        source: str,
        moderator_id: str | None = None,
        note: str = "",
    ) -> VerdictOutcome:
        """A verdict on any review scored within the retention period, queued or not."""
        try:
            raw = await self._redis.hget(keys.item_key(review_id), "rec")
            if raw is None:
                raw = await self._redis.get(keys.record_key(review_id))
        except RedisError as exc:
            raise ModerationUnavailable("the moderation store is unavailable") from exc
        if raw is None:
            raise ReviewNotFound(f"review {review_id!r} was not scored within the retention period")
        return await self._apply_verdict(
            decode_scored(raw), verdict, "feedback", moderator_id or "", note, source
        )

    async def _apply_verdict(
        self,
        scored: ScoredReview,
        verdict: str,
        mode: str,
        moderator_id: str,
        note: str,
        source: str,
    ) -> VerdictOutcome:
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {sorted(VERDICTS)}")
        review_id = scored.review_id
        codes = scored.reason_codes
        script_keys = [
            keys.item_key(review_id),
            keys.queue_key(),
            keys.decided_key(),
            keys.precision_key(int(time.time() // keys.DAY_S)),
            keys.stream_key(),
            keys.product_index_key(scored.product_id),
            *(keys.reason_index_key(code) for code in codes),
        ]
        stream_fields = [
            "review_id", review_id,
            "verdict", verdict,
            "source", source,
            "moderator_id", moderator_id,
            "product_id", scored.product_id,
            "risk_score", repr(scored.risk_score),
            "decision", scored.decision,
            "reason_codes", ",".join(codes),
            "model_version", scored.model_version,
        ]  # fmt: skip
        args: list[object] = [
            key_id(review_id),
            verdict,
            moderator_id,
            note,
            source,
            encode_scored(scored),
            mode,
            self._retention_ms,
            self._stream_maxlen,
            keys.DECISIONS_GROUP,
            len(codes),
            *codes,
            *stream_fields,
        ]
        reply = await self._run(self._verdict, script_keys, args)
        status = _str(reply[0])
        if status == "missing":
            raise NotInQueue(f"review {review_id!r} is not in the moderation queue")
        if status == "conflict":
            raise VerdictConflict(
                f"review {review_id!r} was already decided {_str(reply[1])!r}; "
                "a verdict is final within the retention period"
            )
        if status == "claimed":
            raise AlreadyClaimed(f"review {review_id!r} is claimed by another moderator")
        is_new = status == "ok"
        if not is_new:
            moderator_id, source = _str(reply[2]), _str(reply[3])
        if is_new and self._metrics is not None:
            self._metrics.verdicts.labels(verdict=verdict, source=source).inc()
            await self._refresh_precision_metrics()
        linked = await self._link_if_fake(review_id, verdict)
        return VerdictOutcome(
            review_id=review_id,
            verdict=verdict,
            source=source,
            moderator_id=moderator_id or None,
            decided_at_s=int(reply[1]) / 1000,
            is_new=is_new,
            linked_to_fraud=linked,
        )

    async def _link_if_fake(self, review_id: str, verdict: str) -> bool | None:
        # Called on repeats too: linking is idempotent, so a repeated verdict retries a failed link.
        if verdict != "fake" or self._on_confirmed_fake is None:
            return None
        try:
            return bool(await self._on_confirmed_fake(review_id))
        except Exception as exc:
            log.warning("linking a confirmed fake review to fraud failed: %s", type(exc).__name__)
            raise FraudLinkFailed(
                "verdict recorded, but linking it to confirmed fraud failed: repeat the request"
            ) from exc

    async def _refresh_precision_metrics(self) -> None:
        try:
            report = await self.reason_precision()
        except ModerationUnavailable:
            return
        if self._metrics is not None:
            self._metrics.observe(report)

    async def reason_precision(self) -> PrecisionReport:
        """Per reason code, of the reviews that carried it and got a verdict, the share fake."""
        today = int(time.time() // keys.DAY_S)
        days = max(1, self.retention_s // keys.DAY_S)
        buckets = [keys.precision_key(today - back) for back in range(days + 1)]
        reply = await self._run(self._precision, buckets, [])
        totals: dict[str, dict[str, int]] = {}
        for i in range(0, len(reply), 2):
            code, _, kind = _str(reply[i]).rpartition(":")
            totals.setdefault(code, {})[kind] = int(reply[i + 1])

        def build(code: str) -> ReasonPrecision:
            counts = totals.get(code, {})
            return ReasonPrecision(code=code, decided=counts.get("n", 0), fake=counts.get("f", 0))

        reasons = sorted(
            (build(code) for code in totals if code != "*"), key=lambda r: (-r.decided, r.code)
        )
        report = PrecisionReport(window_days=days, overall=build("*"), reasons=tuple(reasons))
        if self._metrics is not None:
            self._metrics.observe(report)
        return report

    async def labelled_examples(self, *, batch: int = 500) -> AsyncIterator[LabelledExample]:
        """Every verdict still retained, oldest decision first: training data."""
        start = 0
        while True:
            try:
                members = await self._redis.zrange(keys.decided_key(), start, start + batch - 1)
            except RedisError as exc:
                raise ModerationUnavailable("the moderation store is unavailable") from exc
            if not members:
                return
            start += len(members)
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for member in members:
                        pipe.hmget(keys.item_key_for_member(_str(member)), list(_DECIDED_FIELDS))
                    rows = await pipe.execute()
            except RedisError as exc:
                raise ModerationUnavailable("the moderation store is unavailable") from exc
            for rec, status, verdict, by, src, dec_ms in rows:
                if rec is None or _opt_str(status) != "decided":
                    continue
                yield LabelledExample(
                    scored=decode_scored(rec),
                    verdict=_str(verdict),
                    source=_str(src),
                    moderator_id=_opt_str(by) or None,
                    decided_at_s=int(dec_ms) / 1000,
                )

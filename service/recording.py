"""The writes made after answering, posted to the scorer's pipelined connection without waiting.

Per scored review with features: the answer cache (``FeatureStore.answer_commands``, so that a
retry of the same review gets the same answer) and the moderation record
(``ModerationQueue.post``). The cache entry goes into the connection's buffer before the answer
leaves, the record at the end of the same turn of the event loop, with no task, future or await
per review; their replies are read as they come and only failures are
reported. Without a pipelined connection (Redis Cluster, or ``redis_pipelined`` off) the scorer
awaits the same writes in a task instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from service.features.mux import Posted, RedisMux, pack
from service.features.store import FeatureStore
from service.moderation.models import ScoredReview
from service.moderation.queue import ModerationQueue
from service.scorer import Scored
from service.scoring.features import feature_row

log = logging.getLogger("reviewguard.recording")


def scored_review(scored: Scored) -> ScoredReview:
    """What the moderation queue keeps of a scored review (no personal data)."""
    verdict = scored.verdict
    return ScoredReview(
        verdict.review_id,
        scored.review.product_id,
        verdict.risk_score,
        verdict.decision,
        verdict.reasons,
        scored.review.text,
        scored.review.submitted_at,
        verdict.model_version,
        feature_row(scored.features) if scored.features else {},
    )


class FailureLog:
    """Logs failed writes by type, at most once a second with how many failed since (a lost
    connection fails every command that waited on it at once)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_s = float("-inf")
        self._unlogged = 0

    def __call__(self, exc: Exception) -> None:
        self._unlogged += 1
        now = self._clock()
        if now - self._last_s >= 1.0:
            name, count = type(exc).__name__, self._unlogged
            log.warning("recording scored reviews failed: %s (%d writes)", name, count)
            self._last_s, self._unlogged = now, 0


class PostedWrites:
    """The scorer's poster: answer cache and moderation record of a review, without waiting."""

    def __init__(
        self,
        mux: RedisMux,
        store: FeatureStore,
        queue: ModerationQueue,
        on_error: Callable[[Exception], object] | None = None,
    ) -> None:
        self._mux = mux
        self._store = store
        self._queue = queue
        self._on_error = on_error or FailureLog()
        self._slot = Posted(self._on_error)
        self._records: list[Scored] = []

    def __call__(self, scored: Scored) -> None:
        verdict = scored.verdict
        for command in self._store.answer_commands(verdict.review_id, verdict.body):
            self._mux.post(pack(command), self._slot)
        # The moderation record (~40 µs alone: JSON, zstd, keys, RESP; ~90 µs under load) is
        # built at the end of this turn of the event loop, one after the other with the records
        # of the other reviews answered in it, rather than between two requests' other work:
        # its code and zstd's tables stay in the caches (docs/performance.md, sixth session).
        self._records.append(scored)
        if len(self._records) == 1:
            asyncio.get_running_loop().call_soon(self._post_records)

    def _post_records(self) -> None:
        records, self._records = self._records, []
        for scored in records:
            try:
                if not self._queue.post(scored_review(scored), self._on_error):
                    raise RuntimeError("the moderation queue has no pipelined connection")
            except Exception as exc:  # best effort: the answer is out; counted and logged
                self._on_error(exc)

    async def sync(self) -> None:
        """Wait until every write posted so far is answered (tests, shutdown)."""
        if self._records:
            self._post_records()
        await self._mux.sync()
        await self._queue.settle()

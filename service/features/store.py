"""The Redis edge of the features: record a review and read its features in one round trip."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as redis_asyncio
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from service.features import keys
from service.features.calls import decode_replies, parse_entity_record, plan_observe
from service.features.mux import RedisMux, pack
from service.scoring.features import Features, derive_features
from service.scoring.identity import REVIEW_HASH_HEX, Identity, identify, keyed_hash
from service.scoring.review import Review

SCRIPT_DIR = Path(__file__).resolve().parent
SCRIPT_NAMES = ("account", "product", "crowd", "band", "review", "answer")
DEFAULT_RETENTION_S = 30 * 86400
# What a failing or slow Redis (or Cluster) raises through redis-py.
REDIS_FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)


class FeaturesUnavailable(Exception):
    """Redis failed or timed out: the caller answers without behaviour features."""


@dataclass(frozen=True)
class Observation:
    features: Features
    cached_answer: bytes | None


def _load_sources() -> dict[str, str]:
    sources = {name: (SCRIPT_DIR / f"{name}.lua").read_text() for name in SCRIPT_NAMES}
    sources[BATCH] = batch_source(sources)
    return sources


BATCH = "batch"


def batch_source(sources: dict[str, str]) -> str:
    """One script that runs a review's calls in one EVALSHA, for a single Redis (not a Cluster:
    its keys span hash tags). Each script becomes a function of its own KEYS and ARGV, unchanged.

    ARGV[1]: one string, lines joined by "\\n": n, then n triples (script, key count, arg
    count), then every call's args in order (hashes and integers: no arg holds a newline, which
    `_run_batch` checks). One argument instead of ~90 spares the client packing each one.
    KEYS: every call's keys in order. Each reply comes wrapped in a one-element array, so a nil
    reply stays in its place.
    """
    functions = "\n".join(
        f"local function f_{name}(KEYS, ARGV)\n{source}\nend" for name, source in sources.items()
    )
    table = ", ".join(f"{name} = f_{name}" for name in sources)
    return f"""{functions}
local scripts = {{{table}}}
local argv, m = {{}}, 0
for line in string.gmatch(ARGV[1] .. "\\n", "(.-)\\n") do m = m + 1; argv[m] = line end
local n = tonumber(argv[1])
local ki, ai, out = 1, 2 + 3 * n, {{}}
for c = 0, n - 1 do
  local nk, na = tonumber(argv[3 + 3 * c]), tonumber(argv[4 + 3 * c])
  local k, a = {{}}, {{}}
  for j = 1, nk do k[j] = KEYS[ki]; ki = ki + 1 end
  for j = 1, na do a[j] = argv[ai]; ai = ai + 1 end
  out[c + 1] = {{scripts[argv[2 + 3 * c]](k, a)}}
end
return out
"""


def batch_argv(calls: Sequence[tuple[str, Sequence[str], Sequence[Any]]]) -> tuple[list[str], str]:
    """The keys and the one argument of the batch script running ``calls`` (``batch_source``)."""
    header: list[Any] = [len(calls)]
    all_keys: list[str] = []
    all_args: list[Any] = []
    for script, call_keys, args in calls:
        header += [script, len(call_keys), len(args)]
        all_keys += call_keys
        all_args += args
    argv = "\n".join(map(str, [*header, *all_args]))
    if argv.count("\n") != len(header) + len(all_args) - 1:
        raise ValueError("a script argument holds a newline: it cannot travel in the batch")
    return all_keys, argv


def reference_batch_command(
    sha: str, review: Review, identity: Identity, retention_s: int
) -> bytes:
    """The packed EVALSHA of the batch script (sha ``sha``) that records ``review`` and reads its
    state: ``plan_observe``'s calls, as ``_run_batch`` sends them through the mux."""
    plan = plan_observe(review, identity, retention_s)
    all_keys, argv = batch_argv([(c.script, c.keys, c.args) for c in plan.calls])
    return pack(("EVALSHA", sha, len(all_keys), *all_keys, argv))


batch_command = reference_batch_command


class FeatureStore:
    """Feature state in Redis (single node or Cluster): one round trip per review.

    Every script touches keys of one hash tag only. On a Cluster, a pipeline carries one EVALSHA
    per entity, routed by slot; on a single Redis, one EVALSHA of the batch script runs them all.
    No retries: a failure surfaces at once as ``FeaturesUnavailable`` (the only exception is a
    NOSCRIPT reply after a Redis restart or failover, answered by loading the scripts and
    sending the same, idempotent pipeline once more).
    """

    def __init__(
        self,
        redis: redis_asyncio.Redis | redis_asyncio.RedisCluster,
        hmac_key: bytes,
        retention_s: int = DEFAULT_RETENTION_S,
        mux: RedisMux | None = None,
    ) -> None:
        if not hmac_key:
            raise ValueError("an HMAC key is required: personal data is stored only hashed")
        self._redis = redis
        # The hot path's commands over one pipelined connection (single Redis only).
        # (decided once: RedisCluster's isinstance goes through typing.Protocol, slow per call)
        self._is_cluster = isinstance(redis, redis_asyncio.RedisCluster)
        self._mux = None if self._is_cluster else mux
        self._hmac_key = hmac_key
        self._retention_s = retention_s
        self._sources = _load_sources()
        self._shas = {
            name: hashlib.sha1(source.encode()).hexdigest()
            for name, source in self._sources.items()
        }
        self._load_lock = asyncio.Lock()

    @property
    def retention_s(self) -> int:
        return self._retention_s

    async def load_scripts(self) -> None:
        """SCRIPT LOAD every script (on every primary of a cluster)."""
        async with self._load_lock:
            for source in self._sources.values():
                await self._redis.script_load(source)

    async def _run(
        self,
        calls: list[tuple[str, tuple[str, ...], tuple[Any, ...]]],
        deadline: float | None = None,
    ) -> list[Any]:
        """The calls' replies; past ``deadline`` (event-loop time), ``TimeoutError``."""
        if self._mux is None and deadline is not None:
            async with asyncio.timeout_at(deadline):
                return await self._run(calls)
        if len(calls) == 1:
            script, call_keys, args = calls[0]
            return [await self._evalsha(script, call_keys, args, deadline)]
        if not self._is_cluster:
            return await self._run_batch(calls, deadline)
        return await self._run_pipeline(calls)

    async def _evalsha(
        self,
        script: str,
        call_keys: Sequence[str],
        args: Sequence[Any],
        deadline: float | None = None,
    ) -> Any:
        """One script call, without a pipeline's bookkeeping; loads the scripts on NOSCRIPT."""
        command = ("EVALSHA", self._shas[script], len(call_keys), *call_keys, *args)
        mux = self._mux
        if mux is not None:
            packed = pack(command)
            try:
                return await mux.send(packed, deadline)
            except NoScriptError:
                await self.load_scripts()
                return await mux.send(packed, deadline)
        try:
            return await self._redis.execute_command(*command)
        except NoScriptError:
            await self.load_scripts()
            return await self._redis.execute_command(*command)

    async def _run_batch(
        self,
        calls: list[tuple[str, tuple[str, ...], tuple[Any, ...]]],
        deadline: float | None = None,
    ) -> list[Any]:
        """A single Redis: the whole plan as one script call (one command to build and parse)."""
        all_keys, argv = batch_argv(calls)
        replies = await self._evalsha(BATCH, all_keys, [argv], deadline)
        return [reply[0] if reply else None for reply in replies]

    async def _run_pipeline(
        self, calls: list[tuple[str, tuple[str, ...], tuple[Any, ...]]]
    ) -> list[Any]:
        for attempt in (1, 2):
            pipe = self._redis.pipeline(transaction=False)
            for script, call_keys, args in calls:
                # execute_command: redis-py blocks pipe.evalsha() on cluster pipelines only by
                # name; EVALSHA itself is routed by its keys' slot like any keyed command.
                pipe.execute_command(
                    "EVALSHA", self._shas[script], len(call_keys), *call_keys, *args
                )
            try:
                return list(await pipe.execute())
            except NoScriptError:
                if attempt == 2:
                    raise
                await self.load_scripts()
            finally:
                reset = getattr(pipe, "reset", None)
                if reset is not None:
                    result = reset()
                    if asyncio.iscoroutine(result):
                        await result
        raise AssertionError("unreachable")

    async def observe(self, review: Review, deadline: float | None = None) -> Observation:
        """Record the review (once per review_id) and return its features as of submitted_at.

        Past ``deadline`` (event-loop time, for the Redis part), ``TimeoutError``; other
        failures raise ``FeaturesUnavailable``.
        """
        identity = identify(review, self._hmac_key)
        plan = plan_observe(review, identity, self._retention_s)
        try:
            replies = await self._run([(c.script, c.keys, c.args) for c in plan.calls], deadline)
        except TimeoutError:
            if deadline is None:  # a socket timeout of redis-py's own
                raise FeaturesUnavailable("TimeoutError") from None
            raise
        except REDIS_FAILURES as exc:
            raise FeaturesUnavailable(type(exc).__name__) from exc
        raw, answer = decode_replies(plan, identity, replies)
        return Observation(derive_features(review, identity, raw, self._retention_s), answer)

    def _record_key(self, review_id: str) -> str:
        return keys.review_record(keyed_hash(self._hmac_key, "r", review_id, REVIEW_HASH_HEX))

    async def store_answer(self, review_id: str, payload: bytes) -> None:
        """Cache the answer given for ``review_id`` for the retention period."""
        try:
            await self._run(
                [("answer", (self._record_key(review_id),), (payload, self._retention_s))]
            )
        except REDIS_FAILURES as exc:
            raise FeaturesUnavailable(type(exc).__name__) from exc

    async def link_confirmed_fraud(self, review_id: str) -> bool:
        """Tie the review's account, device, IP and network to confirmed fraud for the retention
        period; False if the review is unknown (never observed, or expired)."""
        try:
            record = await self._redis.hget(self._record_key(review_id), "e")
            if record is None:
                return False
            account_h, device_h, ip_h, net_h = parse_entity_record(
                record.decode() if isinstance(record, bytes) else str(record)
            )
            flags = [keys.account_flag(account_h)]
            for kind, entity_h in ((keys.DEVICE, device_h), (keys.IP, ip_h), (keys.NET, net_h)):
                if entity_h is not None:
                    flags.append(keys.crowd_flag(kind, entity_h))
            pipe = self._redis.pipeline(transaction=False)
            for flag in flags:
                pipe.set(flag, b"1", ex=self._retention_s)
            await pipe.execute()
        except REDIS_FAILURES as exc:
            raise FeaturesUnavailable(type(exc).__name__) from exc
        return True

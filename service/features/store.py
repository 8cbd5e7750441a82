"""The Redis edge of the features: record a review and read its features in one round trip."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis.asyncio as redis_asyncio
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from service.features import keys
from service.features.calls import (
    ARGUMENTS,
    JOINED,
    KEY_COUNTS,
    NATIVE_EDGE,
    REVIEW_VALUES,
    Plan,
    constants,
    observed_features,
    parse_entity_record,
    plan_observe,
)
from service.features.mux import Arg, RedisMux, pack
from service.scoring.features import Features, to_ms
from service.scoring.identity import (
    ENTITY_HASH_HEX,
    REVIEW_HASH_HEX,
    Identity,
    identify,
    keyed_hash,
)
from service.scoring.review import Review
from service.scoring.text_fingerprint import BAND_BITS, BANDS, SIMHASH_BITS

SCRIPT_DIR = Path(__file__).resolve().parent
SCRIPT_NAMES = ("account", "product", "crowd", "band", "review")
DEFAULT_RETENTION_S = 30 * 86400
# What a failing or slow Redis (or Cluster) raises through redis-py.
REDIS_FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)


class FeaturesUnavailable(Exception):
    """Redis failed or timed out: the caller answers without behaviour features."""


@dataclass(frozen=True)
class Observation:
    features: Features
    cached_answer: bytes | None


def _load_sources(retention_s: int) -> dict[str, str]:
    sources = {name: (SCRIPT_DIR / f"{name}.lua").read_text() for name in SCRIPT_NAMES}
    sources[BATCH] = batch_source(sources, retention_s)
    return sources


BATCH = "batch"
# The batch's calls in order (plan_observe's): each script once, or as many times as a line of
# the argument says (the review's crowds: device, IP, network; its SimHash's bands).
_BATCH_ORDER = (("account", ""), ("product", ""), ("crowd", "crowds"), ("band", "bands"),
                ("review", ""))  # fmt: skip


def batch_source(sources: dict[str, str], retention_s: int) -> str:
    """One script that runs a review's calls in one EVALSHA, for a single Redis (not a Cluster:
    its keys span hash tags). Each script becomes a function of its own KEYS and ARGV, unchanged.

    ARGV[1]: one string, lines joined by "\\n": the review's crowd count and band count, then
    its own values (``REVIEW_VALUES``: hashes and integers, no newline, which ``batch_argv``
    checks). Each script's arguments (``ARGUMENTS``) are rebuilt from those and the constants
    (``constants(retention_s)``, written into the script): a review sends each value once, and
    Redis makes 9 strings of it, not ~90. KEYS: every call's keys in order. Each reply comes
    wrapped in a one-element array, so a nil reply stays in its place.
    """
    functions = "\n".join(
        f"local function f_{name}(KEYS, ARGV)\n{source}\nend"
        for name, source in sources.items()
        if name in ARGUMENTS
    )
    own = ", ".join(REVIEW_VALUES)
    own_lines = ", ".join(f"v[{3 + i}]" for i in range(len(REVIEW_VALUES)))
    shared = constants(retention_s)
    lines = [
        functions,
        "local s, v, m, at = ARGV[1], {}, 0, 1",
        "while true do",
        '  local nl = string.find(s, "\\n", at, true)',
        "  m = m + 1",
        "  if not nl then v[m] = string.sub(s, at); break end",
        "  v[m] = string.sub(s, at, nl - 1); at = nl + 1",
        "end",
        "local crowds, bands = tonumber(v[1]), tonumber(v[2])",
        f"local {own} = {own_lines}",
        *(f"local {name} = {' .. '.join(parts)}" for name, parts in JOINED.items()),
        *(f"local {name} = '{value:d}'" for name, value in shared.items()),
        "local out, ki = {}, 1",
        "local function run(f, nk, a)",
        "  local k = {}",
        "  for j = 1, nk do k[j] = KEYS[ki]; ki = ki + 1 end",
        "  out[#out + 1] = {f(k, a)}",
        "end",
    ]
    for name, times in _BATCH_ORDER:
        args = "{" + ", ".join(ARGUMENTS[name]) + "}"
        if times:  # one table of arguments for every repeat (the scripts only read theirs)
            lines.append(f"local {name}_args = {args}")
            lines.append(
                f"for _ = 1, {times} do run(f_{name}, {KEY_COUNTS[name]}, {name}_args) end"
            )
        else:
            lines.append(f"run(f_{name}, {KEY_COUNTS[name]}, {args})")
    lines.append("return out")
    return "\n".join(lines) + "\n"


def batch_argv(plan: Plan) -> tuple[list[str], str]:
    """The keys and the one argument of the batch script running ``plan`` (``batch_source``)."""
    all_keys = [key for call in plan.calls for key in call.keys]
    lines = [len(plan.crowd_kinds), plan.band_count, *plan.values]
    argv = "\n".join(map(str, lines))
    if argv.count("\n") != len(lines) - 1:
        raise ValueError("a script argument holds a newline: it cannot travel in the batch")
    return all_keys, argv


def reference_batch_command(
    sha: str, review: Review, identity: Identity, retention_s: int
) -> bytes:
    """The packed EVALSHA of the batch script (sha ``sha``) that records ``review`` and reads its
    state: ``plan_observe``'s calls, as ``_run_batch`` sends them."""
    all_keys, argv = batch_argv(plan_observe(review, identity, retention_s))
    return pack(("EVALSHA", sha, len(all_keys), *all_keys, argv))


# Templates by (batch SHA, shape): the SHA names the retention and caps written into the script.
_BATCH_TEMPLATES: dict[tuple[str, tuple[bool, bool, bool, bool]], tuple[str, int, int, int]] = {}
# batch_command's fast path: the bands of a SimHash are then slices of its hex form.
_BANDS_ARE_HEX_SLICES = BANDS == 4 and BAND_BITS == 16 and SIMHASH_BITS == 64


# The fields of a batch command template, each marked "\x00" + its code: the entity hashes
# (account, product, device, IP, network, review), the 4 bands, the argument's length, t_ms, the
# product hash's first 8 characters, the rating and the band member (account hash + SimHash).
_FIELD_LENGTHS = {
    **dict.fromkeys("apdin", ENTITY_HASH_HEX),
    "r": REVIEW_HASH_HEX,
    **dict.fromkeys("0123", 2 + BAND_BITS // 4),
    "8": 8,
    "g": 1,
    "m": ENTITY_HASH_HEX + SIMHASH_BITS // 4,
    "t": 0,  # its length varies: counted apart
}
_CROWD_CODES = ((keys.DEVICE, "d"), (keys.IP, "i"), (keys.NET, "n"))


def _marked_batch(sha: str, shape: tuple[bool, bool, bool, bool]) -> tuple[str, int, int]:
    """The packed batch EVALSHA of one shape of review (which of device, IP and network it has,
    and whether its text has a SimHash), each variable part marked (``_FIELD_LENGTHS``); also
    the length of the script's argument less the digits of its t_ms, and how many t_ms it holds.

    ``plan_observe``'s calls as ``batch_argv`` joins them, written out once per shape, for the
    usual lengths of the hashes (``ENTITY_HASH_HEX``, ``REVIEW_HASH_HEX``) and a one-digit
    rating. Its fields, in order (the tuple ``batch_command`` fills):

    - keys: account_h twice; product_h 5 times; each crowd's entity hash 3 times; the bands;
      review_h;
    - the argument's length;
    - the argument (after the crowd and band counts, literal): t_ms, review_h, account_h,
      product8, rating, the band member (account_h + SimHash, if any), then account_h and each
      crowd's entity hash (the entity record).
    """
    crowds = [(kind, code) for (kind, code), present in zip(_CROWD_CODES, shape, strict=False)
              if present]  # fmt: skip
    bands = BANDS if shape[3] else 0
    key_parts: list[str] = []  # each key in RESP

    def add_keys(make_keys: Callable[[str], Sequence[str]], code: str) -> None:
        sample = "x" * _FIELD_LENGTHS[code]
        for key, marked in zip(make_keys(sample), make_keys("\x00" + code), strict=True):
            key_parts.append(f"${len(key)}\r\n{marked}\r\n")

    add_keys(lambda h: (keys.account_events(h), keys.account_flag(h)), "a")
    add_keys(keys.product_ratings, "p")
    for kind, code in crowds:
        add_keys(functools.partial(keys.crowd_keys, kind), code)
    for band in range(bands):
        add_keys(lambda h: (keys.text_band(h),), str(band))
    add_keys(lambda h: (keys.review_record(h),), "r")
    key_count = len(key_parts)
    record = ["\x00a"] + ["\x00" + code if present else "" for (_, code), present in zip(
        _CROWD_CODES, shape, strict=False)]  # fmt: skip
    marks = {
        "t_ms": "\x00t",
        "review_h": "\x00r",
        "account_h": "\x00a",
        "product8": "\x008",
        "rating": "\x00g",
        "band_member": "\x00m" if shape[3] else "",
        "entity_record": "|".join(record),
    }
    lines = [str(len(crowds)), str(bands), *(marks[name] for name in REVIEW_VALUES)]
    argv = "\n".join(lines)
    codes = [part[0] for part in argv.split("\x00")[1:]]
    argv_len = len(argv) - 2 * len(codes) + sum(_FIELD_LENGTHS[code] for code in codes)
    marked = (
        f"*{3 + key_count + 1}\r\n$7\r\nEVALSHA\r\n${len(sha)}\r\n{sha}\r\n"
        f"${len(str(key_count))}\r\n{key_count}\r\n{''.join(key_parts)}$\x00L\r\n{argv}\r\n"
    )
    return marked, argv_len, codes.count("t")


def _batch_template(sha: str, shape: tuple[bool, bool, bool, bool]) -> tuple[str, int, int, int]:
    """``_marked_batch`` as a %-template ("%d" the argument's length, "%s" the other fields),
    its argument's length less its t_ms digits, how many t_ms, how many newlines in all."""
    marked, argv_len, t_count = _marked_batch(sha, shape)
    template = marked.replace("%", "%%").replace("\x00L", "%d")
    for code in _FIELD_LENGTHS:
        template = template.replace("\x00" + code, "%s")
    return template, argv_len, t_count, template.count("\n")


_NATIVE_TEMPLATES: dict[str, tuple[Any, ...] | None] = {}


def _native_templates(sha: str) -> tuple[Any, ...] | None:
    """The templates of the 16 shapes as featureedge's ``command`` takes them (shape index:
    device 1, IP 2, network 4, SimHash 8); None if they are not ASCII (then Python packs)."""
    entries = []
    for index in range(16):
        shape = (bool(index & 1), bool(index & 2), bool(index & 4), bool(index & 8))
        marked, argv_len, t_count = _marked_batch(sha, shape)
        if not marked.isascii():
            return None
        parts = marked.encode().split(b"\x00")
        literals = (parts[0], *[part[1:] for part in parts[1:]])
        entries.append((literals, bytes(part[0] for part in parts[1:]), argv_len, t_count))
    return tuple(entries)


def batch_command(sha: str, review: Review, identity: Identity, retention_s: int) -> bytes:
    """``reference_batch_command``, the same bytes: in C (service/native/featureedge.c) where
    built, else ``batch_command_python``."""
    if NATIVE_EDGE is not None and _BANDS_ARE_HEX_SLICES:
        templates = _NATIVE_TEMPLATES.get(sha, ())
        if templates == ():
            templates = _NATIVE_TEMPLATES[sha] = _native_templates(sha)
        if templates is not None:
            command = NATIVE_EDGE.command(templates, review, identity)
            if command is not None:
                return cast(bytes, command)
    return batch_command_python(sha, review, identity, retention_s)


def batch_command_python(sha: str, review: Review, identity: Identity, retention_s: int) -> bytes:
    """``reference_batch_command``, the same bytes, from a template of the review's shape."""
    account_h, review_h, product_h = identity.account_h, identity.review_h, identity.product_h
    hashes = [h for h in (identity.device_h, identity.ip_h, identity.net_h) if h is not None]
    simhash = identity.simhash
    rating = min(5, max(1, review.rating))
    if (
        type(rating) is not int
        or len(account_h) != ENTITY_HASH_HEX
        or len(product_h) != ENTITY_HASH_HEX
        or len(review_h) != REVIEW_HASH_HEX
        or any(len(h) != ENTITY_HASH_HEX for h in hashes)
        or not (
            simhash is None
            or (_BANDS_ARE_HEX_SLICES and type(simhash) is int and 0 <= simhash < 1 << 64)
        )
    ):
        return reference_batch_command(sha, review, identity, retention_s)
    shape = (
        identity.device_h is not None,
        identity.ip_h is not None,
        identity.net_h is not None,
        simhash is not None,
    )
    found = _BATCH_TEMPLATES.get((sha, shape))
    if found is None:
        found = _BATCH_TEMPLATES[sha, shape] = _batch_template(sha, shape)
    template, argv_len, t_count, newlines = found
    t = str(to_ms(review.submitted_at))
    if simhash is None:
        member: list[str] = []
        band_keys: tuple[str, ...] = ()
    else:
        hex16 = f"{simhash:016x}"
        member = [account_h + hex16]
        band_keys = (f"0:{hex16[12:]}", f"1:{hex16[8:12]}", f"2:{hex16[4:8]}", f"3:{hex16[:4]}")
    command = template % (
        account_h, account_h, product_h, product_h, product_h, product_h, product_h,
        *[h for h in hashes for _ in "xyz"], *band_keys, review_h,
        argv_len + t_count * len(t),
        t, review_h, account_h, product_h[:8], rating, *member, account_h, *hashes,
    )  # fmt: skip
    if command.count("\n") != newlines or not command.isascii():
        # a newline in an argument (refused) or a hash that is not ASCII: the plain way
        return reference_batch_command(sha, review, identity, retention_s)
    return command.encode()


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
        self._sources = _load_sources(retention_s)
        self._shas = {
            name: hashlib.sha1(source.encode()).hexdigest()
            for name, source in self._sources.items()
        }
        self._batch_sha = self._shas[BATCH]
        self._load_lock = asyncio.Lock()

    @property
    def retention_s(self) -> int:
        return self._retention_s

    async def load_scripts(self) -> None:
        """SCRIPT LOAD every script (on every primary of a cluster)."""
        async with self._load_lock:
            for source in self._sources.values():
                await self._redis.script_load(source)

    async def _run(self, plan: Plan, deadline: float | None = None) -> list[Any]:
        """The replies of the plan's calls; past ``deadline`` (event-loop time), TimeoutError."""
        if self._mux is None and deadline is not None:
            async with asyncio.timeout_at(deadline):
                return await self._run(plan)
        if not self._is_cluster:
            return await self._run_batch(plan, deadline)
        return await self._run_pipeline([(c.script, c.keys, c.args) for c in plan.calls])

    async def _evalsha(
        self,
        script: str,
        call_keys: Sequence[str],
        args: Sequence[Any],
        deadline: float | None = None,
    ) -> Any:
        """One script call, without a pipeline's bookkeeping; loads the scripts on NOSCRIPT."""
        command = ("EVALSHA", self._shas[script], len(call_keys), *call_keys, *args)
        if self._mux is not None:
            return await self._send(pack(command), deadline)
        try:
            return await self._redis.execute_command(*command)
        except NoScriptError:
            await self.load_scripts()
            return await self._redis.execute_command(*command)

    async def _send(self, packed: bytes, deadline: float | None) -> Any:
        """One packed script call through the mux; loads the scripts on NOSCRIPT."""
        assert self._mux is not None
        try:
            return await self._mux.send(packed, deadline)
        except NoScriptError:
            await self.load_scripts()
            return await self._mux.send(packed, deadline)

    async def _run_batch(self, plan: Plan, deadline: float | None = None) -> list[Any]:
        """A single Redis: the whole plan as one script call (one command to build and parse)."""
        all_keys, argv = batch_argv(plan)
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
        try:
            if self._mux is not None:  # the hot path: the batch command's bytes built at once
                command = batch_command(self._batch_sha, review, identity, self._retention_s)
                replies = await self._send(command, deadline)
                wrapped = True  # each reply in a one-element list (see batch_source)
            else:
                plan = plan_observe(review, identity, self._retention_s)
                replies = await self._run(plan, deadline)
                wrapped = False
        except TimeoutError:
            if deadline is None:  # a socket timeout of redis-py's own
                raise FeaturesUnavailable("TimeoutError") from None
            raise
        except REDIS_FAILURES as exc:
            raise FeaturesUnavailable(type(exc).__name__) from exc
        features, answer = observed_features(review, identity, replies, self._retention_s, wrapped)
        return Observation(features, answer)

    def _record_key(self, review_id: str) -> str:
        return keys.review_record(keyed_hash(self._hmac_key, "r", review_id, REVIEW_HASH_HEX))

    def answer_commands(self, review_id: str, payload: bytes) -> tuple[tuple[Arg, ...], ...]:
        """The answer cache's writes: ``payload`` as field ``a`` of the review's record (the
        ``review`` script returns it to a retry), kept for the retention period."""
        key = self._record_key(review_id)
        return (("HSET", key, "a", payload), ("EXPIRE", key, self._retention_s))

    async def store_answer(self, review_id: str, payload: bytes) -> None:
        """Cache the answer given for ``review_id`` (``answer_commands``), waiting for Redis."""
        commands = self.answer_commands(review_id, payload)
        try:
            if self._mux is not None:
                for command in commands:
                    await self._mux.send(pack(command))
                return
            async with self._redis.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                await pipe.execute()
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

"""The feature state in process memory: the Lua scripts' semantics in Python, for fast replays."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

from service.features.calls import (
    ScriptCall,
    decode_replies,
    parse_entity_record,
    plan_observe,
    trims,
)
from service.features.keys import DEVICE, IP, NET, account_flag, crowd_flag, review_record
from service.scoring.features import Features, derive_features
from service.scoring.identity import REVIEW_HASH_HEX, identify, keyed_hash
from service.scoring.review import Review

DEFAULT_RETENTION_S = 30 * 86400


class SortedSet:
    """A Redis ZSET with the few operations the scripts use (same ordering: score, then member)."""

    __slots__ = ("entries", "scores")

    def __init__(self) -> None:
        self.scores: dict[str, int] = {}
        self.entries: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, score: int, member: str, mode: str) -> bool:
        """ZADD NX / GT / plain; True if the member is new."""
        old = self.scores.get(member)
        if old is not None:
            if mode == "NX" or (mode == "GT" and score <= old) or score == old:
                return False
            self.entries.pop(bisect.bisect_left(self.entries, (old, member)))
            self.scores[member] = score
            bisect.insort(self.entries, (score, member))
            return False
        self.scores[member] = score
        bisect.insort(self.entries, (score, member))
        return True

    def _lo(self, score_excl: float) -> int:
        """Index of the first entry with a score > ``score_excl``."""
        return bisect.bisect_right(self.entries, (score_excl, "\U0010ffff"))

    def count(self, lo_excl: float, hi_incl: float) -> int:
        """ZCOUNT (lo, hi]."""
        return max(0, self._lo(hi_incl) - self._lo(lo_excl))

    def range_between(self, lo_excl: float, hi_incl: float) -> list[str]:
        """ZRANGEBYSCORE (lo hi."""
        return [member for _, member in self.entries[self._lo(lo_excl) : self._lo(hi_incl)]]

    def remove_le(self, score: float) -> None:
        """ZREMRANGEBYSCORE -inf score."""
        cut = self._lo(score)
        for _, member in self.entries[:cut]:
            del self.scores[member]
        del self.entries[:cut]

    def keep_newest(self, cap: int) -> None:
        """ZREMRANGEBYRANK 0 -(cap+1)."""
        cut = len(self.entries) - cap
        if cut > 0:
            for _, member in self.entries[:cut]:
                del self.scores[member]
            del self.entries[:cut]

    def newest(self, hi_incl: float, lo_excl: float, limit: int) -> list[str]:
        """ZREVRANGEBYSCORE hi (lo LIMIT 0 limit."""
        start, stop = self._lo(lo_excl), self._lo(hi_incl)
        picked = self.entries[start:stop][::-1][:limit]
        return [member for _, member in picked]

    def first_after(self, lo_excl: float) -> int | None:
        """The lowest score > ``lo_excl`` (ZRANGEBYSCORE (lo +inf LIMIT 0 1)."""
        index = self._lo(lo_excl)
        return self.entries[index][0] if index < len(self.entries) else None


class MemoryFeatureState:
    """Same semantics as ``FeatureStore`` without Redis (no TTLs: time is ``submitted_at``)."""

    def __init__(self, hmac_key: bytes, retention_s: int = DEFAULT_RETENTION_S) -> None:
        self._hmac_key = hmac_key
        self._retention_s = retention_s
        self._sets: dict[str, SortedSet] = {}
        self._hashes: dict[str, dict[str, str]] = {}
        self._flags: set[str] = set()
        self._scripts: dict[str, Callable[[ScriptCall], Any]] = {
            "account": self._account,
            "product": self._product,
            "crowd": self._crowd,
            "band": self._band,
            "review": self._review,
        }

    def observe(self, review: Review) -> Features:
        identity = identify(review, self._hmac_key)
        plan = plan_observe(review, identity, self._retention_s)
        replies = [self._scripts[call.script](call) for call in plan.calls]
        raw, _ = decode_replies(plan, identity, replies)
        return derive_features(review, identity, raw, self._retention_s)

    def link_confirmed_fraud(self, review_id: str) -> bool:
        """Same as ``FeatureStore.link_confirmed_fraud``."""
        record = self._hashes.get(
            review_record(keyed_hash(self._hmac_key, "r", review_id, REVIEW_HASH_HEX)), {}
        ).get("e")
        if record is None:
            return False
        account_h, device_h, ip_h, net_h = parse_entity_record(record)
        self._flags.add(account_flag(account_h))
        for kind, entity_h in ((DEVICE, device_h), (IP, ip_h), (NET, net_h)):
            if entity_h is not None:
                self._flags.add(crowd_flag(kind, entity_h))
        return True

    def _set(self, key: str) -> SortedSet:
        zset = self._sets.get(key)
        if zset is None:
            zset = self._sets[key] = SortedSet()
        return zset

    def _drop_if_empty(self, *names: str) -> None:
        for name in names:
            if name in self._sets and not self._sets[name]:
                del self._sets[name]

    def _account(self, call: ScriptCall) -> list[int]:
        ev_key, flag_key = call.keys
        t, member, product, retention, cap, _ = call.args
        assert isinstance(t, int) and isinstance(member, str) and isinstance(product, str)
        assert isinstance(retention, int) and isinstance(cap, int)
        ev = self._set(ev_key)
        if ev.add(t, member, "NX") and trims(member[:-9]):
            ev.remove_le(t - retention)
            ev.keep_newest(cap)
        lo = t - retention
        before = same_product = rating_sum = extreme = distance3 = 0
        for m in ev.range_between(lo, t):
            if m == member:
                continue
            rating = int(m[20])
            before += 1
            same_product += m[12:20] == product
            rating_sum += rating
            extreme += rating in (1, 5)
            distance3 += abs(rating - 3)
        first = ev.first_after(lo)
        reply = [
            before,
            ev.count(t - min(3_600_000, retention), t),
            ev.count(t - min(86_400_000, retention), t),
            ev.count(t - min(604_800_000, retention), t),
            same_product,
            rating_sum,
            extreme,
            distance3,
            -1 if first is None else first,
            int(flag_key in self._flags),
        ]
        self._drop_if_empty(ev_key)
        return reply

    def _product(self, call: ScriptCall) -> list[int]:
        t, review_h, rating, retention, _ = call.args
        assert isinstance(t, int) and isinstance(review_h, str)
        assert isinstance(rating, int) and isinstance(retention, int)
        sets = [self._set(key) for key in call.keys]
        if not any(review_h in zset.scores for zset in sets):
            written = sets[rating - 1]
            written.add(t, review_h, "")
            if trims(review_h):
                written.remove_le(t - retention)
        kept = [zset.count(t - retention, t) for zset in sets]
        day = [zset.count(t - 86_400_000, t) for zset in sets]
        firsts = [s for zset in sets if (s := zset.first_after(t - retention)) is not None]
        reply = [
            *kept,
            sum(zset.count(t - 3_600_000, t) for zset in sets),
            sum(day),
            day[0] + day[4],
            sum(kept) - sum(day),
            min(firsts) if firsts else -1,
        ]
        self._drop_if_empty(*call.keys)
        return reply

    def _crowd(self, call: ScriptCall) -> list[int]:
        ev_key, acc_key, flag_key = call.keys
        t, review_h, account_h, retention, _, long_ms, cap = call.args
        assert isinstance(t, int) and isinstance(review_h, str) and isinstance(account_h, str)
        assert isinstance(retention, int) and isinstance(long_ms, int) and isinstance(cap, int)
        ev, acc = self._set(ev_key), self._set(acc_key)
        if ev.add(t, review_h, "NX"):
            acc.add(t, account_h, "GT")
            if trims(review_h):
                ev.remove_le(t - retention)
                acc.remove_le(t - retention)
                ev.keep_newest(cap)
                acc.keep_newest(cap)
        hour, day = t - min(3_600_000, retention), t - min(86_400_000, retention)
        reply = [
            ev.count(hour, t),
            ev.count(day, t),
            acc.count(hour, t),
            acc.count(day, t),
            acc.count(t - min(long_ms, retention), t),
            int(flag_key in self._flags),
        ]
        self._drop_if_empty(ev_key, acc_key)
        return reply

    def _band(self, call: ScriptCall) -> list[str]:
        (key,) = call.keys
        t, member, window, _, cap, limit, review_h = call.args
        assert isinstance(t, int) and isinstance(member, str) and isinstance(window, int)
        assert isinstance(cap, int) and isinstance(limit, int) and isinstance(review_h, str)
        zset = self._set(key)
        zset.add(t, member, "GT")
        if trims(review_h):
            zset.remove_le(t - window)
            zset.keep_newest(cap)
        reply = zset.newest(t, t - window, limit)
        self._drop_if_empty(key)
        return reply

    def _review(self, call: ScriptCall) -> bytes | None:
        (key,) = call.keys
        record, _ = call.args
        fields = self._hashes.setdefault(key, {})
        fields.setdefault("e", str(record))
        answer = fields.get("a")
        return None if answer is None else answer.encode()

"""A circuit breaker: stop waiting on a store that keeps failing, and probe it to recover."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class CircuitBreaker:
    """closed -> (failure_threshold consecutive failures) -> open -> (after a pause) ->
    half-open: one probe; its success closes the breaker, its failure opens it again.

    The first pause after closed is ``first_reset_s`` (``reset_s`` when None); each failed
    probe doubles it, up to ``reset_s``. A store that stalled once (one slow spell of Redis
    fails every command in flight at once, enough to open the breaker) is then skipped for
    the short first pause only, while one that stays down is probed ever less often."""

    failure_threshold: int = 5
    reset_s: float = 2.0
    clock: Callable[[], float] = time.monotonic
    first_reset_s: float | None = None
    _failures: int = field(default=0, init=False)
    _opened_at: float | None = field(default=None, init=False)
    _probing: bool = field(default=False, init=False)
    _pause_s: float = field(default=0.0, init=False)

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "open" if self._holding(self._opened_at) else "half-open"

    @property
    def pause_s(self) -> float:
        """How long the breaker, while open, skips the store before its next probe."""
        return self._pause_s

    def allow(self) -> bool:
        """May a call go to the store now? In half-open, exactly one probe is let through."""
        if self._opened_at is None:
            return True
        if self._holding(self._opened_at):
            return False
        self._probing = True
        return True

    def _holding(self, opened_at: float) -> bool:
        """Open and not ready for a probe: one is under way, or the pause is not over."""
        return self._probing or self.clock() - opened_at < self._pause_s

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing:  # the probe failed: open again, for twice as long
            self._pause_s = min(2 * self._pause_s, self.reset_s)
            self._opened_at = self.clock()
        elif self._failures >= self.failure_threshold:
            if self._opened_at is None:
                first = self.reset_s if self.first_reset_s is None else self.first_reset_s
                self._pause_s = min(first, self.reset_s)
            self._opened_at = self.clock()
        self._probing = False

"""A circuit breaker: stop waiting on a store that keeps failing, and probe it to recover."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class CircuitBreaker:
    """closed -> (failures >= threshold) -> open -> (after reset_s) -> half-open: one probe."""

    failure_threshold: int = 5
    reset_s: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _failures: int = field(default=0, init=False)
    _opened_at: float | None = field(default=None, init=False)
    _probing: bool = field(default=False, init=False)

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._probing or self.clock() - self._opened_at < self.reset_s:
            return "open"
        return "half-open"

    def allow(self) -> bool:
        """May a call go to the store now? In half-open, exactly one probe is let through."""
        if self._opened_at is None:
            return True
        if self._probing or self.clock() - self._opened_at < self.reset_s:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._opened_at = self.clock()
        self._probing = False

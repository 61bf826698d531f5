"""A circuit breaker per source: stop asking a system that keeps failing, for a while (pure).

A shop that is down makes every lookup wait its whole time budget before the caller hears
the fallback; after `failures` failures in a row the breaker opens and lookups fail at once
(callers hear the honest sentence without the wait, and the shop is not hammered while it
recovers). After `open_for` seconds one lookup is let through (half-open): its success
closes the breaker, its failure opens it again. The clock is injected, so tests move time
instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    def __init__(self, failures: int, open_for: float, clock: Callable[[], float]) -> None:
        self.failures = failures
        self.open_for = open_for
        self.clock = clock
        self._failed = 0
        self._opened_at: float | None = None
        self._trial = False
        """A half-open trial lookup is in flight: others still fail fast."""

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self._opened_at >= self.open_for:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """Whether a lookup may go out now (in half-open, only one at a time)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial:
            self._trial = True
            return True
        return False

    def succeeded(self) -> None:
        self._failed = 0
        self._opened_at = None
        self._trial = False

    def abandoned(self) -> None:
        """A lookup ended without an answer either way (cancelled): another may try."""
        self._trial = False

    def failed(self) -> None:
        self._trial = False
        self._failed += 1
        if self._opened_at is not None or self._failed >= self.failures:
            self._opened_at = self.clock()

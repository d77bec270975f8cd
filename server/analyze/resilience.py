"""Retry policy and circuit breaker for the LLM backends, with injectable clock and sleep.

Kept apart from the analyzer so each is small and testable on its own: tests drive the breaker with a
fake clock and the retries with a sleep that returns at once, and nothing waits for real seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; the n-th retry waits base·2ⁿ⁻¹ seconds, never more than `max_delay`."""

    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, retry: int) -> float:
        """Wait before retry number `retry` (1-based)."""
        return min(self.max_delay, self.base_delay * 2 ** (retry - 1))


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls are skipped until the recovery time has passed
    HALF_OPEN = "half_open"  # one trial call decides


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `recovery_seconds` lets one call try.

    While open, the analyzer skips the LLM entirely and scores with rules at once, instead of making
    every event wait for a timeout against a backend that is known to be down.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.recovery_seconds = recovery_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.recovery_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """May a call go to the backend now? In half-open state only one trial at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def end_trial(self) -> None:
        """The half-open trial ended without a verdict (cancelled, or it never reached the backend):
        the next call may try instead."""
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._trial_running or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()  # (re)open: a failed trial waits a full recovery again
        self._trial_running = False

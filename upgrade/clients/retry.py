"""The retry policy of the HTTP transport: bounded retries with exponential backoff and jitter
(tenacity), bounded in attempts and in total time, with the time budget checked on an
injectable clock so tests never wait for real. Which failures are retried is decided by the
caller (`upgrade.clients.errors.is_transient` for the transport)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from upgrade.errors import HarnessError

__all__ = ["RetryPolicy"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter for idempotent calls.

    A call is tried at most `attempts` times and never starts a retry that would end its wait
    after `total_s` seconds from the first try. `sleep` and `clock` are injectable so tests
    never wait for real.
    """

    attempts: int = 4
    total_s: float = 60.0
    initial_s: float = 0.5
    max_wait_s: float = 8.0
    jitter_s: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise HarnessError(f"retry attempts must be at least 1, not {self.attempts}")
        if self.total_s <= 0:
            raise HarnessError(f"retry time budget must be positive, not {self.total_s}")

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt only."""
        return cls(attempts=1)

    def call(
        self,
        fn: Callable[[], T],
        *,
        retry_if: Callable[[BaseException], bool],
        before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
    ) -> T:
        """`fn()` under this policy, the time budget starting now.

        The first attempt is made directly: tenacity's bookkeeping costs about 40 us a call,
        a twentieth of a registry request's CPU. A failure `retry_if` retries is then handed
        to tenacity as its first attempt, so the attempts, waits, budget and `before_sleep`
        calls are those `retrying` gives.
        """
        started = self.clock()
        try:
            return fn()
        except BaseException as error:
            if self.attempts < 2 or not retry_if(error):
                raise
            first: BaseException | None = error

        def again() -> T:
            nonlocal first
            if first is not None:
                failed, first = first, None
                raise failed
            return fn()

        return self.retrying(retry_if=retry_if, before_sleep=before_sleep, started=started)(again)

    def retrying(
        self,
        *,
        retry_if: Callable[[BaseException], bool],
        before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
        started: float | None = None,
    ) -> tenacity.Retrying:
        """A tenacity controller for one call, its time budget starting now (or `started`)."""
        start = self.clock() if started is None else started
        wait = tenacity.wait_exponential(
            multiplier=self.initial_s, max=self.max_wait_s
        ) + tenacity.wait_random(0, self.jitter_s)
        return tenacity.Retrying(
            stop=tenacity.stop_any(
                tenacity.stop_after_attempt(self.attempts),
                _StopAtDeadline(self.clock, start + self.total_s),
            ),
            wait=wait,
            retry=tenacity.retry_if_exception(retry_if),
            sleep=self.sleep,
            reraise=True,
            before_sleep=before_sleep,
        )


class _StopAtDeadline(tenacity.stop.stop_base):
    """Stop when the coming wait would end after the deadline (on the injectable clock)."""

    def __init__(self, clock: Callable[[], float], deadline: float) -> None:
        self._clock = clock
        self._deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self._clock() + retry_state.upcoming_sleep > self._deadline

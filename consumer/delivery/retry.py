"""How long a failed event waits before its next attempt, and when it stops trying.

Pure functions of a frozen policy, so the pipeline carries the decision out and
the tests can table it. Full jitter (AWS architecture blog, "Exponential Backoff
And Jitter"): attempt ``n`` waits a uniform draw from ``[0, min(cap, base·2^(n-1))]``,
which spreads a crowd of failing events evenly instead of retrying in waves.

``Retry-After`` wins over the draw when it is longer, even beyond ``cap_s``:
the cap bounds our own guess at how long the PBX needs, whereas ``Retry-After``
is the PBX saying so. Retrying sooner is a call that is known to fail and adds
load to a PBX that asked for less. The total is still bounded: ``retry_allowed``
refuses any wait that would end past the deadline, and the event is
dead-lettered (``RETRIES_EXHAUSTED``) at once instead of sitting out a wait
that could only end in the same dead letter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

_MAX_EXPONENT = 1023
"""2.0**1023 is the largest finite power of two: beyond it every ceiling is the cap anyway."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float = 0.5
    """Ceiling of the first retry's wait; doubles with each further attempt."""
    cap_s: float = 60.0
    """No drawn wait exceeds this (a longer ``Retry-After`` is still honoured)."""
    deadline_s: float = 900.0
    """How long after its first failure an event may still be retried."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base_s) and self.base_s > 0):
            raise ValueError(f"base_s must be a positive number, not {self.base_s!r}")
        if not (math.isfinite(self.cap_s) and self.cap_s >= self.base_s):
            raise ValueError(f"cap_s must be at least base_s ({self.base_s}), not {self.cap_s!r}")
        if not (math.isfinite(self.deadline_s) and self.deadline_s > 0):
            raise ValueError(f"deadline_s must be a positive number, not {self.deadline_s!r}")


def backoff_ceiling(policy: RetryPolicy, attempt: int) -> float:
    """The upper end of attempt ``attempt``'s jitter range: ``min(cap, base·2^(attempt-1))``.

    Non-decreasing in ``attempt``; never overflows, however large ``attempt`` is.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, not {attempt}")
    # float * float saturates to inf instead of raising, and min() then gives the cap.
    return min(policy.cap_s, policy.base_s * 2.0 ** min(attempt - 1, _MAX_EXPONENT))


def backoff(
    policy: RetryPolicy,
    attempt: int,
    retry_after: float | None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Without ``retry_after`` the result lies in ``[0, backoff_ceiling(policy, attempt)]``
    and so never exceeds ``cap_s``. With it the result is at least ``retry_after``:
    the longer of the two. A negative ``retry_after`` (a date already past)
    counts as 0 and NaN as absent; ``inf`` comes back as ``inf``, which
    ``retry_allowed`` refuses. ``rand`` returns a float in ``[0, 1)``;
    values outside ``[0, 1]`` are clamped.
    """
    fraction = min(max(rand(), 0.0), 1.0)
    delay = fraction * backoff_ceiling(policy, attempt)
    if retry_after is None or math.isnan(retry_after):
        return delay
    return max(delay, retry_after, 0.0)


def retry_deadline(policy: RetryPolicy, first_failed_at: float) -> float:
    """The last moment (same clock as ``first_failed_at``) at which a retry may still start."""
    return first_failed_at + policy.deadline_s


def retry_allowed(policy: RetryPolicy, first_failed_at: float, now: float, delay: float) -> bool:
    """Whether a retry after waiting ``delay`` from ``now`` still starts within the deadline.

    False means give up now: dead-letter the event as ``RETRIES_EXHAUSTED``.
    Use one monotonic clock for both instants; time spent waiting out an outage
    is excluded by moving ``first_failed_at`` forward by that much.
    """
    # Written as a positive comparison so that a NaN anywhere gives False.
    return now + delay <= retry_deadline(policy, first_failed_at)

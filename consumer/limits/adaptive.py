"""Adaptive concurrency: find the PBX's real capacity and hold calls at once just there.

The PBX runs ``C`` calls at once and queues the rest. With ``L`` calls in flight
a call takes the service time ``S`` while ``L <= C`` and about ``S·L/C`` beyond,
so latency measures the queue and ``L·S/latency`` the capacity (a Vegas /
gradient limiter, as in Netflix's concurrency-limits). ``LimitController``
decides, from windows of latencies, without awaits; ``AdaptiveConcurrency``
feeds it the delivery's attempts and sets the throttle's limit. Every rule, and
why it is there, is in docs/adaptive-concurrency.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from consumer.limits.adaptive_tuning import Tuning
from consumer.limits.latency_window import Window, pooled, window_of
from consumer.limits.limit_controller import LimitController
from consumer.limits.loop_lag import LoopLag
from consumer.limits.throttle import Throttle
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import AMBIGUOUS_SILENCE, Applied, Permanent, Retry, Unavailable

__all__ = ["AdaptiveConcurrency", "LimitController", "Tuning", "Window", "pooled", "window_of"]


class AdaptiveConcurrency:
    """Sets ``throttle``'s limit from what calls come to; a ``delivery.AttemptObserver``.

    Wire it as the delivery's observer *and* its ``on_overload``: the observer
    hook learns when the 109'd call was sent, ``on_overload`` acts on it. Call
    ``ceiling_changed`` after every ``throttle.apply_share``.
    """

    def __init__(
        self,
        throttle: Throttle,
        *,
        clock: Callable[[], float] = time.monotonic,
        tuning: Tuning | None = None,
        loop_lag: Callable[[], float] | None = None,
    ) -> None:
        """``loop_lag``: this process's event-loop lag now, in seconds (default: a
        ``LoopLag`` probe on the running loop)."""
        self._throttle = throttle
        self._clock = clock
        self._loop_lag = LoopLag() if loop_lag is None else loop_lag
        self.controller = LimitController(throttle.concurrency_ceiling, clock(), tuning)
        self._overload_sent_at: float | None = None
        self._apply()

    @property
    def limit(self) -> int:
        return self.controller.limit

    def attempt_finished(self, result: CallResult, attempt: int, waited_s: float) -> None:
        # waited_s is time in the throttle (the rate limit), not at the PBX: unused.
        now = self._clock()
        outcome = result.outcome
        if isinstance(outcome, Retry) and outcome.overload:
            # Its latency is the PBX's queue timeout; on_overload acts on it.
            self._overload_sent_at = now - result.duration_s
        elif _answered(result):
            self.controller.observe(result.duration_s, now, self._loop_lag())
            self._apply()

    def retry_scheduled(self, outcome: Retry | Unavailable, attempt: int, delay_s: float) -> None:
        return None  # a lane's backoff is no load on the PBX

    def on_overload(self) -> None:
        """The PBX answered 109: too many calls queued there."""
        now = self._clock()
        # Without attempt_finished the call's start is unknown: count it as new.
        sent_at = now if self._overload_sent_at is None else self._overload_sent_at
        self._overload_sent_at = None
        self.controller.overload(sent_at, now)
        self._apply()

    def ceiling_changed(self) -> None:
        """Call after ``throttle.apply_share``, which resets the limit to the new ceiling."""
        self.controller.rescale(self._throttle.concurrency_ceiling, self._clock())
        self._apply()

    def _apply(self) -> None:
        throttle, controller = self._throttle, self.controller
        if throttle.limit != controller.limit or throttle.queue_depth != controller.queue_depth:
            throttle.set_limit(controller.limit, queue_depth=controller.queue_depth)


def _answered(result: CallResult) -> bool:
    """The PBX answered: an outage (Unavailable) or silence has no latency to learn from."""
    outcome = result.outcome
    if isinstance(outcome, Retry):
        return result.http_status is not None and outcome.reason not in AMBIGUOUS_SILENCE
    return isinstance(outcome, Applied | Permanent)

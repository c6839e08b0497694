"""One event's way to the PBX: attempts and waits until it is applied or set aside.

The decisions are made elsewhere (``classify`` says what a response means,
``retry.backoff`` how long to wait); this module only carries them out, so it is
small and the pipeline never sees an HTTP status.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from consumer.breaker import Breaker, BreakerState
from consumer.noojee import CallResult
from consumer.outcomes import Applied, Fatal, Outcome, Permanent, Retry, Unavailable
from consumer.retry import RetryPolicy, backoff, retry_allowed
from consumer.throttle import Throttle
from contracts.deadletter import DeadLetterReason
from contracts.noojee import UpdateLeadFast

AMBIGUOUS_SILENCE = frozenset({"READ_TIMEOUT", "DISCONNECTED"})
"""Retry reasons where the PBX said nothing: a streak of them means it is gone."""


class Sender(Protocol):
    async def update_lead_fast(self, request: UpdateLeadFast) -> CallResult: ...


class CredentialsRefused(Exception):
    """The PBX refused our API key (401/403): nothing will succeed until it is fixed."""


@dataclass(frozen=True, slots=True)
class Delivered:
    attempts: int


@dataclass(frozen=True, slots=True)
class Undeliverable:
    """What a dead letter must say about an event the PBX will not take."""

    reason: str
    message: str
    code: int | None
    http_status: int | None
    body: str
    attempts: int
    first_failed_at: float
    failed_at: float


class AttemptObserver(Protocol):
    """Hooks for telemetry; the default does nothing."""

    def attempt_finished(self, result: CallResult, attempt: int, waited_s: float) -> None: ...

    def retry_scheduled(
        self, outcome: Retry | Unavailable, attempt: int, delay_s: float
    ) -> None: ...


class Observers:
    """Several observers as one, called in the order given."""

    def __init__(self, *observers: AttemptObserver) -> None:
        self._observers = observers

    def attempt_finished(self, result: CallResult, attempt: int, waited_s: float) -> None:
        for observer in self._observers:
            observer.attempt_finished(result, attempt, waited_s)

    def retry_scheduled(self, outcome: Retry | Unavailable, attempt: int, delay_s: float) -> None:
        for observer in self._observers:
            observer.retry_scheduled(outcome, attempt, delay_s)


class _NoObserver:
    def attempt_finished(self, result: CallResult, attempt: int, waited_s: float) -> None:
        return None

    def retry_scheduled(self, outcome: Retry | Unavailable, attempt: int, delay_s: float) -> None:
        return None


@dataclass(slots=True)
class Delivery:
    """The collaborators every event shares: sender, throttle and retry policy."""

    sender: Sender
    throttle: Throttle
    policy: RetryPolicy
    breaker: Breaker = field(default_factory=Breaker)
    observer: AttemptObserver = _NoObserver()  # noqa: RUF009 - stateless default
    on_overload: Callable[[], None] | None = None
    on_ceiling_changed: Callable[[], None] | None = None
    """Told after the throttle's share changed (a rebalance): the adaptive limit rescales."""
    wall_clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic

    async def deliver(
        self, prepare: Callable[[], UpdateLeadFast | None], stop: asyncio.Event
    ) -> Delivered | Undeliverable | None:
        """Send until applied (``Delivered``) or set aside (``Undeliverable``).

        ``prepare()`` is called once a call may go (breaker and throttle passed) and
        returns the request to send at that moment, so events that queued up behind
        this one meanwhile can join it; None means "do not send": the event is
        abandoned. Returns None when abandoned or when ``stop`` was set before the
        event finished; its offset must then not count as done.
        """
        attempt = 0
        retries = 0
        first_failed_wall: float | None = None
        first_failed_mono = 0.0
        outage_s = 0.0  # time spent waiting out an unavailable PBX is not budget
        while not stop.is_set():
            began = self.monotonic()
            result, waited_s, outage_waited_s = await self._attempt(prepare, stop)
            if result is None:
                return None
            attempt += 1
            self.observer.attempt_finished(result, attempt, waited_s)
            outcome: Outcome = result.outcome
            if isinstance(outcome, Applied):
                return Delivered(attempts=attempt)
            # Budget runs from the first failure; from then on, waiting out a PBX
            # that is not there (the breaker, and calls that found it gone) is free.
            if first_failed_wall is not None:
                if isinstance(outcome, Unavailable):
                    outage_s += self.monotonic() - began
                else:
                    outage_s += outage_waited_s
            if isinstance(outcome, Unavailable):
                continue  # the breaker is open now: the next attempt waits in admit()
            now_wall, now_mono = self.wall_clock(), self.monotonic()
            if first_failed_wall is None:
                first_failed_wall, first_failed_mono = now_wall, now_mono
            if isinstance(outcome, Permanent):
                return self._undeliverable(outcome, attempt, first_failed_wall, now_wall)
            if isinstance(outcome, Fatal):
                raise CredentialsRefused(outcome.message)
            retries += 1
            if outcome.overload and self.on_overload is not None:
                self.on_overload()
            delay = backoff(self.policy, retries, outcome.after)
            if not retry_allowed(self.policy, first_failed_mono + outage_s, now_mono, delay):
                return self._exhausted(outcome, attempt, first_failed_wall, now_wall)
            self.observer.retry_scheduled(outcome, attempt, delay)
            if await _stopped_within(stop, delay):
                return None
        return None

    async def _attempt(
        self, prepare: Callable[[], UpdateLeadFast | None], stop: asyncio.Event
    ) -> tuple[CallResult | None, float, float]:
        """One call through breaker and throttle: (result or None if not sent,
        seconds waited for the throttle, seconds waited for an open breaker)."""
        began = self.monotonic()
        breaker = self.breaker
        # Closed, admit() returns False at once: skip building and awaiting it.
        probe = False if breaker.state is BreakerState.CLOSED else await breaker.admit(stop)
        outage_waited = self.monotonic() - began
        if probe is None:
            return None, 0.0, outage_waited
        verdict = False
        try:
            async with self.throttle.slot() as slot:
                request = prepare()
                if request is None:
                    return None, slot.waited_s, outage_waited
                result = await self.sender.update_lead_fast(request)
            outcome = result.outcome
            if isinstance(outcome, Unavailable):
                self.breaker.unavailable(probe, outcome.reason)
            elif isinstance(outcome, Retry) and outcome.reason in AMBIGUOUS_SILENCE:
                self.breaker.timed_out(probe)
            else:
                self.breaker.answered(probe)
            verdict = True
            return result, slot.waited_s, outage_waited
        finally:
            if probe and not verdict:
                self.breaker.probe_abandoned()

    @staticmethod
    def _undeliverable(
        outcome: Permanent, attempts: int, first_failed: float, now: float
    ) -> Undeliverable:
        return Undeliverable(
            reason=outcome.reason,
            message=outcome.message,
            code=outcome.code,
            http_status=outcome.http_status,
            body=outcome.body,
            attempts=attempts,
            first_failed_at=first_failed,
            failed_at=now,
        )

    def _exhausted(
        self, outcome: Retry, attempts: int, first_failed: float, now: float
    ) -> Undeliverable:
        return Undeliverable(
            reason=DeadLetterReason.RETRIES_EXHAUSTED,
            message=(
                f"Still failing after {attempts} attempts over {now - first_failed:.0f} s "
                f"(LEADSYNC_RETRY_DEADLINE_S={self.policy.deadline_s:g}); last error "
                f"{outcome.reason}: {outcome.message}"
            ),
            code=outcome.code,
            http_status=outcome.http_status,
            body=outcome.body,
            attempts=attempts,
            first_failed_at=first_failed,
            failed_at=now,
        )


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    if seconds <= 0:
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True

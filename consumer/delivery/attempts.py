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
from datetime import UTC, datetime
from typing import Protocol

from consumer.delivery.breaker import Breaker, BreakerState
from consumer.delivery.retry import RetryPolicy, backoff, retry_allowed
from consumer.errors import CredentialsRefused
from consumer.limits.throttle import Throttle
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import (
    AMBIGUOUS_SILENCE,
    Applied,
    Fatal,
    Outcome,
    Permanent,
    Retry,
    Unavailable,
)
from contracts.deadletter import DeadLetterReason, Failure
from contracts.noojee import LeadCall


class Sender(Protocol):
    async def send(self, request: LeadCall) -> CallResult:
        """One call to the endpoint the request names (update or insert)."""
        ...


@dataclass(frozen=True, slots=True)
class Delivered:
    attempts: int


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
    wall_clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic

    async def deliver(
        self, prepare: Callable[[bool], LeadCall | None], stop: asyncio.Event
    ) -> Delivered | Failure | None:
        """Send until applied (``Delivered``) or set aside (the ``Failure`` a dead letter carries).

        ``prepare(grow)`` is called once a call may go (breaker and throttle passed)
        and returns the request to send at that moment; ``grow`` is True while no
        attempt has failed yet, so events that queued up behind this one meanwhile
        may join it (once the budget is being spent, they would inherit it).
        None means "do not send": the event is abandoned. Returns None when
        abandoned or when ``stop`` was set before the event finished; its offset
        must then not count as done.

        The retry budget runs from the first failure. Waiting out a PBX that is down
        for everyone is free: the breaker's waits, and a probe that found it still
        gone. Any other failure spends it, ``Unavailable`` included: an event whose
        own calls keep failing while others get answers is no outage, and must end.
        """
        attempt = 0
        retries = 0
        first_failed_wall: float | None = None
        first_failed_mono = 0.0
        outage_s = 0.0
        while not stop.is_set():
            began = self.monotonic()
            result, waited_s, outage_waited_s, probe = await self._attempt(
                prepare, stop, grow=first_failed_wall is None
            )
            if result is None:
                return None
            attempt += 1
            self.observer.attempt_finished(result, attempt, waited_s)
            outcome: Outcome = result.outcome
            if isinstance(outcome, Applied):
                return Delivered(attempts=attempt)
            if isinstance(outcome, Unavailable) and probe:
                # The probe found the PBX still gone: down for everyone, so the whole
                # attempt, its wait in the breaker included, is free.
                if first_failed_wall is not None:
                    outage_s += self.monotonic() - began
                continue
            if first_failed_wall is not None:
                outage_s += outage_waited_s
            now_wall, now_mono = self.wall_clock(), self.monotonic()
            if first_failed_wall is None:
                first_failed_wall, first_failed_mono = now_wall, now_mono
            if isinstance(outcome, Permanent):
                return self._undeliverable(outcome, attempt, first_failed_wall, now_wall)
            if isinstance(outcome, Fatal):
                raise CredentialsRefused(outcome.message)
            retries += 1
            if isinstance(outcome, Retry) and outcome.overload and self.on_overload is not None:
                self.on_overload()
            after = outcome.after if isinstance(outcome, Retry) else None
            delay = backoff(self.policy, retries, after)
            if not retry_allowed(self.policy, first_failed_mono + outage_s, now_mono, delay):
                return self._exhausted(outcome, attempt, first_failed_wall, now_wall)
            self.observer.retry_scheduled(outcome, attempt, delay)
            if await _stopped_within(stop, delay):
                return None
        return None

    async def _attempt(
        self,
        prepare: Callable[[bool], LeadCall | None],
        stop: asyncio.Event,
        *,
        grow: bool,
    ) -> tuple[CallResult | None, float, float, bool]:
        """One call through breaker and throttle: (result or None if not sent, seconds
        waited for the throttle, seconds waited in the breaker while the outage was
        everyone's, whether the call was the breaker's probe)."""
        began = self.monotonic()
        breaker = self.breaker
        if breaker.state is BreakerState.CLOSED:
            # Closed, admit() returns False at once: skip building and awaiting it.
            probe: bool | None = False
            outage_waited = 0.0
        else:
            confirmed, failures = breaker.outage_confirmed, breaker.probe_failures
            probe = await breaker.admit(stop)
            everyone = confirmed or breaker.probe_failures > failures
            outage_waited = self.monotonic() - began if everyone else 0.0
        if probe is None:
            return None, 0.0, outage_waited, False
        verdict = False
        try:
            async with self.throttle.slot() as slot:
                request = prepare(grow)
                if request is None:
                    return None, slot.waited_s, outage_waited, probe
                result = await self.sender.send(request)
            outcome = result.outcome
            if isinstance(outcome, Unavailable):
                self.breaker.unavailable(probe, outcome.reason)
            elif isinstance(outcome, Retry) and outcome.reason in AMBIGUOUS_SILENCE:
                self.breaker.timed_out(probe)
            else:
                self.breaker.answered(probe)
            verdict = True
            return result, slot.waited_s, outage_waited, probe
        finally:
            if probe and not verdict:
                self.breaker.probe_abandoned()

    @staticmethod
    def _undeliverable(
        outcome: Permanent, attempts: int, first_failed: float, now: float
    ) -> Failure:
        return Failure(
            reason=outcome.reason,
            message=outcome.message,
            code=outcome.code,
            http_status=outcome.http_status,
            response=outcome.body,
            attempts=attempts,
            first_failed_at=_utc(first_failed),
            failed_at=_utc(now),
        )

    def _exhausted(
        self, outcome: Retry | Unavailable, attempts: int, first_failed: float, now: float
    ) -> Failure:
        return Failure(
            reason=DeadLetterReason.RETRIES_EXHAUSTED,
            message=(
                f"Still failing after {attempts} attempts over {now - first_failed:.0f} s "
                f"(LEADSYNC_RETRY_DEADLINE_S={self.policy.deadline_s:g}); last error "
                f"{outcome.reason}: {outcome.message}"
            ),
            code=outcome.code if isinstance(outcome, Retry) else None,
            http_status=outcome.http_status,
            response=outcome.body,
            attempts=attempts,
            first_failed_at=_utc(first_failed),
            failed_at=_utc(now),
        )


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    if seconds <= 0:
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True

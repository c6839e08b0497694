"""One event's attempts: what each outcome leads to, and how the retry budget is spent.

The sender is a scripted seam (it returns ``CallResult`` objects, never touches
the network); the throttle and the retry policy are the real ones, with limits
high enough and delays small enough not to matter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from consumer.delivery.attempts import Delivered, Delivery
from consumer.delivery.breaker import Breaker, BreakerState
from consumer.delivery.retry import RetryPolicy
from consumer.errors import CredentialsRefused
from consumer.limits.throttle import Throttle
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied, Fatal, Outcome, Permanent, Retry, Unavailable
from contracts.deadletter import DeadLetterReason, Failure
from contracts.noojee import LeadCall, UpdateLeadFast

REQUEST = UpdateLeadFast(
    lead_id="CRM-1",
    query={"fTemplateId": "1", "fCampaignId": "1", "fAllocationId": "1"},
    body={"njExternalLeadId": "CRM-1", "njDisposition": "Callback", "FirstPhone": "0383218199"},
)
TINY = RetryPolicy(base_s=0.001, cap_s=0.002, deadline_s=5.0)
URL = "https://pbx.example/servicemanager/rest/CampaignAPI/updateLeadFast?apiKey=REDACTED"

EXC = Retry("EXCEPTION", "The PBX failed internally.", code=103, http_status=500, body="{}")
UNAVAILABLE = Unavailable("CONNECT_FAILED", "Connection refused.")


def send_request(grow: bool = True) -> UpdateLeadFast:
    return REQUEST


def result(outcome: Outcome) -> CallResult:
    status = getattr(outcome, "http_status", None)
    return CallResult(outcome, status, 0.001, URL)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedSender:
    """Answers each call with the next outcome; ``during`` runs inside each call."""

    def __init__(
        self,
        outcomes: Sequence[Outcome],
        during: Callable[[Outcome], None] = lambda outcome: None,
    ) -> None:
        self._outcomes = list(outcomes)
        self._during = during
        self.calls: list[LeadCall] = []

    async def send(self, request: LeadCall) -> CallResult:
        self.calls.append(request)
        outcome = self._outcomes[len(self.calls) - 1]
        self._during(outcome)
        return result(outcome)


class TimedBreaker(Breaker):
    """A breaker that probes at once, while ``outage_step_s`` passes on the
    injected clock for every wait in an open breaker (what probe intervals take)."""

    def __init__(self, clock: Clock, outage_step_s: float) -> None:
        super().__init__(probe_interval_s=0.0)
        self._fake = clock
        self._step = outage_step_s

    async def admit(self, stop: asyncio.Event | None = None) -> bool | None:
        if self.is_open:
            self._fake.now += self._step
        return await super().admit(stop)


class Observer:
    def __init__(self) -> None:
        self.attempts: list[int] = []
        self.scheduled: list[tuple[Outcome, int, float]] = []
        self.on_scheduled: Callable[[], None] = lambda: None

    def attempt_finished(self, result: CallResult, attempt: int, waited_s: float) -> None:
        assert waited_s >= 0
        self.attempts.append(attempt)

    def retry_scheduled(self, outcome: Retry | Unavailable, attempt: int, delay_s: float) -> None:
        self.scheduled.append((outcome, attempt, delay_s))
        self.on_scheduled()


def delivery(
    sender: ScriptedSender,
    policy: RetryPolicy = TINY,
    *,
    observer: Observer | None = None,
    on_overload: Callable[[], None] | None = None,
    monotonic: Clock | None = None,
    wall: Clock | None = None,
    breaker: Breaker | None = None,
) -> Delivery:
    return Delivery(
        sender=sender,
        throttle=Throttle(1e6, 100),
        policy=policy,
        breaker=breaker or Breaker(probe_interval_s=0.0),
        observer=observer or Observer(),
        on_overload=on_overload,
        wall_clock=wall or Clock(1_800_000_000.0),
        monotonic=monotonic or Clock(100.0),
    )


async def test_applied_at_once_is_delivered_in_one_attempt() -> None:
    sender = ScriptedSender([Applied()])
    observer = Observer()
    outcome = await delivery(sender, observer=observer).deliver(send_request, asyncio.Event())
    assert outcome == Delivered(attempts=1)
    assert sender.calls == [REQUEST]
    assert observer.attempts == [1]
    assert observer.scheduled == []


async def test_permanent_is_undeliverable_with_the_outcomes_details() -> None:
    permanent = Permanent(
        "COULDNT_FIND_THE_LEAD",
        "The PBX has no lead with this njExternalLeadId.",
        code=101,
        http_status=400,
        body='{"code":101,"message":"COULDNT_FIND_THE_LEAD"}',
    )
    sender = ScriptedSender([permanent])
    wall = Clock(1_800_000_123.5)
    outcome = await delivery(sender, wall=wall).deliver(send_request, asyncio.Event())
    assert outcome == Failure(
        reason="COULDNT_FIND_THE_LEAD",
        message="The PBX has no lead with this njExternalLeadId.",
        code=101,
        http_status=400,
        response='{"code":101,"message":"COULDNT_FIND_THE_LEAD"}',
        attempts=1,
        first_failed_at=datetime.fromtimestamp(1_800_000_123.5, tz=UTC),
        failed_at=datetime.fromtimestamp(1_800_000_123.5, tz=UTC),
    )


async def test_retry_then_applied_is_delivered_in_two_attempts() -> None:
    sender = ScriptedSender([EXC, Applied()])
    observer = Observer()
    outcome = await delivery(sender, observer=observer).deliver(send_request, asyncio.Event())
    assert outcome == Delivered(attempts=2)
    assert observer.attempts == [1, 2]
    assert [(o, attempt) for o, attempt, _ in observer.scheduled] == [(EXC, 1)]
    assert 0 <= observer.scheduled[0][2] <= TINY.cap_s


async def test_a_permanent_after_retries_counts_every_attempt_and_the_first_failure() -> None:
    wall = Clock(1000.0)

    def tick(outcome: Outcome) -> None:
        wall.now += 10

    sender = ScriptedSender([EXC, EXC, Permanent("DNC", "On the do-not-call list.")], tick)
    outcome = await delivery(sender, wall=wall).deliver(send_request, asyncio.Event())
    assert isinstance(outcome, Failure)
    assert outcome.attempts == 3
    assert outcome.first_failed_at == datetime.fromtimestamp(1010.0, tz=UTC)
    assert outcome.failed_at == datetime.fromtimestamp(1030.0, tz=UTC)


async def test_retrying_past_the_deadline_is_undeliverable_as_retries_exhausted() -> None:
    mono = Clock(100.0)

    def time_passes(outcome: Outcome) -> None:
        mono.now += TINY.deadline_s  # the second failure comes a whole deadline later

    overloaded = Retry(
        "TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS",
        "Queued over a minute.",
        code=109,
        http_status=400,
        body='{"code":109}',
        overload=True,
    )
    sender = ScriptedSender([EXC, overloaded, Applied()], time_passes)
    outcome = await delivery(sender, monotonic=mono).deliver(send_request, asyncio.Event())
    assert isinstance(outcome, Failure)
    assert outcome.reason == DeadLetterReason.RETRIES_EXHAUSTED
    assert outcome.attempts == 2
    assert (outcome.code, outcome.http_status, outcome.response) == (109, 400, '{"code":109}')
    assert "TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS" in outcome.message  # the last reason
    assert "LEADSYNC_RETRY_DEADLINE_S" in outcome.message
    assert len(sender.calls) == 2


async def test_unavailable_alone_never_exhausts_the_budget() -> None:
    mono = Clock(100.0)
    breaker = TimedBreaker(mono, outage_step_s=10 * TINY.deadline_s)
    sender = ScriptedSender([UNAVAILABLE] * 5 + [Applied()])
    outcome = await delivery(sender, monotonic=mono, breaker=breaker).deliver(
        send_request, asyncio.Event()
    )
    assert outcome == Delivered(attempts=6)
    assert breaker.state is BreakerState.CLOSED


async def test_time_waited_in_an_open_breaker_is_not_retry_budget() -> None:
    # An outage much longer than the deadline between two transient failures:
    # the second still has its budget.
    mono = Clock(100.0)
    breaker = TimedBreaker(mono, outage_step_s=10 * TINY.deadline_s)
    sender = ScriptedSender([EXC, UNAVAILABLE, UNAVAILABLE, EXC, Applied()])
    outcome = await delivery(sender, monotonic=mono, breaker=breaker).deliver(
        send_request, asyncio.Event()
    )
    assert outcome == Delivered(attempts=5)
    assert breaker.probes == 2


async def test_time_spent_in_calls_to_an_unavailable_pbx_is_not_retry_budget() -> None:
    # A black-holed PBX: every probe waits out the connect timeout (10 s by
    # default) before it fails. With one event waiting, that event makes every
    # probe, so a 1000 s outage is nearly all call time, none of it waited in the
    # breaker. "No event spends its retry budget while the PBX is down."
    policy = RetryPolicy(base_s=0.001, cap_s=0.002, deadline_s=900.0)
    mono = Clock(100.0)

    def connect_timeout(outcome: Outcome) -> None:
        if isinstance(outcome, Unavailable):
            mono.now += 10.0

    breaker = TimedBreaker(mono, outage_step_s=0.0)
    sender = ScriptedSender([EXC, *[UNAVAILABLE] * 100, EXC, Applied()], connect_timeout)
    outcome = await delivery(sender, policy, monotonic=mono, breaker=breaker).deliver(
        send_request, asyncio.Event()
    )
    assert outcome == Delivered(attempts=103)


async def test_an_outage_before_the_first_failure_does_not_extend_the_deadline() -> None:
    # The budget runs from the first transient failure; an outage that ended
    # before it must not be credited to it (the event would retry past the deadline).
    mono = Clock(100.0)
    breaker = TimedBreaker(mono, outage_step_s=10 * TINY.deadline_s)

    def two_seconds_per_failure(outcome: Outcome) -> None:
        if isinstance(outcome, Retry):
            mono.now += 2.0

    script = [UNAVAILABLE] * 3 + [EXC] * 1000
    sender = ScriptedSender(script, two_seconds_per_failure)
    breaker.unavailable(False, "another event found the PBX gone")  # every call is a probe
    outcome = await delivery(sender, monotonic=mono, breaker=breaker).deliver(
        send_request, asyncio.Event()
    )
    assert isinstance(outcome, Failure)
    assert outcome.reason == DeadLetterReason.RETRIES_EXHAUSTED
    # Failures at +0, +2, +4 s are retried; the one at +6 s is past the 5 s deadline.
    assert outcome.attempts == 3 + 4


async def test_unavailable_opens_the_breaker_and_the_next_call_is_the_probe() -> None:
    breaker = Breaker(probe_interval_s=0.0)
    observer = Observer()
    sender = ScriptedSender([UNAVAILABLE, UNAVAILABLE, Applied()])
    outcome = await delivery(sender, observer=observer, breaker=breaker).deliver(
        send_request, asyncio.Event()
    )
    assert outcome == Delivered(attempts=3)
    assert breaker.probes == 2
    assert breaker.state is BreakerState.CLOSED  # the probe's answer closed it
    # The first, a call like any other, spends budget (it may fail for this event
    # alone); the probe's does not: the breaker, not a backoff, spaces outage calls.
    assert [attempt for _, attempt, _ in observer.scheduled] == [1]


async def test_a_streak_of_read_timeouts_opens_the_breaker() -> None:
    breaker = Breaker(probe_interval_s=0.0, timeout_streak=2)
    timed_out = Retry("READ_TIMEOUT", "No answer within the read timeout.")
    sender = ScriptedSender([timed_out, timed_out, Applied()])
    outcome = await delivery(sender, breaker=breaker).deliver(send_request, asyncio.Event())
    assert outcome == Delivered(attempts=3)
    assert breaker.probes == 1
    assert breaker.state is BreakerState.CLOSED


async def test_an_answer_that_is_not_applied_also_closes_the_breaker() -> None:
    # A 103 proves the PBX is there: sending resumes, and the event is retried.
    breaker = Breaker(probe_interval_s=0.0)
    sender = ScriptedSender([UNAVAILABLE, EXC, Applied()])
    outcome = await delivery(sender, breaker=breaker).deliver(send_request, asyncio.Event())
    assert outcome == Delivered(attempts=3)
    assert breaker.probes == 1
    assert breaker.state is BreakerState.CLOSED


async def test_stop_while_waiting_in_an_open_breaker_returns_none() -> None:
    # deliver() returns None once stop is set; an outage must not hold the
    # event until the next probe (an hour away here).
    breaker = Breaker(probe_interval_s=3600.0)
    called = asyncio.Event()
    sender = ScriptedSender([UNAVAILABLE, Applied()], lambda outcome: called.set())
    sending = delivery(sender, breaker=breaker)
    stop = asyncio.Event()
    task = asyncio.create_task(sending.deliver(send_request, stop))
    await called.wait()
    for _ in range(10):
        await asyncio.sleep(0)
    assert breaker.is_open
    assert not task.done()
    stop.set()
    breaker.wake_all()  # whoever sets stop wakes the callers waiting in the breaker
    try:
        # Not a speed check: the alternative is an hour's wait.
        outcome = await asyncio.wait_for(task, timeout=5)
    except TimeoutError:
        pytest.fail("deliver() kept waiting in the open breaker after stop was set")
    assert outcome is None
    assert len(sender.calls) == 1


async def test_fatal_raises_credentials_refused() -> None:
    fatal = Fatal("UNAUTHORIZED", "The PBX refused the API key (HTTP 401).", http_status=401)
    sender = ScriptedSender([fatal, Applied()])
    with pytest.raises(CredentialsRefused, match=r"refused the API key \(HTTP 401\)"):
        await delivery(sender).deliver(send_request, asyncio.Event())
    assert len(sender.calls) == 1


async def test_stop_during_a_retry_wait_returns_none_without_another_call() -> None:
    # Retry-After of an hour: only the stop can end this wait within the test's time.
    policy = RetryPolicy(base_s=0.001, cap_s=0.002, deadline_s=7200.0)
    slow = Retry("HTTP_429", "Too many requests.", after=3600.0, http_status=429)
    sender = ScriptedSender([slow, Applied()])
    observer = Observer()
    stop = asyncio.Event()
    observer.on_scheduled = stop.set
    outcome = await delivery(sender, policy, observer=observer).deliver(send_request, stop)
    assert outcome is None
    assert len(sender.calls) == 1


async def test_stop_set_from_outside_while_waiting_returns_none() -> None:
    policy = RetryPolicy(base_s=0.001, cap_s=0.002, deadline_s=7200.0)
    slow = Retry("HTTP_429", "Too many requests.", after=3600.0, http_status=429)
    sender = ScriptedSender([slow, Applied()])
    observer = Observer()
    scheduled = asyncio.Event()
    observer.on_scheduled = scheduled.set
    stop = asyncio.Event()
    task = asyncio.create_task(
        delivery(sender, policy, observer=observer).deliver(send_request, stop)
    )
    await scheduled.wait()
    stop.set()
    assert await task is None
    assert len(sender.calls) == 1


async def test_stop_already_set_sends_nothing() -> None:
    sender = ScriptedSender([Applied()])
    stop = asyncio.Event()
    stop.set()
    assert await delivery(sender).deliver(send_request, stop) is None
    assert sender.calls == []


async def test_prepare_returning_none_sends_nothing_and_frees_the_slot() -> None:
    sender = ScriptedSender([Applied()])
    sending = delivery(sender)
    held: list[int] = []

    def prepare(grow: bool) -> UpdateLeadFast | None:
        held.append(sending.throttle.in_use)  # asked once the slot is ours
        return None

    assert await sending.deliver(prepare, asyncio.Event()) is None
    assert sender.calls == []
    assert held == [1]
    assert sending.throttle.in_use == 0


async def test_prepare_is_asked_before_every_attempt_and_its_request_is_sent() -> None:
    # Events that queued up behind this one during a retry wait may join it.
    merged = UpdateLeadFast(
        lead_id="CRM-1",
        query=REQUEST.query,
        body={**REQUEST.body, "njDisposition": "Sale"},
    )
    requests = iter([REQUEST, merged, None])
    sender = ScriptedSender([EXC, EXC, Applied()])
    grows: list[bool] = []

    def prepare(grow: bool) -> UpdateLeadFast | None:
        grows.append(grow)
        return next(requests)

    outcome = await delivery(sender).deliver(prepare, asyncio.Event())
    assert outcome is None
    assert sender.calls == [REQUEST, merged]
    # Only before the first failure may others join: later, they would inherit a budget
    # this event already spent.
    assert grows == [True, False, False]


async def test_overload_retry_calls_on_overload() -> None:
    overloaded = Retry("TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS", "Queued.", code=109, overload=True)
    overloads: list[None] = []
    sender = ScriptedSender([overloaded, EXC, Applied()])
    outcome = await delivery(sender, on_overload=lambda: overloads.append(None)).deliver(
        send_request, asyncio.Event()
    )
    assert outcome == Delivered(attempts=3)
    assert len(overloads) == 1  # only the overload signal, not every retry


async def test_overload_without_a_callback_still_retries() -> None:
    overloaded = Retry("TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS", "Queued.", code=109, overload=True)
    sender = ScriptedSender([overloaded, Applied()])
    assert await delivery(sender).deliver(send_request, asyncio.Event()) == Delivered(attempts=2)


async def test_retry_after_is_honoured() -> None:
    after = 0.05
    sender = ScriptedSender([Retry("HTTP_503", "Busy.", after=after), Applied()])
    observer = Observer()
    loop = asyncio.get_running_loop()
    began = loop.time()
    outcome = await delivery(sender, observer=observer).deliver(send_request, asyncio.Event())
    assert outcome == Delivered(attempts=2)
    assert observer.scheduled[0][2] >= after
    assert loop.time() - began >= after  # the wait really lasted that long


async def test_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    # Waiting out a Retry-After that ends past the deadline could only end in the same dead letter.
    slow = Retry("HTTP_429", "Too many requests.", after=3600.0, http_status=429)
    sender = ScriptedSender([slow, Applied()])
    outcome = await delivery(sender).deliver(send_request, asyncio.Event())
    assert isinstance(outcome, Failure)
    assert outcome.reason == DeadLetterReason.RETRIES_EXHAUSTED
    assert outcome.http_status == 429
    assert len(sender.calls) == 1


class OthersAnswered(Breaker):
    """Other events' calls keep getting answers: whenever this event comes back to the
    breaker, another call has closed it again, a second later on the injected clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(probe_interval_s=0.0)
        self._fake = clock
        self.openings = 0

    def unavailable(self, probe: bool, reason: str) -> None:
        self.openings += not self.is_open
        super().unavailable(probe, reason)

    async def admit(self, stop: asyncio.Event | None = None) -> bool | None:
        self._fake.now += 1.0
        if self.is_open:
            self.answered(False)
        return await super().admit(stop)


async def test_unavailable_for_one_event_alone_spends_its_budget() -> None:
    # Issue 14, item 4: a 502 for this event's calls only, while other events get
    # answers, is no outage. It used to loop forever (its lane never ended, its
    # partition's commit stuck there, the breaker flapped); now it ends.
    mono = Clock(100.0)
    breaker = OthersAnswered(mono)
    bad_gateway = Unavailable("HTTP_502", "Bad gateway.", http_status=502, body="<html>")
    sender = ScriptedSender([bad_gateway] * 1000)
    outcome = await delivery(sender, monotonic=mono, breaker=breaker).deliver(
        send_request, asyncio.Event()
    )
    assert isinstance(outcome, Failure)
    assert outcome.reason == DeadLetterReason.RETRIES_EXHAUSTED
    assert outcome.http_status == 502
    assert "HTTP_502" in outcome.message
    # One second per attempt on the clock: the 5 s deadline allows about five.
    assert 4 <= outcome.attempts <= 7
    assert breaker.openings == outcome.attempts

"""The outage breaker, on a fake clock: who waits, who probes, when sending resumes."""

from __future__ import annotations

import asyncio

from consumer.delivery.breaker import Breaker, BreakerState


def state_of(breaker: Breaker) -> BreakerState:
    # Read through a call: mypy would otherwise narrow ``state`` after one assert.
    return breaker.state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_closed_admits_everyone_without_probing() -> None:
    breaker = Breaker(clock=Clock())
    assert [await breaker.admit() for _ in range(3)] == [False, False, False]


async def test_unavailable_opens_and_only_one_probe_goes_per_interval() -> None:
    clock = Clock()
    breaker = Breaker(probe_interval_s=0.05, clock=clock)
    breaker.unavailable(probe=False, reason="CONNECTION_REFUSED")
    assert state_of(breaker) is BreakerState.OPEN
    waiters = [asyncio.create_task(breaker.admit()) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiters)  # before the interval nobody goes
    clock.now += 0.05
    breaker._changed.set()  # wake them as the timer would
    await asyncio.sleep(0.01)
    done = [w for w in waiters if w.done()]
    assert [w.result() for w in done] == [True]  # exactly one probe
    assert state_of(breaker) is BreakerState.PROBING
    breaker.answered(probe=True)
    await asyncio.sleep(0.01)
    assert all(w.done() for w in waiters)
    assert sorted(bool(w.result()) for w in waiters) == [False, False, False, False, True]
    assert state_of(breaker) is BreakerState.CLOSED


async def test_failed_probe_reopens_and_waits_a_full_interval() -> None:
    clock = Clock()
    breaker = Breaker(probe_interval_s=1.0, clock=clock)
    breaker.unavailable(probe=False, reason="HTTP_503")
    clock.now += 1.0
    assert await breaker.admit() is True
    breaker.unavailable(probe=True, reason="HTTP_503")
    assert state_of(breaker) is BreakerState.OPEN
    waiter = asyncio.create_task(breaker.admit())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    clock.now += 1.0
    breaker._changed.set()
    assert await asyncio.wait_for(waiter, 1) is True
    assert breaker.probes == 2


async def test_abandoned_probe_lets_the_next_caller_probe_at_once() -> None:
    clock = Clock()
    breaker = Breaker(probe_interval_s=5.0, clock=clock)
    breaker.unavailable(probe=False, reason="HTTP_502")
    clock.now += 5.0
    assert await breaker.admit() is True
    breaker.probe_abandoned()
    assert await asyncio.wait_for(breaker.admit(), 1) is True


async def test_a_streak_of_timeouts_opens_a_single_one_does_not() -> None:
    breaker = Breaker(timeout_streak=3, clock=Clock())
    breaker.timed_out(probe=False)
    breaker.timed_out(probe=False)
    breaker.answered(probe=False)  # an answer in between resets the streak
    breaker.timed_out(probe=False)
    breaker.timed_out(probe=False)
    assert state_of(breaker) is BreakerState.CLOSED
    breaker.timed_out(probe=False)
    assert state_of(breaker) is BreakerState.OPEN


async def test_any_answer_closes_an_open_breaker() -> None:
    breaker = Breaker(clock=Clock())
    breaker.unavailable(probe=False, reason="HTTP_503")
    breaker.answered(probe=False)
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.opened_at is None

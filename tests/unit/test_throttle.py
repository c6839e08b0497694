"""Rate and concurrency limits, their fleet shares, and the waits they cause.

Most tests run on a virtual-time event loop: ``loop.time()`` (which both the
throttle and aiolimiter read) jumps straight to the next timer instead of
sleeping, so admissions are counted at exact instants, deterministically, in
no real time at all (each loop iteration counts as ``TICK``).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.limits.fleet_plan import concurrency_share, fleet_share
from consumer.limits.rate_limit import RateLimit, rate_burst
from consumer.limits.throttle import Admission, ResizableLimit, Throttle

T = TypeVar("T")
EPS = 1e-9


TICK = 1e-9
"""Virtual time one loop iteration takes. Without it a timer set a hair (below
float resolution) ahead fires at an unchanged time, finds nothing changed, and
re-arms itself forever; aiolimiter does that when its bucket leaks to 1e-16."""


class _JumpingSelector(selectors.SelectSelector):
    """Polls real I/O without blocking; where the loop would sleep, advances the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout is None:
            raise RuntimeError("deadlock: nothing ready and no timer due")
        self.now += max(timeout or 0.0, TICK)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


def virtual(main: Callable[[], Awaitable[T]]) -> T:
    async def wrapped() -> T:
        return await main()

    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(wrapped())


def now() -> float:
    return asyncio.get_running_loop().time()


async def admit_times(throttle: Throttle, count: int) -> list[float]:
    """Start ``count`` callers at once; when each one got through."""
    times: list[float] = []

    async def call() -> None:
        async with throttle.slot():
            times.append(now())

    await asyncio.gather(*(call() for _ in range(count)))
    return times


def max_in_window(times: list[float], width: float) -> int:
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered if start <= t < start + width) for start in ordered), default=0
    )


# -- the virtual clock itself ------------------------------------------------------------


def test_virtual_loop_jumps_to_the_next_timer() -> None:
    async def main() -> tuple[float, float]:
        before = now()
        await asyncio.sleep(3600)
        return before, now()

    before, after = virtual(main)
    assert after - before == pytest.approx(3600, abs=1e-6)


# -- rate ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1.0, 3.0, 40.0, 7.5])
def test_no_window_holds_more_than_rate_times_its_length_rounded_up(rate: float) -> None:
    async def main() -> list[float]:
        return await admit_times(Throttle(rate, 1000), int(rate * 3) + 2)

    times = virtual(main)
    ordered = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert min(gaps) >= 1 / rate - EPS  # wake-ups are never late here: no token is made up
    for width in (1.0, 0.5, 2.0):
        # A hair under the width absorbs float rounding in the accumulated instants.
        assert max_in_window(times, width - EPS) <= math.ceil(rate * width)
    assert max_in_window(times, 1.0 - EPS) == math.ceil(rate)  # and the rate is reached


def late_loop(late_s: float) -> Callable[[], asyncio.AbstractEventLoop]:
    """A virtual loop that wakes every sleeper ``late_s`` after its timer (a busy machine)."""

    def factory() -> asyncio.AbstractEventLoop:
        loop = VirtualTimeLoop()
        jumping = loop._jumping
        select = jumping.select

        def late(timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            ready = select(timeout)
            if timeout:
                jumping.now += late_s
            return ready

        jumping.select = late  # type: ignore[method-assign]
        return loop

    return factory


@pytest.mark.parametrize("tokens", [2, 1])
def test_late_wake_ups_cost_no_rate_and_every_second_keeps_to_it(tokens: int) -> None:
    """20/s for 10 s on a loop 2 ms late at every wake-up: the second token makes up for it."""

    async def main() -> list[float]:
        throttle = Throttle(20, 16)
        if tokens == 1:  # what a bucket of one token did
            bucket = throttle._rate_limit._bucket
            bucket.max_rate, bucket.time_period = 1, 1 / 20
        return await admit_times(throttle, 201)

    with asyncio.Runner(loop_factory=late_loop(0.002)) as runner:
        times = runner.run(main())
    rate = 200 / (max(times) - min(times))
    assert max_in_window(times, 1.0 - EPS) == 20
    if tokens == 2:
        assert rate >= 0.995 * 20
    else:
        assert rate <= 0.97 * 20  # each late wake-up pushed every later admission back


def test_idle_time_earns_no_burst() -> None:
    async def main() -> list[float]:
        throttle = Throttle(10, 100)
        await admit_times(throttle, 5)
        await asyncio.sleep(60)
        return await admit_times(throttle, 10)

    times = virtual(main)
    assert max_in_window(times, 1.0 - EPS) == 10
    assert max_in_window(times, 0.1 - EPS) == 1


def test_set_rate_lowers_the_rate_from_now_on() -> None:
    async def main() -> tuple[list[float], float]:
        throttle = Throttle(10, 100)
        first = now()
        task = asyncio.ensure_future(admit_times(throttle, 3))
        await asyncio.sleep(0.05)  # first admitted at 0, second due at 0.1
        throttle.set_rate(2)
        assert (throttle.rate, throttle.most_per_second) == (2, 2)
        return await task, first

    times, first = virtual(main)
    # Half the token was left at the change; it drains at 2/s: 0.25 s more. The
    # bucket would let the third in at 0.8; two a second keeps it to 1.0.
    assert [t - first for t in times] == pytest.approx([0.0, 0.3, 1.0], abs=1e-6)


def test_set_rate_raises_the_rate_for_callers_already_waiting() -> None:
    async def main() -> tuple[list[float], float]:
        throttle = Throttle(1, 100)
        first = now()
        task = asyncio.ensure_future(admit_times(throttle, 3))
        await asyncio.sleep(0.5)
        throttle.set_rate(10)
        return await task, first

    times, first = virtual(main)
    assert [t - first for t in times] == pytest.approx([0.0, 0.55, 0.65], abs=1e-6)


def test_set_rate_before_any_call_and_outside_a_loop() -> None:
    throttle = Throttle(10, 4)
    throttle.set_rate(4)

    async def main() -> list[float]:
        return await admit_times(throttle, 3)

    times = virtual(main)
    assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([0.25, 0.25], abs=1e-6)


@pytest.mark.parametrize("rate", [0.0, -1.0, math.inf, math.nan])
def test_a_rate_must_be_positive_and_finite(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        Throttle(rate, 1)
    with pytest.raises(ValueError, match="rate"):
        Throttle(1, 1).set_rate(rate)


async def test_rate_on_the_real_loop_in_the_direction_that_cannot_flake() -> None:
    # Admission is decided at loop.time() t and recorded at t' >= t, so a caller
    # recorded inside [start, start + 0.5) was admitted inside it too.
    rate = 40.0
    throttle = Throttle(rate, 1000)
    start = now()
    times: list[float] = []

    async def call() -> None:
        async with throttle.slot():
            times.append(now())

    tasks = [asyncio.create_task(call()) for _ in range(30)]
    await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    early = [t for t in times if t < start + 0.5]
    assert len(early) <= rate * 0.5 + 1
    assert early  # the first one never waits
    assert throttle.in_use == 0  # cancelled waiters gave back their slots


@pytest.mark.parametrize(
    ("rate", "slots", "burst"),
    [(40, 4, 4), (20, 2, 2), (10, 1, 1), (39.9, 4, 2), (20, 16, 2), (1000, 256, 2), (70, 7, 7)],
)
def test_the_bucket_holds_a_token_per_slot_where_the_slots_cannot_outrun_the_rate_else_two(
    rate: float, slots: int, burst: int
) -> None:
    assert rate_burst(rate, slots) == burst
    assert Throttle(rate, slots).burst == burst


@pytest.mark.parametrize(
    ("rate", "slots", "most"), [(20, 16, 20), (20.000000001, 16, 20), (7.5, 4, 8), (1e-12, 4, 1)]
)
def test_a_binding_rate_keeps_each_second_to_it_rounded_up(
    rate: float, slots: int, most: int
) -> None:
    assert Throttle(rate, slots).most_per_second == most
    assert Throttle(40, 4).most_per_second is None  # the slots cannot outrun 40/s


def test_with_a_token_per_slot_no_second_holds_more_than_rate_plus_slots_minus_one() -> None:
    async def main() -> list[float]:
        return await admit_times(Throttle(40, 4), 200)

    times = virtual(main)
    assert max_in_window(times, 1.0 - EPS) == 40 + 4 - 1
    assert max_in_window(times, 0.0 + 1e-6) == 4  # the four slots start together
    assert max_in_window(times, 3.0 - EPS) <= 3 * 40 + 4 - 1


def test_a_slot_freed_by_a_pbx_bound_call_refills_without_waiting_for_a_token() -> None:
    """4 slots, calls of 125 ms at RATE_LIMIT=40: one token would idle slots 0-75 ms."""

    async def main(throttle: Throttle) -> list[float]:
        waits: list[float] = []

        async def worker() -> None:
            for _ in range(40):
                async with throttle.slot() as admission:
                    waits.append(admission.rate_waited_s)
                    await asyncio.sleep(0.125)

        await asyncio.gather(*(worker() for _ in range(4)))
        return waits

    assert max(virtual(lambda: main(Throttle(40, 4)))) == pytest.approx(0.0, abs=1e-6)
    single = Throttle(40, 4)
    single._rate_limit.retune(40, 1)  # what a bucket of one token did
    assert max(virtual(lambda: main(single))) == pytest.approx(0.075, abs=1e-6)


def test_a_new_share_retunes_the_burst() -> None:
    throttle = Throttle(40, 4)
    throttle.apply_share(1, 4)  # 10/s and 1 slot
    assert (throttle.rate, throttle.limit, throttle.burst) == (10.0, 1, 1)
    throttle.apply_share(4, 4)
    assert (throttle.rate, throttle.limit, throttle.burst) == (40.0, 4, 4)


# -- concurrency ---------------------------------------------------------------------------


def test_concurrency_never_exceeds_the_limit_and_reaches_it() -> None:
    async def main() -> tuple[int, int]:
        throttle = Throttle(1e6, 5)
        held, most = 0, 0

        async def call(i: int) -> None:
            nonlocal held, most
            async with throttle.slot():
                held += 1
                most = max(most, held)
                assert throttle.in_use <= throttle.limit
                await asyncio.sleep((i % 7) * 0.01)
                held -= 1

        await asyncio.gather(*(call(i) for i in range(300)))
        return most, throttle.in_use

    most, in_use = virtual(main)
    assert most == 5
    assert in_use == 0


def test_slots_are_granted_first_come_first_served() -> None:
    async def main() -> list[int]:
        throttle = Throttle(1e6, 2)
        order: list[int] = []

        async def call(i: int) -> None:
            async with throttle.slot():
                order.append(i)
                await asyncio.sleep(0.01 * (3 - i % 3))  # holders finish out of order

        tasks = []
        for i in range(20):
            tasks.append(asyncio.create_task(call(i)))
            await asyncio.sleep(0)  # each queues before the next is created
        await asyncio.gather(*tasks)
        return order

    assert virtual(main) == list(range(20))


def test_lowering_the_limit_interrupts_no_one_and_admits_no_one_until_below() -> None:
    async def main() -> None:
        throttle = Throttle(1e6, 3)
        release = [asyncio.Event() for _ in range(3)]
        admitted: list[str] = []

        async def holder(i: int) -> None:
            async with throttle.slot():
                admitted.append(f"h{i}")
                await release[i].wait()

        async def newcomer() -> None:
            async with throttle.slot():
                admitted.append("new")

        holders = [asyncio.create_task(holder(i)) for i in range(3)]
        await asyncio.sleep(0.01)
        throttle.set_limit(1)
        late = asyncio.create_task(newcomer())
        await asyncio.sleep(0.01)
        assert (throttle.limit, throttle.in_use, throttle.waiting) == (1, 3, 1)
        for i in range(2):
            release[i].set()
            await asyncio.sleep(0.01)
            assert "new" not in admitted  # 2, then 1 held: not below the limit of 1
        assert not any(task.done() for task in holders[2:])
        release[2].set()
        await asyncio.gather(*holders, late)
        assert admitted[-1] == "new"
        assert throttle.in_use == 0

    virtual(main)


def test_raising_the_limit_admits_waiters_at_once() -> None:
    async def main() -> None:
        throttle = Throttle(1e6, 1)
        gate = asyncio.Event()

        async def call() -> None:
            async with throttle.slot():
                await gate.wait()

        tasks = [asyncio.create_task(call()) for _ in range(4)]
        await asyncio.sleep(0.01)
        assert (throttle.in_use, throttle.waiting) == (1, 3)
        throttle.set_limit(3)
        assert (throttle.in_use, throttle.waiting) == (3, 1)  # granted before they even resume
        gate.set()
        await asyncio.gather(*tasks)

    virtual(main)


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_a_limit_is_a_positive_integer(limit: Any) -> None:
    with pytest.raises(ValueError, match="limit"):
        Throttle(1, limit)
    with pytest.raises(ValueError, match="limit"):
        Throttle(1, 1).set_limit(limit)


def test_a_waiter_cancelled_in_the_queue_takes_no_slot() -> None:
    async def main() -> None:
        limit = ResizableLimit(1)
        await limit.acquire()
        waiter = asyncio.create_task(limit.acquire())
        behind = asyncio.create_task(limit.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
        assert limit.waiting == 1
        limit.release()
        await behind
        assert waiter.cancelled()
        assert (limit.in_use, limit.waiting) == (1, 0)
        limit.release()

    virtual(main)


def test_a_waiter_cancelled_after_its_grant_passes_the_slot_on() -> None:
    async def main() -> None:
        limit = ResizableLimit(1)
        await limit.acquire()
        granted = asyncio.create_task(limit.acquire())
        behind = asyncio.create_task(limit.acquire())
        await asyncio.sleep(0)
        limit.release()  # grants `granted`, which has not resumed yet...
        granted.cancel()  # ...and is cancelled before it does
        await behind
        assert granted.cancelled()
        assert limit.in_use == 1
        limit.release()
        assert limit.in_use == 0

    virtual(main)


def test_try_acquire_takes_only_a_free_slot() -> None:
    async def main() -> None:
        limit = ResizableLimit(2)
        assert limit.try_acquire()
        assert limit.try_acquire()
        assert not limit.try_acquire()
        assert limit.in_use == 2
        waiter = asyncio.create_task(limit.acquire())
        await asyncio.sleep(0)
        limit.release()  # handed to the waiter: none is free
        assert not limit.try_acquire()
        await waiter
        assert limit.in_use == 2

    virtual(main)


def test_release_without_acquire_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="release"):
        ResizableLimit(1).release()


def test_a_caller_cancelled_while_waiting_for_a_token_gives_its_slot_back() -> None:
    async def main() -> None:
        throttle = Throttle(1, 5)
        async with throttle.slot():
            pass
        waiting = asyncio.create_task(admit_times(throttle, 1))
        await asyncio.sleep(0.1)
        assert throttle.in_use == 1  # holds a slot, waits for the token
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        assert throttle.in_use == 0

    virtual(main)


def test_an_error_in_the_call_releases_the_slot() -> None:
    async def main() -> None:
        throttle = Throttle(1e6, 1)
        with pytest.raises(ZeroDivisionError):
            async with throttle.slot():
                raise ZeroDivisionError
        assert throttle.in_use == 0

    virtual(main)


# -- waits -----------------------------------------------------------------------------------


def test_waits_are_recorded_per_cause() -> None:
    async def main() -> dict[str, Admission]:
        throttle = Throttle(2, 1)
        seen: dict[str, Admission] = {}

        async def call(name: str, hold: float) -> None:
            async with throttle.slot() as admission:
                seen[name] = admission
                await asyncio.sleep(hold)

        first = asyncio.create_task(call("first", 3.0))
        await asyncio.sleep(0)
        await asyncio.gather(first, call("queued", 0.0))
        seen["paced"] = (await asyncio.gather(_one(throttle)))[0]
        return seen

    seen = virtual(main)
    assert (seen["first"].slot_waited_s, seen["first"].rate_waited_s) == (0.0, 0.0)
    # Queued 3 s for the slot; by then the token had long drained.
    assert seen["queued"].slot_waited_s == pytest.approx(3.0, abs=1e-6)
    assert seen["queued"].rate_waited_s == pytest.approx(0.0, abs=1e-6)
    # Right after "queued": a free slot, but the token needs 1/2 s.
    assert seen["paced"].slot_waited_s == pytest.approx(0.0, abs=1e-6)
    assert seen["paced"].rate_waited_s == pytest.approx(0.5, abs=1e-6)
    assert seen["paced"].waited_s == pytest.approx(0.5, abs=1e-6)


async def _one(throttle: Throttle) -> Admission:
    async with throttle.slot() as admission:
        return admission


def test_an_injected_clock_measures_the_waits() -> None:
    ticks = iter([10.0, 10.0, 12.5])

    async def main() -> Admission:
        return await _one(Throttle(1, 1, clock=lambda: next(ticks)))

    admission = virtual(main)
    assert (admission.slot_waited_s, admission.rate_waited_s) == (0.0, 2.5)


def test_repr() -> None:
    assert repr(Throttle(40, 4)) == "Throttle(rate=40/s, limit=4, in_use=0, waiting=0)"


# -- fleet shares ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("global_max", "assigned", "total", "share"),
    [
        (4, 0, 8, 0),  # no partitions, no work
        (4, 8, 8, 4),
        (4, 4, 8, 2),
        (4, 3, 8, 1),  # 1.5 floors
        (4, 1, 8, 1),  # 0.5 is raised: every replica with work gets one
        (4, 1, 7, 1),
        (4, 4, 7, 2),  # 2.28
        (10, 1, 3, 3),
        (10, 2, 3, 6),
        (1, 5, 12, 1),
        (12, 5, 12, 5),
    ],
)
def test_concurrency_share_table(global_max: int, assigned: int, total: int, share: int) -> None:
    assert concurrency_share(global_max, assigned, total) == share


@pytest.mark.parametrize(
    ("global_rate", "assigned", "total", "share"),
    [(40.0, 0, 8, 0.0), (40.0, 8, 8, 40.0), (40.0, 3, 8, 15.0), (40.0, 1, 3, 40 / 3)],
)
def test_fleet_share_table(global_rate: float, assigned: int, total: int, share: float) -> None:
    assert fleet_share(global_rate, assigned, total) == pytest.approx(share)


@pytest.mark.parametrize(("assigned", "total"), [(-1, 4), (5, 4), (0, 0)])
def test_shares_reject_impossible_splits(assigned: int, total: int) -> None:
    with pytest.raises(ValueError, match="partition"):
        fleet_share(40, assigned, total)
    with pytest.raises(ValueError, match="partition"):
        concurrency_share(4, assigned, total)


def balanced(total: int, replicas: int) -> list[int]:
    """How Kafka's round-robin/range assignors split one topic: sizes differ by at most one."""
    q, r = divmod(total, replicas)
    return [q + 1] * r + [q] * (replicas - r)


@given(st.data())
def test_a_balanced_fleet_never_exceeds_the_global_concurrency(data: st.DataObject) -> None:
    global_max = data.draw(st.integers(min_value=1, max_value=64), label="global_max")
    total = data.draw(st.integers(min_value=1, max_value=500), label="partitions")
    replicas = data.draw(st.integers(min_value=1, max_value=min(global_max, total)), label="R")
    parts = balanced(total, replicas)
    shares = [concurrency_share(global_max, a, total) for a in parts]
    assert sum(shares) <= global_max
    assert all(share >= 1 for share in shares)


@given(st.data())
def test_more_replicas_than_the_global_run_one_call_each(data: st.DataObject) -> None:
    global_max = data.draw(st.integers(min_value=1, max_value=32))
    total = data.draw(st.integers(min_value=global_max + 1, max_value=400))
    replicas = data.draw(st.integers(min_value=global_max + 1, max_value=total))
    shares = [concurrency_share(global_max, a, total) for a in balanced(total, replicas)]
    assert shares == [1] * replicas


@given(st.data())
def test_any_split_exceeds_by_less_than_the_replicas_under_one_share(
    data: st.DataObject,
) -> None:
    global_max = data.draw(st.integers(min_value=1, max_value=32))
    parts = data.draw(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=12))
    total = sum(parts)
    shares = [concurrency_share(global_max, a, total) for a in parts]
    under_one = sum(1 for a in parts if global_max * a < total)
    assert sum(shares) <= global_max + max(0, under_one - 1)
    rates = [fleet_share(40.0, a, total) for a in parts]
    assert math.fsum(rates) == pytest.approx(40.0)


def test_an_unbalanced_split_can_exceed_the_global() -> None:
    # The documented limit of the guarantee: 4/1/1/1 of 7 partitions, global 4.
    assert [concurrency_share(4, a, 7) for a in (4, 1, 1, 1)] == [2, 1, 1, 1]


def test_apply_share_sets_both_limits_from_the_globals() -> None:
    throttle = Throttle(40, 4)
    throttle.apply_share(3, 8)
    assert (throttle.rate, throttle.limit, throttle.concurrency_ceiling) == (15.0, 1, 1)
    throttle.apply_share(8, 8)
    assert (throttle.rate, throttle.limit, throttle.concurrency_ceiling) == (40.0, 4, 4)
    throttle.set_limit(2)  # e.g. an adaptive controller backing off
    assert throttle.concurrency_ceiling == 4
    throttle.apply_share(0, 8)  # no partitions: nothing to limit, nothing changes
    assert (throttle.rate, throttle.limit) == (40.0, 2)
    with pytest.raises(ValueError, match="partition"):
        throttle.apply_share(9, 8)


def test_apply_share_paces_calls_at_the_share() -> None:
    async def main() -> list[float]:
        throttle = Throttle(40, 4)
        throttle.apply_share(1, 4)
        return await admit_times(throttle, 12)

    times = virtual(main)
    assert max_in_window(times, 1.0 - EPS) == 10


def test_a_queue_depth_lets_that_many_calls_more_wait_at_the_pbx() -> None:
    async def main() -> None:
        throttle = Throttle(1_000_000, 4)
        throttle.set_limit(2, queue_depth=1)
        assert (throttle.limit, throttle.queue_depth) == (2, 1)
        held = [throttle.slot() for _ in range(3)]
        for slot in held:
            await slot.__aenter__()
        assert throttle.in_use == 3  # the limit, and one call to wait in the PBX's queue
        blocked = asyncio.create_task(throttle.slot().__aenter__())
        await asyncio.sleep(0)
        assert not blocked.done()
        throttle.set_limit(2)  # no depth: none more until below the limit
        await held[0].__aexit__(None, None, None)
        await held[1].__aexit__(None, None, None)
        await asyncio.sleep(0)
        assert blocked.done()

    virtual(main)


def test_a_new_share_drops_the_queue_depth_and_a_depth_is_a_count() -> None:
    throttle = Throttle(40, 4)
    throttle.set_limit(4, queue_depth=1)
    throttle.apply_share(2, 4)  # the adaptive controller sets it again after a rebalance
    assert (throttle.limit, throttle.queue_depth) == (2, 0)
    for depth in (-1, True, 1.5):
        with pytest.raises(ValueError, match="queue depth"):
            throttle.set_limit(2, queue_depth=depth)  # type: ignore[arg-type]


def test_try_acquire_takes_a_free_token_only_where_the_rate_does_not_bind() -> None:
    async def main() -> None:
        free = RateLimit(40, 4)  # 4 slots cannot outrun 40/s: a token per slot
        assert [free.try_acquire() for _ in range(5)] == [True] * 4 + [False]
        binding = RateLimit(20, 16)  # the window keeps each second to 20: always awaited
        assert not binding.try_acquire()

    virtual(main)

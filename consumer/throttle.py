"""How many PBX calls may run at once and how many may start per second, process-wide.

``async with throttle.slot():`` waits for a concurrency slot first and only then
for a rate token, so no caller sits on a token while queueing for a slot (a
token held that long would be spent late, in a burst with newer ones).

Rate: a leaky bucket (``AsyncLimiter(max_rate=b, time_period=b/rate)``)
holding ``b`` tokens, so any half-open window of ``T`` s admits at most
``ceil(rate·T) + b - 1``. The usual ``AsyncLimiter(rate, 1)`` would let a
second's tokens out at once after an idle spell: up to ``2·rate - 1``.

Where the rate binds (``rate < slots / 0.1 s``: fewer calls per second than the
slots could start at the PBX's 100 ms minimum service time), ``b`` is 2 and a
``rate_window.SecondWindow`` lets no half-open second hold more than
``ceil(rate)`` admissions. The second token makes up for the event loop's late
wake-ups (with one token each late admission pushed every later one back: 2%
of the rate at 20/s on a busy machine), and only those: a caller that finds a
token free fills the bucket, so an idle spell earns nothing and calls keep
``1/rate`` apart. The window keeps the bound a single token gave: no second
holds more than ``ceil(rate)``; a window of ``T`` s at most ``ceil(rate·T) + 1``.

When the slots cannot outrun the rate (``RATE_LIMIT=40`` with 4 slots, the
documented PBX), ``b`` is the number of slots: a single token would leave a
slot freed just after another call's admission empty for up to ``1/rate``
(25 ms at 40/s, a fifth of a 125 ms call), while ``b`` lets every freed slot
refill at once. The rate then binds only in bursts of fast answers (errors):
at most ``RATE_LIMIT + slots - 1`` in a second.

Counted where calls arrive, a send latency varying by ``j`` s widens the
window to ``1 + j``: one call more per replica while ``j < 1/rate``. ``R``
replicas each round up on their own: at most ``R - 1`` more per second in all.

Concurrency: a FIFO limit whose size can change while calls are in flight
(``asyncio.Semaphore`` cannot be resized). ``set_limit`` is the only way the
limit changes, the seam for an adaptive controller.

Fleet share: with several replicas, each takes the part of the global limits
the group's leader granted it (``consumer/fleet_plan.py``: slots and partitions
planned together, never more than the global limit in all), or, in a group that
fell back to roundrobin, the part proportional to the partitions it was
assigned; ``apply_share`` on every rebalance, ``fleet_plan.replica_share`` for
the rule and ``fleet_plan.concurrency_share`` for the fallback's guarantee.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

from consumer.fleet_plan import Grant, replica_share
from consumer.fleet_plan import check_split as _check_split
from consumer.rate_window import SecondWindow

PBX_MIN_SERVICE_S = 0.1
"""The vendor's floor: no updateLeadFast call completes in under 100 ms."""
BINDING_BURST = 2
"""Tokens where the rate binds: one, and one to make up for a late wake-up."""


class ResizableLimit:
    """A FIFO counting limit whose size may change while it is held and awaited."""

    __slots__ = ("_in_use", "_limit", "_waiters")

    def __init__(self, limit: int) -> None:
        _check_limit(limit)
        self._limit = limit
        self._in_use = 0
        # Invariant: whenever in_use < limit, no live waiter is queued (_admit ran).
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_use(self) -> int:
        """Slots held, counting any granted to a waiter that has not resumed yet."""
        return self._in_use

    @property
    def waiting(self) -> int:
        return sum(not waiter.done() for waiter in self._waiters)

    def set_limit(self, limit: int) -> None:
        """Lowering never interrupts holders, it only admits no one until below it."""
        _check_limit(limit)
        self._limit = limit
        self._admit()

    def try_acquire(self) -> bool:
        """Take a slot if one is free now (without awaiting); False if not."""
        if self._in_use < self._limit:
            self._in_use += 1
            return True
        return False

    async def acquire(self) -> None:
        if self._in_use < self._limit:
            self._in_use += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            else:
                self.release()  # granted just as it was cancelled: pass the slot on
            raise

    def release(self) -> None:
        if self._in_use <= 0:
            raise RuntimeError("release() without a matching acquire()")
        self._in_use -= 1
        self._admit()

    def _admit(self) -> None:
        while self._waiters and self._in_use < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                # Counted now, not when the waiter resumes, so no newcomer slips in between.
                self._in_use += 1
                waiter.set_result(None)


@dataclass(frozen=True, slots=True)
class Admission:
    """What ``Throttle.slot()`` yields: how long the caller waited, and for what."""

    slot_waited_s: float
    """Queued for a concurrency slot."""
    rate_waited_s: float
    """Then waited for a rate token."""

    @property
    def waited_s(self) -> float:
        return self.slot_waited_s + self.rate_waited_s


class Throttle:
    """Rate and concurrency limits for every call this process makes.

    ``rate_per_s`` and ``max_concurrency`` are the fleet-wide limits; they apply
    as they are until ``apply_share`` scales them to this replica's part.
    ``clock`` measures waits; by default the running loop's, the clock the rate
    limiter itself runs on.
    """

    def __init__(
        self,
        rate_per_s: float,
        max_concurrency: int,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        _check_rate(rate_per_s)
        self._global_rate = rate_per_s
        self._global_concurrency = max_concurrency
        self._concurrency = ResizableLimit(max_concurrency)
        self._ceiling = max_concurrency
        self._rate = rate_per_s
        self._limiter = AsyncLimiter(1, 1 / rate_per_s)
        self._window: SecondWindow | None = None
        self._clock = clock
        self._retune_limiter(rate_per_s, self._ceiling)
        self._grant: Grant | None = None

    @property
    def global_rate(self) -> float:
        return self._global_rate

    @property
    def global_concurrency(self) -> int:
        return self._global_concurrency

    @property
    def rate(self) -> float:
        """Calls per second this process may start now."""
        return self._rate

    @property
    def limit(self) -> int:
        """Calls this process may run at once now."""
        return self._concurrency.limit

    @property
    def concurrency_ceiling(self) -> int:
        """This replica's share of ``global_concurrency``: an adaptive limit stays at or below."""
        return self._ceiling

    @property
    def in_use(self) -> int:
        return self._concurrency.in_use

    @property
    def waiting(self) -> int:
        """Callers queued for a concurrency slot."""
        return self._concurrency.waiting

    def set_limit(self, limit: int) -> None:
        """Change the concurrency limit (>= 1). Calls in flight always run to their end."""
        self._concurrency.set_limit(limit)

    def set_rate(self, rate_per_s: float) -> None:
        """Change the rate; the tokens already spent drain at the new rate from now on."""
        _check_rate(rate_per_s)
        self._retune_limiter(rate_per_s, self._ceiling)
        self._rate = rate_per_s

    @property
    def burst(self) -> int:
        """Tokens the rate limiter holds: calls that may start back to back."""
        return int(self._limiter.max_rate)

    @property
    def most_per_second(self) -> int | None:
        """The most admissions in any one-second window, where the rate binds; else None."""
        return None if self._window is None else self._window.most

    def _retune_limiter(self, rate_per_s: float, slots: int) -> None:
        limiter = self._limiter
        burst = rate_burst(rate_per_s, slots)
        if not rate_binds(rate_per_s, slots):
            self._window = None
        else:
            most = max(1, math.ceil(rate_per_s - 1e-9))  # 20.000000001/s is 20 a second
            old = self._window
            self._window = SecondWindow(most) if old is None else old.resize(most)
        # AsyncLimiter has no setter. These are the fields its constructor derives
        # from (max_rate, time_period) in every 1.x release; draining at the old
        # rate first keeps the change from refunding or charging past time.
        if limiter._level > 0:
            limiter._leak()
        limiter.max_rate = burst
        limiter.time_period = burst / rate_per_s
        limiter._rate_per_sec = rate_per_s
        wake_next = getattr(limiter, "_wake_next", None)  # 1.2+: re-time the waiters' timer
        if limiter._level > 0 and wake_next is not None:
            wake_next()

    def grant(self, grant: Grant | None) -> None:
        """The slots the group's leader granted this replica (None: it granted none).

        Called by the assignor before the rebalance listener, so the next
        ``apply_share`` uses it.
        """
        self._grant = grant

    def apply_share(self, assigned_partitions: int, total_partitions: int) -> None:
        """Scale both limits to this replica's share of the global ones (on every rebalance).

        The share is the leader's grant when there is one (``consumer/fleet_plan.py``:
        slots, and the rate in proportion to them), else proportional to the
        partitions. With no partitions the limits stay as they are: without
        partitions there are no calls to limit, and the next assignment sets them
        again. Resets the concurrency limit to the full share: an adaptive
        controller lowers it again afterwards.
        """
        if assigned_partitions == 0:
            _check_split(assigned_partitions, total_partitions)
            return
        rate, ceiling = replica_share(
            self._global_rate,
            self._global_concurrency,
            assigned_partitions,
            total_partitions,
            self._grant,
        )
        self._ceiling = ceiling
        self.set_rate(rate)
        self.set_limit(ceiling)

    def slot(self) -> _Slot:
        """Hold one concurrency slot and one rate token for the length of a call:
        ``async with throttle.slot() as admission:``."""
        return _Slot(self)

    def __repr__(self) -> str:
        return (
            f"Throttle(rate={self._rate:g}/s, limit={self.limit}, in_use={self.in_use}, "
            f"waiting={self.waiting})"
        )


class _Slot:
    """``Throttle.slot()``: a slot, then a token, on entry; the slot back on exit.

    A class rather than an ``asynccontextmanager``: it runs once per call, and a
    generator-based one costs several times as much.
    """

    __slots__ = ("_throttle",)

    def __init__(self, throttle: Throttle) -> None:
        self._throttle = throttle

    async def __aenter__(self) -> Admission:
        throttle = self._throttle
        now = throttle._clock or asyncio.get_running_loop().time
        began = now()
        concurrency = throttle._concurrency
        if not concurrency.try_acquire():
            await concurrency.acquire()
        try:
            slotted = now()
            if throttle._window is None:
                await throttle._limiter.acquire()
            else:
                await _take_binding_token(throttle)
        except BaseException:
            concurrency.release()
            raise
        return Admission(slotted - began, now() - slotted)

    async def __aexit__(self, *exc_info: object) -> None:
        self._throttle._concurrency.release()


async def _take_binding_token(throttle: Throttle) -> None:
    limiter = throttle._limiter
    idle = limiter.has_capacity()
    await limiter.acquire()
    if idle:
        # A caller that found a token free waited for none, so no wake-up of its
        # was late: the second token is not its to spend. Full, the bucket spaces
        # the next admission a whole 1/rate after this one, as a single token would.
        limiter._level = float(limiter.max_rate)
    await _within_window(throttle)


async def _within_window(throttle: Throttle) -> None:
    # The window's clock is the loop's, the one the bucket leaks on.
    window, loop = throttle._window, asyncio.get_running_loop()
    while window is not None and (wait := window.wait_s(loop.time())) > 0:
        await asyncio.sleep(wait)
        window = throttle._window  # a new share may have replaced it meanwhile
    if window is not None:
        window.admit(loop.time())


def rate_burst(rate_per_s: float, slots: int) -> int:
    """Tokens for the rate limiter: ``slots`` when they cannot outrun the rate, else 2.

    See the module's docstring: with the PBX's 100 ms minimum, ``slots`` calls
    at once start at most ``slots / 0.1 s`` calls per second.
    """
    return BINDING_BURST if rate_binds(rate_per_s, slots) else slots


def rate_binds(rate_per_s: float, slots: int) -> bool:
    """Fewer calls per second than ``slots`` could start at the PBX's 100 ms minimum."""
    return rate_per_s * PBX_MIN_SERVICE_S < slots - 1e-9


def _check_rate(rate_per_s: float) -> None:
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError(f"a rate is a finite number of calls per second > 0, not {rate_per_s!r}")


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"a concurrency limit is an integer >= 1, not {limit!r}")

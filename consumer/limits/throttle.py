"""How many PBX calls may run at once and how many may start per second, process-wide.

``async with throttle.slot():`` waits for a concurrency slot first and only then
for a rate token, so no caller sits on a token while queueing for a slot (a
token held that long would be spent late, in a burst with newer ones).

Rate: ``consumer/limits/rate_limit.py`` (a leaky bucket, and where the rate binds a
one-second window): what it admits per second, and why.

Concurrency: a FIFO limit whose size can change while calls are in flight
(``asyncio.Semaphore`` cannot be resized). ``set_limit`` is the only way the
limit changes, the seam for an adaptive controller.

Fleet share: with several replicas, each takes the part of the global limits
the group's leader granted it (``consumer/limits/fleet_plan.py``: slots and partitions
planned together, never more than the global limit in all), or, in a group that
fell back to roundrobin, the part proportional to the partitions it was
assigned; ``apply_share`` on every rebalance, ``fleet_plan.replica_share`` for
the rule and ``fleet_plan.concurrency_share`` for the fallback's guarantee.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from consumer.limits.fleet_plan import Grant, replica_share
from consumer.limits.fleet_plan import check_split as _check_split
from consumer.limits.rate_limit import RateLimit, check_rate


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
        check_rate(rate_per_s)
        self._global_rate = rate_per_s
        self._global_concurrency = max_concurrency
        self._concurrency = ResizableLimit(max_concurrency)
        self._queue_depth = 0
        self._ceiling = max_concurrency
        self._rate_limit = RateLimit(rate_per_s, max_concurrency)
        self._clock = clock
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
        return self._rate_limit.rate

    @property
    def limit(self) -> int:
        """Calls this process may run at once now (at the PBX: ``queue_depth`` more may wait
        there)."""
        return self._concurrency.limit - self._queue_depth

    @property
    def queue_depth(self) -> int:
        """Calls allowed beyond ``limit``, to wait in the PBX's own queue (``set_limit``)."""
        return self._queue_depth

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

    def set_limit(self, limit: int, *, queue_depth: int = 0) -> None:
        """Change the concurrency limit (>= 1). Calls in flight always run to their end.

        ``queue_depth`` calls more may be sent: at a limit equal to the PBX's capacity
        they wait in its queue, so a slot it frees is taken at once, with no round trip
        between one call's answer and the next call's arrival. Only a limit known to be
        the capacity (the adaptive limit's) may ask for it.
        """
        if isinstance(queue_depth, bool) or not isinstance(queue_depth, int) or queue_depth < 0:
            raise ValueError(f"a queue depth is an integer >= 0, not {queue_depth!r}")
        _check_limit(limit)
        self._queue_depth = queue_depth
        self._concurrency.set_limit(limit + queue_depth)

    def set_rate(self, rate_per_s: float) -> None:
        """Change the rate; the tokens already spent drain at the new rate from now on."""
        self._rate_limit.retune(rate_per_s, self._ceiling)

    @property
    def burst(self) -> int:
        """Tokens the rate limiter holds: calls that may start back to back."""
        return self._rate_limit.burst

    @property
    def most_per_second(self) -> int | None:
        """The most admissions in any one-second window, where the rate binds; else None."""
        return self._rate_limit.most_per_second

    def grant(self, grant: Grant | None) -> None:
        """The slots the group's leader granted this replica (None: it granted none).

        Called by the assignor before the rebalance listener, so the next
        ``apply_share`` uses it.
        """
        self._grant = grant

    def apply_share(self, assigned_partitions: int, total_partitions: int) -> None:
        """Scale both limits to this replica's share of the global ones (on every rebalance).

        The share is the leader's grant when there is one (``consumer/limits/fleet_plan.py``:
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
            f"Throttle(rate={self.rate:g}/s, limit={self.limit}, in_use={self.in_use}, "
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
        slotted = now()
        rate = throttle._rate_limit
        if rate.try_acquire():
            return Admission(slotted - began, 0.0)
        try:
            await rate.acquire()
        except BaseException:
            concurrency.release()
            raise
        return Admission(slotted - began, now() - slotted)

    async def __aexit__(self, *exc_info: object) -> None:
        self._throttle._concurrency.release()


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"a concurrency limit is an integer >= 1, not {limit!r}")

"""How many calls may start per second: a leaky bucket, and where the rate binds a window.

The bucket (``AsyncLimiter(max_rate=b, time_period=b/rate)``) holds ``b``
tokens, so any half-open window of ``T`` s admits at most
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
"""

from __future__ import annotations

import asyncio
import math

from aiolimiter import AsyncLimiter

from consumer.limits.rate_window import SecondWindow

PBX_MIN_SERVICE_S = 0.1
"""The vendor's floor: no updateLeadFast call completes in under 100 ms."""
BINDING_BURST = 2
"""Tokens where the rate binds: one, and one to make up for a late wake-up."""


class RateLimit:
    """Admissions at ``rate`` per second for ``slots`` calls at once; ``retune`` changes both."""

    __slots__ = ("_bucket", "_window")

    def __init__(self, rate_per_s: float, slots: int) -> None:
        check_rate(rate_per_s)
        self._bucket = AsyncLimiter(1, 1 / rate_per_s)
        self._window: SecondWindow | None = None
        self.retune(rate_per_s, slots)

    @property
    def rate(self) -> float:
        return self._bucket._rate_per_sec

    @property
    def burst(self) -> int:
        """Tokens the bucket holds: calls that may start back to back."""
        return int(self._bucket.max_rate)

    @property
    def most_per_second(self) -> int | None:
        """The most admissions in any one-second window, where the rate binds; else None."""
        return None if self._window is None else self._window.most

    def retune(self, rate_per_s: float, slots: int) -> None:
        """A new rate or slot count; the tokens already spent drain at the new rate."""
        check_rate(rate_per_s)
        if not rate_binds(rate_per_s, slots):
            self._window = None
        else:
            most = max(1, math.ceil(rate_per_s - 1e-9))  # 20.000000001/s is 20 a second
            old = self._window
            self._window = SecondWindow(most) if old is None else old.resize(most)
        bucket, burst = self._bucket, rate_burst(rate_per_s, slots)
        # AsyncLimiter has no setter. These are the fields its constructor derives
        # from (max_rate, time_period) in every 1.x release; draining at the old
        # rate first keeps the change from refunding or charging past time.
        if bucket._level > 0:
            bucket._leak()
        bucket.max_rate = burst
        bucket.time_period = burst / rate_per_s
        bucket._rate_per_sec = rate_per_s
        wake_next = getattr(bucket, "_wake_next", None)  # 1.2+: re-time the waiters' timer
        if bucket._level > 0 and wake_next is not None:
            wake_next()

    def try_acquire(self) -> bool:
        """Take a token if one is free now, where the rate does not bind; False if not
        (then ``acquire``). Calls at a PBX-bound rate take this way, without a wait."""
        bucket = self._bucket
        if self._window is None and bucket.has_capacity():
            bucket._level += 1  # what AsyncLimiter.acquire does once it has capacity
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a token (and, where the rate binds, for room in the window)."""
        bucket = self._bucket
        if self._window is None:
            await bucket.acquire()
            return
        idle = bucket.has_capacity()
        await bucket.acquire()
        if idle:
            # A caller that found a token free waited for none, so no wake-up of its
            # was late: the second token is not its to spend. Full, the bucket spaces
            # the next admission a whole 1/rate after this one, as a single token would.
            bucket._level = float(bucket.max_rate)
        # The window's clock is the loop's, the one the bucket leaks on.
        window, loop = self._window, asyncio.get_running_loop()
        while window is not None and (wait := window.wait_s(loop.time())) > 0:
            await asyncio.sleep(wait)
            window = self._window  # a new share may have replaced it meanwhile
        if window is not None:
            window.admit(loop.time())


def rate_burst(rate_per_s: float, slots: int) -> int:
    """Tokens for the bucket: ``slots`` when they cannot outrun the rate, else 2."""
    return BINDING_BURST if rate_binds(rate_per_s, slots) else slots


def rate_binds(rate_per_s: float, slots: int) -> bool:
    """Fewer calls per second than ``slots`` could start at the PBX's 100 ms minimum."""
    return rate_per_s * PBX_MIN_SERVICE_S < slots - 1e-9


def check_rate(rate_per_s: float) -> None:
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError(f"a rate is a finite number of calls per second > 0, not {rate_per_s!r}")

"""How late this process's event loop runs: the adaptive limit's measure of its own CPU.

A timer that should fire every ``interval_s`` fires late by however long the loop
was busy with other callbacks; ``LoopLag`` keeps a moving average of that
lateness. A call's latency, measured here, includes several such waits (sending,
reading the answer), so a saturated loop reads as a queue at the PBX unless the
controller knows the lag (docs/adaptive-concurrency.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class Loop(Protocol):
    """What ``LoopLag`` uses of an event loop."""

    def time(self) -> float: ...

    def call_at(
        self, when: float, callback: Callable[[float], object], due: float, /
    ) -> object: ...


def running_loop() -> Loop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LoopLag:
    """Call it for the loop's lag now, in seconds (0 outside a loop).

    Ticks only while read: a tick reschedules itself if the lag was read within
    ``idle_s``, so an idle service does not wake up for it.
    """

    def __init__(
        self,
        *,
        interval_s: float = 0.01,
        weight: float = 0.2,
        idle_s: float = 1.0,
        loop: Callable[[], Loop | None] = running_loop,
    ) -> None:
        if not (interval_s > 0 and 0 < weight <= 1 and idle_s > 0):
            raise ValueError(f"invalid loop lag probe: {interval_s=} {weight=} {idle_s=}")
        self._interval = interval_s
        self._weight = weight
        self._idle = idle_s
        self._loop = loop
        self._ticking: Loop | None = None
        self._read_at = 0.0
        self.lag = 0.0

    def __call__(self) -> float:
        loop = self._loop()
        if loop is None:
            return 0.0
        self._read_at = loop.time()
        if self._ticking is not loop:  # first read, back from idle, or another loop
            self._ticking = loop
            self.lag = 0.0
            self._schedule(loop, self._read_at)
        return self.lag

    def _schedule(self, loop: Loop, now: float) -> None:
        due = now + self._interval
        loop.call_at(due, self._tick, due)

    def _tick(self, due: float) -> None:
        loop = self._ticking
        if loop is None:
            return
        now = loop.time()
        self.lag += self._weight * (max(0.0, now - due) - self.lag)
        if now - self._read_at > self._idle:
            self._ticking = None  # the next read starts it again
            return
        self._schedule(loop, now)

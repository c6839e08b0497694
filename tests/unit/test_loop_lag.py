"""The loop-lag probe, on a fake loop: timers run when the test says, no real time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from consumer.limits.loop_lag import LoopLag


class FakeLoop:
    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Callable[[float], object], float]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[float], object], due: float, /) -> object:
        self.timers.append((when, callback, due))
        return None

    def fire(self, late: float) -> None:
        """Run the next timer ``late`` s after it was due."""
        when, callback, due = self.timers.pop(0)
        self.now = when + late
        callback(due)


def test_outside_a_loop_there_is_no_lag() -> None:
    assert LoopLag(loop=lambda: None)() == 0.0


def test_it_averages_how_late_its_ticks_run() -> None:
    loop = FakeLoop()
    lag = LoopLag(interval_s=0.01, weight=0.5, loop=lambda: loop)
    assert lag() == 0.0  # the first read starts the ticks
    loop.fire(0.004)
    assert lag() == pytest.approx(0.002)
    loop.fire(0.004)
    assert lag() == pytest.approx(0.003)
    loop.fire(0.0)
    assert lag() == pytest.approx(0.0015)
    assert len(loop.timers) == 1  # one tick pending at a time, however often it is read


def test_it_stops_ticking_when_nobody_reads_it_and_starts_again_on_a_read() -> None:
    loop = FakeLoop()
    lag = LoopLag(interval_s=0.01, weight=1.0, idle_s=0.05, loop=lambda: loop)
    lag()
    for _ in range(5):  # read at 0; the fifth tick runs at 0.06
        loop.fire(0.002)
    assert not loop.timers  # unread for longer than idle_s
    assert lag() == 0.0  # an idle loop has no lag: measured afresh
    assert len(loop.timers) == 1
    loop.fire(0.003)
    assert lag() == pytest.approx(0.003)


def test_it_rejects_a_probe_that_cannot_measure() -> None:
    with pytest.raises(ValueError, match="invalid loop lag probe"):
        LoopLag(interval_s=0)

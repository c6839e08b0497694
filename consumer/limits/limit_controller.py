"""The adaptive limit's decisions: from windows of call latencies to a concurrency limit.

Pure: no awaits, time is passed in. ``consumer.limits.adaptive`` feeds it the
delivery's attempts and applies its limit to the throttle; the model and every
rule are explained in docs/adaptive-concurrency.md.
"""

from __future__ import annotations

import math

from consumer.limits.adaptive_tuning import Tuning
from consumer.limits.latency_window import Window, pooled, window_of

SPREAD_WEIGHT = 0.2
"""Weight of each window in the pooled spread (an exponential moving average)."""
CLIMB_WINDOW = 2
"""The fewest calls a window of slow start holds after the first: a mean and a spread."""


class LimitController:
    """The decisions, without awaits or clocks: time is passed in."""

    def __init__(self, ceiling: int, now: float, tuning: Tuning | None = None) -> None:
        self.tuning = tuning or Tuning()
        self._ceiling = _at_least_one(ceiling)
        self._limit = min(self.tuning.initial_limit, self._ceiling)
        self._base: Window | None = None
        self._spread = 0.0  # pooled Window.spread of windows without a queue
        self._probing = True  # the first window measures the base
        self._return_to = self._limit  # the limit once the probe's window is in
        self._queue: tuple[float, float] | None = None  # (latency, in flight) a probe checks
        self._slow_start = True
        self._stepped_from: int | None = None  # while a step up has not held yet
        self._base_level = 0  # windows at or below the base's limit refine it
        self._hold = 1  # clear windows before a step up
        self._clear = self._faster = 0
        self._queued: list[Window] = []
        self._changed_at = self._cut_at = self._first_end = now
        self._next_probe_at = math.inf
        self._samples: list[float] = []
        self._lags: list[float] = []
        self._depth = 0  # calls allowed beyond the limit, to wait in the PBX's queue

    @property
    def limit(self) -> int:
        """The limit to apply now (lowered while a probe runs)."""
        return self._limit

    @property
    def queue_depth(self) -> int:
        """Calls to allow beyond ``limit`` now: they wait in the PBX's own queue, so a slot
        it frees is taken at once. 0 while the controller looks for the capacity."""
        return self._depth

    @property
    def base_latency(self) -> float | None:
        """Latency measured with no queue at the PBX; None before the first window."""
        return None if self._base is None else self._base.latency

    @property
    def probing(self) -> bool:
        return self._probing

    @property
    def window_size(self) -> int:
        """Calls the current window holds before it is judged."""
        reprobe = self._probing and self._base is not None
        # Every window of slow start leaves slots idle, and a wrong call there is
        # cheap: a false queue ends slow start, a missed one is caught a window
        # later. Once the limit is where it may stay, windows are judged on more.
        climbing = self._slow_start and self._limit < self._ceiling and not reprobe
        # The first base weighs on every judgement of slow start: a few calls more.
        first = self.tuning.start_window if self._base is None else CLIMB_WINDOW
        least = first if climbing else self.tuning.min_window
        rounds = self.tuning.start_rounds if climbing else self.tuning.window_rounds
        size = max(least, math.ceil(rounds * self._limit))
        # A re-probe's base weighs on every later judgement. The first probe's is
        # as short as any: slow start waits for it.
        return size * self.tuning.probe_windows if reprobe else size

    def observe(self, latency: float, now: float, lag: float = 0.0) -> None:
        """A call the PBX answered, ``latency`` seconds long, ended at ``now``, when this
        process's event loop ran ``lag`` seconds late.

        Calls sent before the last change of limit ran under the old one: ignored.
        """
        if not (math.isfinite(latency) and latency > 0) or now - latency < self._changed_at:
            return
        if not self._samples:
            self._first_end = now
        self._samples.append(latency)
        self._lags.append(lag if math.isfinite(lag) and lag > 0 else 0.0)
        if len(self._samples) >= self.window_size:
            window = window_of(self._samples, self._first_end, now, self._lags)
            self._samples.clear()
            self._lags.clear()
            self._judge(window, now)
            self._settle(now)

    def overload(self, started_at: float, now: float) -> None:
        """A 109 for a call sent at ``started_at``: cut, unless a cut came after it."""
        if started_at < self._cut_at:
            return
        level = self._return_to if self._probing else self._limit
        self._probing = self._base is None
        self._slow_start = False
        self._cut(math.floor(level * self.tuning.overload_factor), now)
        self._settle(now)

    def rescale(self, ceiling: int, now: float) -> None:
        """The ceiling changed (a rebalance): keep the limit's share of it."""
        old, self._ceiling = self._ceiling, _at_least_one(ceiling)
        level = self._return_to if self._probing else self._limit
        self._return_to = max(1, min(self._ceiling, round(level * self._ceiling / old)))
        self._probing = self._base is None  # a re-probe is dropped, the first is not
        self._queue = self._stepped_from = None
        self._set(self._return_to, now)
        self._settle(now)

    def _judge(self, window: Window, now: float) -> None:
        if self._probing or self._base is None:
            self._end_probe(window, now)
            return
        base = self._base
        rise = window.latency / base.latency - 1
        bar = self._bar(self._spread**2 / window.count, base)
        if rise < -bar:  # against the base itself: a queue of queue_depth is no speed-up
            # Faster than the base: the PBX sped up, or the base was measured with a
            # queue. Either way it is stale, and a queue could hide under it: no step.
            self._faster += 1
            self._queued.clear()
        else:
            self._faster = 0
            if window.latency / self._reference(base) - 1 <= bar:
                self._on_clear(window, now)
            elif self._own(window, base):
                self._on_clear(window, now, pool=False)
            else:
                self._on_queued(window, base, now)
        stale = self._faster >= self.tuning.confirm_windows
        if not self._probing and (stale or now >= self._next_probe_at):
            self._start_probe(self._limit // 2, now)

    def _reference(self, base: Window) -> float:
        """The latency a window has at the capacity: the base, and the wait of the calls
        deliberately queued at the PBX (a slot frees every base / limit seconds)."""
        return base.latency * (1 + self._depth / self._limit)

    def _own(self, window: Window, base: Window) -> bool:
        """The rise is this process's: its event loop's lag rose enough to explain it."""
        lag_rise = window.lag - base.lag
        rise = window.latency - self._reference(base)
        return lag_rise > 0 and rise <= self.tuning.lag_factor * lag_rise

    def _bar(self, variance: float, base: Window) -> float:
        """The least rise over the base that reads as a queue, not as noise."""
        error = math.sqrt(variance + self._spread**2 / base.count)
        return max(self.tuning.min_rise, self.tuning.confidence * error)

    def _on_queued(self, window: Window, base: Window, now: float) -> None:
        self._slow_start = False
        self._queued.append(window)
        if len(self._queued) < self.tuning.confirm_windows:
            return
        # Confirmed by the windows' own spread: a few very slow calls raise a mean
        # but spread it as much; a queue delays most calls a little.
        together = pooled(self._queued)
        if together.latency / self._reference(base) - 1 <= self._bar(
            together.spread**2 / together.count, base
        ):
            self._pool_spread(self._queued.pop(0))  # noise after all: widen the bar
            return
        if self._stepped_from is not None:  # undo the step: the level below it held
            self._hold = min(2 * self._hold, self.tuning.max_hold_windows)
            self._cut(self._stepped_from, now)
            return
        latency = min(w.latency for w in self._queued)  # the least disturbed
        in_flight = min(together.in_flight, self._limit + self._depth)
        # A level that held now queues: the PBX got busier, or slower (then the base
        # is stale and a cut would be wrong). Measure the base again, at the capacity
        # the old base gives (no queue there either way), then cut to the capacity
        # the new base gives.
        self._queue = (latency, in_flight)
        self._cut_at = now
        self._start_probe(
            min(self._limit // 2, math.floor(in_flight * base.latency / latency)), now
        )

    def _on_clear(self, window: Window, now: float, *, pool: bool = True) -> None:
        # Unconfirmed queued windows were noise; a window slowed by our own loop is
        # no measure of the noise around the base.
        for noisy in (*self._queued, window) if pool else self._queued:
            self._pool_spread(noisy)
        self._queued.clear()
        # A window with calls queued on purpose is not free of a queue.
        refines = (self._limit <= self._base_level or self._slow_start) and not self._depth
        if self._base is not None and refines and window is not self._base:
            # As free of a queue as the base itself (at its limit or below, or in slow
            # start, where no level has queued yet): a better base together.
            self._base = pooled([self._base, window])
        self._clear += 1
        if self._clear < self._hold and not self._slow_start:
            return
        if self._stepped_from is not None:  # the step up held: the capacity may be higher
            self._hold = 1
            self._stepped_from = None
        if self._limit >= self._ceiling or window.in_flight < self.tuning.busy * self._limit:
            return  # a limit the traffic does not reach says nothing about the PBX
        level = self._limit
        self._set(2 * level if self._slow_start else level + 1, now)
        self._stepped_from = level

    def _start_probe(self, level: int, now: float) -> None:
        self._probing = True
        self._return_to = self._limit
        self._stepped_from = None
        self._set(level, now)

    def _end_probe(self, window: Window, now: float) -> None:
        first = self._base is None
        if first:
            # The spread of the first few calls is itself a guess; too low a guess
            # reads the next window's noise as a queue. Windows pool it down later.
            self._spread = max(window.spread, self.tuning.initial_spread)
        self._pool_spread(window)
        if self._base is not None and abs(window.latency / self._base.latency - 1) > self._bar(
            self._spread**2 / window.count, self._base
        ):
            self._hold = 1  # the steps that failed were judged against a base that was wrong
        self._base = window
        self._base_level = self._limit
        self._faster = 0
        self._probing = False
        self._next_probe_at = now + self.tuning.reprobe_s
        level = self._return_to
        if self._queue is not None:
            latency, in_flight = self._queue
            self._queue = None
            level = min(level, round(in_flight * window.latency / latency))
            self._hold = 1  # a cut, not a step that failed: the level above may hold
        self._set(level, now)
        if first:
            self._on_clear(window, now)  # the first window also counts for slow start

    def _pool_spread(self, window: Window) -> None:
        # One window's spread, from a handful of calls, is itself noisy: pool it. Not
        # with calls queued on purpose: their waits come in lumps (a PBX frees its slots
        # together when service times are alike), a spread that is no noise.
        if not self._depth:
            self._spread += SPREAD_WEIGHT * (window.spread - self._spread)

    def _cut(self, limit: int, now: float) -> None:
        self._queue = self._stepped_from = None
        self._cut_at = now
        self._set(limit, now)
        self._return_to = self._limit  # where the first probe, if still running, ends

    def _settle(self, now: float) -> None:
        """Queue calls at the PBX once the limit is where it may stay: not while the base
        is measured (no queue there), nor while slow start climbs or a step up is tried
        (their signal is a queue; the step's one call more stands in for it), nor at the
        base's own level, whose windows refine the base."""
        climbing = self._slow_start and self._limit < self._ceiling
        trying = climbing or self._probing or self._stepped_from is not None
        depth = 0 if trying or self._limit <= self._base_level else self.tuning.queue_depth
        # The ceiling (LEADSYNC_MAX_CONCURRENCY, or this process's share) bounds the calls
        # sent, queued ones included: a limit at the ceiling queues none.
        depth = min(depth, self._ceiling - self._limit)
        if depth != self._depth:
            self._depth = depth
            self._changed_at = now  # a window runs under one depth
            self._samples.clear()
            self._lags.clear()

    def _set(self, limit: int, now: float) -> None:
        self._limit = max(1, min(self._ceiling, limit))
        self._clear = 0
        self._queued.clear()
        self._changed_at = now
        self._samples.clear()
        self._lags.clear()


def _at_least_one(ceiling: int) -> int:
    if ceiling < 1:
        raise ValueError(f"a concurrency ceiling is >= 1, not {ceiling!r}")
    return ceiling

"""One window of call latencies, as the adaptive limit reads it: mean, spread, calls in flight.

Pure statistics; ``consumer.limits.limit_controller`` judges the windows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    latency: float
    """Mean latency. Not trimmed: a queue may fall on a few calls (a PBX frees its
    slots together when service times are alike); trimming would hide it."""
    spread: float
    """Standard deviation / mean: ``spread / sqrt(count)`` is the mean's relative error."""
    count: int
    in_flight: float
    """Calls in flight on average, by Little's law: throughput * mean latency."""
    lag: float = 0.0
    """Mean lag of this process's event loop as the calls ended (``consumer.limits.loop_lag``)."""


def window_of(
    latencies: Sequence[float], first_end: float, last_end: float, lags: Sequence[float] = ()
) -> Window:
    """Statistics of one window of latencies (> 0) that ended between the two times."""
    n = len(latencies)
    mean = statistics.fmean(latencies)
    spread = statistics.stdev(latencies) / mean if n > 1 else 0.0
    span = last_end - first_end
    lag = statistics.fmean(lags) if lags else 0.0
    return Window(mean, spread, n, (n - 1) / span * mean if span > 0 else math.inf, lag)


def pooled(windows: Sequence[Window]) -> Window:
    """Several windows as one."""
    count = sum(w.count for w in windows)
    latency = sum(w.latency * w.count for w in windows) / count
    spread = math.sqrt(sum(w.spread**2 * w.count for w in windows) / count)
    in_flight = statistics.fmean(w.in_flight for w in windows)
    return Window(latency, spread, count, in_flight, sum(w.lag * w.count for w in windows) / count)

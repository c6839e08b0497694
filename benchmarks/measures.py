"""The statistics the benchmarks report, from call records and samples: no I/O.

Times are epoch seconds: the simulator stamps calls with ``time.time()`` and the
harness stamps produce times and samples with the same clock (one machine).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AppliedCall:
    """One update the PBX applied, as its inspection API reports it."""

    lead: str
    started_at: float
    finished_at: float
    sent_at: float | None = None
    """When the harness produced the event (its ``SentAt`` field), if it carried one."""

    @property
    def service_s(self) -> float:
        return self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class Throughput:
    """Applied calls over the span from the first call's start to the last call's end."""

    applied: int
    window_s: float
    mean_service_s: float

    @property
    def per_s(self) -> float:
        return self.applied / self.window_s if self.window_s > 0 else 0.0

    def ideal_per_s(self, capacity: int) -> float:
        """What ``capacity`` slots busy all the time would apply at this mean service time."""
        return capacity / self.mean_service_s if self.mean_service_s > 0 else 0.0

    def utilisation(self, capacity: int) -> float:
        ideal = self.ideal_per_s(capacity)
        return self.per_s / ideal if ideal > 0 else 0.0

    def idle_per_call_s(self, capacity: int) -> float:
        """Mean time a slot stood empty between two calls: where a shortfall comes from."""
        if self.applied == 0:
            return 0.0
        return capacity * self.window_s / self.applied - self.mean_service_s


def throughput(calls: Sequence[AppliedCall]) -> Throughput:
    if not calls:
        return Throughput(0, 0.0, 0.0)
    first = min(call.started_at for call in calls)
    last = max(call.finished_at for call in calls)
    mean = math.fsum(call.service_s for call in calls) / len(calls)
    return Throughput(len(calls), last - first, mean)


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolating linearly between closest ranks.

    The same definition as numpy's default, so a reader can check a figure.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {q!r}")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latencies(calls: Iterable[AppliedCall]) -> list[float]:
    """End-to-end seconds, produce to applied, of the calls that carry a produce time."""
    return [call.finished_at - call.sent_at for call in calls if call.sent_at is not None]


def waits(calls: Iterable[AppliedCall]) -> list[float]:
    """Seconds from produce to the start of the call at the PBX: the service's own delay."""
    return [call.started_at - call.sent_at for call in calls if call.sent_at is not None]


def busiest_window(starts: Iterable[float], width_s: float = 1.0) -> int:
    """Most events within any half-open window ``[t, t + width_s)``."""
    ordered = sorted(starts)
    best = 0
    first = 0
    for last, started in enumerate(ordered):
        while started - ordered[first] >= width_s:
            first += 1
        best = max(best, last - first + 1)
    return best


def value_at(samples: Sequence[tuple[float, float]], when: float) -> float:
    """A sampled counter at ``when``, interpolated linearly; clamped at either end."""
    if not samples:
        raise ValueError("no samples")
    if when <= samples[0][0]:
        return samples[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(samples):
        if t0 <= when <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (when - t0) / (t1 - t0)
    return samples[-1][1]


def increase(samples: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """How much a sampled counter (CPU seconds, say) grew between ``start`` and ``end``."""
    return value_at(samples, end) - value_at(samples, start)


def first_start_after(calls: Iterable[AppliedCall], moment: float) -> float | None:
    """The earliest ``started_at`` at or after ``moment`` (the first call after an outage)."""
    after = [call.started_at for call in calls if call.started_at >= moment]
    return min(after) if after else None


def work_span(samples: Sequence[tuple[float, float]], target: float) -> tuple[float, float] | None:
    """From the last sample before a counter left zero to the first at ``target`` or above.

    The span in which a run did its work, excluding its start-up and its exit;
    None when the counter never reached ``target``.
    """
    start: float | None = None
    for when, value in samples:
        if value <= 0:
            start = when
        elif start is None:
            start = when  # already counting at the first sample: the best bound we have
        if value >= target:
            return start, when
    return None


def start_rate(calls: Sequence[AppliedCall]) -> float:
    """Calls started per second, first start to last: the rate a limiter admitted them at."""
    if len(calls) < 2:
        return 0.0
    starts = [call.started_at for call in calls]
    span = max(starts) - min(starts)
    return (len(calls) - 1) / span if span > 0 else 0.0


def handover_gaps(calls: Iterable[AppliedCall]) -> list[float]:
    """Seconds a PBX slot stood empty between one call's end and the next call's start in it.

    The PBX does not say which slot ran a call, so each start is paired with the
    latest end before it that no start followed yet: a slot freed and taken
    again. Slots no call took again (the end of a drain, a limit below the
    capacity) stay unpaired and count nowhere, so a gap is a handover's alone.
    """
    events = sorted(
        [(call.finished_at, 0) for call in calls] + [(call.started_at, 1) for call in calls]
    )
    freed: list[float] = []
    gaps: list[float] = []
    for when, is_start in events:
        if not is_start:
            freed.append(when)
        elif freed:
            gaps.append(when - freed.pop())
    return gaps


def partition_pauses(
    calls: Iterable[AppliedCall], partitions: int, begin: float, end: float, *, prefix: str
) -> list[float]:
    """Per partition, the longest time between two of its calls' starts around ``[begin, end]``.

    The events were dealt out over the partitions in turn (``load.produce`` with
    ``spread_over``), so the number in a lead id (``prefix`` and digits) says
    which partition held it. A pause counts when it ends within ``(begin, end]``.
    """
    starts: dict[int, list[float]] = {}
    for call in calls:
        if call.lead.startswith(prefix) and call.lead[len(prefix) :].isdigit():
            number = int(call.lead[len(prefix) :])
            starts.setdefault(number % partitions, []).append(call.started_at)
    longest = []
    for times in starts.values():
        times.sort()
        pauses = [b - a for a, b in itertools.pairwise(times) if begin < b <= end]
        if pauses:
            longest.append(max(pauses))
    return longest


def first_full(calls: Iterable[AppliedCall], capacity: int) -> float | None:
    """Seconds from the first call's start until ``capacity`` calls ran at once; None if never."""
    events = sorted(
        [(call.started_at, 1) for call in calls] + [(call.finished_at, -1) for call in calls],
        key=lambda event: (event[0], event[1]),  # an end before a start at the same moment
    )
    if not events:
        return None
    running = 0
    for when, change in events:
        running += change
        if running >= capacity:
            return when - events[0][0]
    return None

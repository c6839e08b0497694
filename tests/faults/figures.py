"""The numbers each fault scenario reports, computed from the PBX's call log: no I/O.

Times are epoch seconds, the clock the simulator stamps calls with.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from consumer.sandbox.simulator.state import AppliedUpdate, Call

Event = tuple[str, str]
"""(lead id, Seq): one produced event."""
Place = tuple[int, int]
"""(partition, offset) where an event was produced."""


@dataclass(frozen=True, slots=True)
class KillFigures:
    """What one SIGKILL could make the next owner send again, and what it did."""

    at: float
    in_flight: int
    """Calls executing at the PBX at the kill."""
    finished_after_commit: int
    """Events applied before the kill at or above their partition's committed offset."""
    duplicates: int
    """Applications by the next process of events an earlier process had applied."""
    finished_recently: int = 0
    """Events the killed process finished in the last ``recent_window_s`` before the kill:
    what its progress record may not carry yet (it is written every 100 ms)."""

    @property
    def bound(self) -> int:
        """Without the progress topic: everything finished above the commit, and the calls."""
        return self.in_flight + self.finished_after_commit

    @property
    def progress_bound(self) -> int:
        """With it: the calls on the wire and what finished since the last progress write."""
        return self.in_flight + self.finished_recently


def max_overlap(calls: Iterable[Call], *, started_after: float = 0.0) -> int:
    """The most calls, of those started after ``started_after``, executing at once."""
    edges: list[tuple[float, int]] = []
    for call in calls:
        if call.started_at > started_after and call.finished_at is not None:
            edges += [(call.started_at, 1), (call.finished_at, -1)]
    best = running = 0
    for _, step in sorted(edges):  # an end sorts before a start at the same instant
        running += step
        best = max(best, running)
    return best


def executing_at(calls: Iterable[Call], at: float) -> int:
    return sum(
        1 for c in calls if c.started_at <= at and (c.finished_at is None or c.finished_at > at)
    )


def kill_figures(
    kills: Sequence[float],
    calls: Iterable[Call],
    applied: Mapping[str, Sequence[AppliedUpdate]],
    places: Mapping[Event, Place],
    committed_at_kill: Sequence[Mapping[int, int | None]],
    incarnation: Callable[[AppliedUpdate], int],
    partitions: Set[int] | None = None,
    silent_until: Sequence[float] | None = None,
    recent_window_s: float = 0.0,
) -> list[KillFigures]:
    """Figures for each kill of process ``k`` at ``kills[k]``, replaced by process ``k + 1``.

    ``incarnation`` tells which process sent an applied update (the tests give
    each its own ``fAllocationId``); ``committed_at_kill[k]`` was read after
    kill ``k``; ``partitions``: count only events (and calls) of these;
    ``silent_until[k]``: until when process ``k`` surely sent nothing new (a
    frozen process is thawed then; by default it never sends again);
    ``recent_window_s``: how far back from a kill ``finished_recently`` counts.
    """
    lead_partition = {lead: partition for (lead, _), (partition, _) in places.items()}

    def counted(lead: str | None) -> bool:
        return partitions is None or lead_partition.get(lead or "") in partitions

    calls = [c for c in calls if counted(c.lead_id)]
    updates = [
        (event, u)
        for lead, history in applied.items()
        if counted(lead)
        for u in history
        for event in [(lead, str(u.body.get("Seq")))]
    ]
    figures = []
    for k, at in enumerate(kills):
        committed = committed_at_kill[k]
        # Sent before the kill but seen by the PBX only after it: in flight as well.
        until = silent_until[k] if silent_until is not None else float("inf")
        arrived_late = sum(
            1 for _, u in updates if incarnation(u) == k and at < u.started_at <= until
        )
        after_commit = {
            event
            for event, u in updates
            if u.finished_at <= at and places[event][1] >= (committed.get(places[event][0]) or 0)
        }
        earlier = {event for event, u in updates if incarnation(u) <= k}
        resent = sum(1 for event, u in updates if incarnation(u) == k + 1 and event in earlier)
        in_flight = executing_at(calls, at) + arrived_late
        recently = sum(
            1
            for _, u in updates
            if incarnation(u) == k and at - recent_window_s < u.finished_at <= at
        )
        figures.append(KillFigures(at, in_flight, len(after_commit), resent, recently))
    return figures


def retry_gaps(attempts: Mapping[Event, Sequence[tuple[float, int]]]) -> list[float]:
    """For each event answered 429: seconds from that answer to its next attempt.

    ``attempts``: per event, (time, status) of each attempt in order, the time of
    a 429 being when it was answered and of any other when it arrived.
    """
    gaps = []
    for tries in attempts.values():
        for (answered, status), (arrived, _) in itertools.pairwise(tries):
            if status == 429:
                gaps.append(arrived - answered)
    return gaps


def increments(samples: Sequence[tuple[float, int]]) -> list[float]:
    """When a sampled counter went up, one entry per unit."""
    times: list[float] = []
    for (_, before), (at, after) in itertools.pairwise(samples):
        times += [at] * max(0, after - before)
    return times


def went_backwards(samples: Sequence[tuple[float, Mapping[int, int | None]]]) -> list[str]:
    """Every time a sampled committed offset moved back."""
    problems = []
    highest: dict[int, int] = {}
    for at, offsets in samples:
        for partition, offset in offsets.items():
            if offset is None:
                continue
            if offset < highest.get(partition, -1):
                problems.append(
                    f"partition {partition} went back to {offset} from {highest[partition]} "
                    f"at {at:.2f}"
                )
            highest[partition] = max(highest.get(partition, -1), offset)
    return problems

"""Back-pressure: which partitions to pause so memory and duplicates stay bounded.

Two limits, decided by a pure function and carried out against the consumer:
every partition pauses once ``max_in_flight`` events are unfinished (resuming
below half of it, so pauses don't flap), and a single partition stops taking
records once ``max_ahead`` of its events are taken and not yet committed, finished
or not (one lead stuck in retries must not let a crash re-send an unbounded
number of finished events). That bound is strict: intake checks it before each
record (``may_take``), not only between fetches, so a crash re-sends at most
``max_ahead`` events of a partition. It never deadlocks: events taken finish
without more intake, and once none is unfinished a commit can cover them all.

aiokafka forgets pauses on every rebalance, so the pipeline calls ``reset()``
from its assignment callback and the next ``apply`` pauses again what must be.
Records fetched for a partition before it was paused are dropped by aiokafka,
so resuming seeks back to the first offset not yet taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Protocol

from aiokafka import TopicPartition


@dataclass(frozen=True, slots=True)
class FlowDecision:
    all_paused: bool
    paused: frozenset[TopicPartition]
    room: int
    """How many more records intake may take now."""


def decide(
    *,
    max_in_flight: int,
    max_ahead: int,
    pending: int,
    uncommitted: Mapping[TopicPartition, int],
    assigned: Set[TopicPartition],
    all_paused: bool,
    held: Set[TopicPartition] = frozenset(),
) -> FlowDecision:
    """``uncommitted``: per partition, events taken and not committed (see ``may_take``);
    ``held`` are partitions paused for another reason (an open breaker, a handover)."""
    all_paused = pending > max_in_flight // 2 if all_paused else pending >= max_in_flight
    if all_paused:
        paused = frozenset(assigned)
    else:
        paused = frozenset(
            tp for tp in assigned if not may_take(uncommitted.get(tp, 0), max_ahead) or tp in held
        )
    return FlowDecision(all_paused, paused, max(0, max_in_flight - pending))


def may_take(uncommitted: int, max_ahead: int) -> bool:
    """Whether a partition with ``uncommitted`` events taken and not yet committed may
    take one more: after it, a crash would re-send at most ``max_ahead`` of them."""
    return uncommitted < max_ahead


class Pausable(Protocol):
    def assignment(self) -> Set[TopicPartition]: ...
    def pause(self, *partitions: TopicPartition) -> None: ...
    def resume(self, *partitions: TopicPartition) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...


class Resumable(Protocol):
    @property
    def next_offset(self) -> int | None:
        """One past the last offset taken: where fetching resumes."""
        ...


class AheadSource(Protocol):
    @property
    def pending_total(self) -> int: ...
    def ahead(self, key: TopicPartition) -> int: ...
    def pending(self, key: TopicPartition) -> int: ...


class FlowControl:
    def __init__(self, max_in_flight: int, max_ahead: int) -> None:
        self.max_in_flight = max_in_flight
        self.max_ahead = max_ahead
        self.held: set[TopicPartition] = set()
        self._all_paused = False
        self._paused: frozenset[TopicPartition] = frozenset()

    @property
    def paused(self) -> frozenset[TopicPartition]:
        return self._paused

    def reset(self) -> None:
        self._all_paused = False
        self._paused = frozenset()

    def may_take(self, tracker: AheadSource, tp: TopicPartition) -> bool:
        """Whether intake may take one more record of ``tp`` now."""
        return may_take(_uncommitted(tracker, tp), self.max_ahead)

    def apply(
        self,
        consumer: Pausable,
        assignments: Mapping[TopicPartition, Resumable],
        tracker: AheadSource,
    ) -> int:
        decision = decide(
            max_in_flight=self.max_in_flight,
            max_ahead=self.max_ahead,
            pending=tracker.pending_total,
            uncommitted={tp: _uncommitted(tracker, tp) for tp in assignments},
            assigned=assignments.keys(),
            all_paused=self._all_paused,
            held=self.held,
        )
        # The consumer's own assignment may already have moved on (a rebalance under
        # way, or this member found it was kicked out): only touch what it still has.
        current = consumer.assignment()
        to_pause = (decision.paused - self._paused) & current
        to_resume = (self._paused - decision.paused) & assignments.keys() & current
        if to_pause:
            consumer.pause(*to_pause)
        for tp in to_resume:
            next_offset = assignments[tp].next_offset
            if next_offset is not None:
                consumer.seek(tp, next_offset)
        if to_resume:
            consumer.resume(*to_resume)
        self._all_paused = decision.all_paused
        self._paused = decision.paused
        return decision.room


def _uncommitted(tracker: AheadSource, tp: TopicPartition) -> int:
    """Taken and not committed: finished above the commit (``ahead``) or unfinished."""
    return tracker.ahead(tp) + tracker.pending(tp)

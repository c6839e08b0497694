"""Back-pressure: which partitions to pause so memory and duplicates stay bounded.

Two limits, decided by a pure function and carried out against the consumer:
every partition pauses once ``max_in_flight`` events are unfinished (resuming
below half of it, so pauses don't flap), and a single partition pauses once its
finished-but-uncommittable work reaches ``max_ahead`` (one lead stuck in retries
must not let a crash re-send an unbounded number of finished events).

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

from consumer.assignment import Assignment


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
    ahead: Mapping[TopicPartition, int],
    assigned: Set[TopicPartition],
    all_paused: bool,
    held: Set[TopicPartition] = frozenset(),
) -> FlowDecision:
    """``held`` are partitions paused for another reason (an open breaker)."""
    all_paused = pending > max_in_flight // 2 if all_paused else pending >= max_in_flight
    if all_paused:
        paused = frozenset(assigned)
    else:
        paused = frozenset(tp for tp in assigned if ahead.get(tp, 0) >= max_ahead or tp in held)
    return FlowDecision(all_paused, paused, max(0, max_in_flight - pending))


class Pausable(Protocol):
    def pause(self, *partitions: TopicPartition) -> None: ...
    def resume(self, *partitions: TopicPartition) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...


class AheadSource(Protocol):
    @property
    def pending_total(self) -> int: ...
    def ahead(self, key: TopicPartition) -> int: ...


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

    def apply(
        self,
        consumer: Pausable,
        assignments: Mapping[TopicPartition, Assignment],
        tracker: AheadSource,
    ) -> int:
        decision = decide(
            max_in_flight=self.max_in_flight,
            max_ahead=self.max_ahead,
            pending=tracker.pending_total,
            ahead={tp: tracker.ahead(tp) for tp in assignments},
            assigned=assignments.keys(),
            all_paused=self._all_paused,
            held=self.held,
        )
        to_pause = decision.paused - self._paused
        to_resume = (self._paused - decision.paused) & assignments.keys()
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

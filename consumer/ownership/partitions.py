"""What the service holds for one assigned partition, and the unit of work it carries.

Every assignment is a new object, so work taken under an earlier assignment of
the same partition can never mark offsets done under a later one (aiokafka's
eager rebalances revoke and re-assign every partition each time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumer.intake.preparing import Ready
from contracts.deadletter import Failure
from contracts.events import LeadChange


@dataclass(slots=True, eq=False)
class Assignment:
    tp: TopicPartition
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when nothing more of this partition may begin (a rebalance under way, the
    drain deadline, a fatal error); calls already on the wire still finish."""
    draining: bool = False
    highest_begun: int = -1
    """Highest offset whose processing began: a drain finishes everything up to it."""
    sending: int = 0
    """Work items of this partition past ``begin``: a call on the wire, the handling of
    its answer, or a dead letter being written. A fenced drain waits for these only."""
    ready_at: float = 0.0
    """``time.monotonic()`` before which intake takes nothing of this partition (the
    handover wait after an assignment, see ``consumer.ownership.handover``)."""
    next_offset: int | None = None
    """One past the last offset taken: where to seek when resuming."""
    alive: Callable[[], bool] = lambda: True
    """False when this process may have lost its group membership unnoticed (it was
    frozen past the session timeout): then nothing may begin until it knows."""

    @property
    def taking(self) -> bool:
        return not self.draining and not self.stop.is_set()

    def handed_over(self, now: float) -> bool:
        """Whether the handover wait after the assignment has passed (``now``: monotonic)."""
        return now >= self.ready_at

    def may_begin(self, offset: int) -> bool:
        """Whether work at ``offset`` may start now.

        While draining, only offsets below the highest begun one may start: they
        must finish so the commit covers every event already applied after them
        (otherwise a restart re-sends those). Later ones are left for the next owner.
        """
        if self.stop.is_set():
            return False
        return not self.draining or offset <= self.highest_begun

    def begin(self, offset: int) -> bool:
        """Claim ``offset`` for sending now, if it may begin; keeps ``highest_begun``.

        Called once a call has its throttle slot, so events still queued for the
        PBX do not count as begun and a drain need not wait for them.
        """
        if not self.may_begin(offset) or not self.alive():
            return False
        self.highest_begun = max(self.highest_begun, offset)
        return True

    @contextmanager
    def in_progress(self) -> Iterator[None]:
        """Counts as ``sending`` while the block runs (a dead letter being written)."""
        self.sending += 1
        try:
            yield
        finally:
            self.sending -= 1


@dataclass(slots=True, eq=False)
class Work:
    """One record taken into a lane: ready to send, or to be set aside (``failure``)."""

    assignment: Assignment
    record: ConsumerRecord[bytes, bytes]
    ready: Ready | None = None
    failure: Failure | None = None

    @property
    def offset(self) -> int:
        return int(self.record.offset)

    @property
    def event(self) -> LeadChange:
        """The event of a ready item (only ready items reach a lead's lane)."""
        if self.ready is None:
            raise ValueError(f"record at offset {self.offset} became no event")
        return self.ready.event


def names(tps: Iterable[TopicPartition]) -> str:
    """Partitions as the logs name them: ``topic[3], topic[7]`` (or ``none``)."""
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)) or "none"

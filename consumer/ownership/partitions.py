"""The partition table: every partition this process owns, in one place, with its state.

Each partition moves one way through its states::

    TAKING ──(a handover begins)──▶ DRAINING ──(deadline, outage, rebalance)──▶ FENCED
       │                               │                                          │
       └──────────(a fence at once)────┴──────────────▶ FENCED ──(released)──▶ RELEASED

- ``TAKING``: records are taken and work on them begins;
- ``DRAINING``: nothing new is taken; work at or below the highest offset begun
  still begins, so a commit can cover everything already applied;
- ``FENCED``: nothing more begins; only calls already on the wire finish;
- ``RELEASED``: no longer ours: nothing done under it counts any more.

Every assignment is a new ``Partition``, so work taken under an earlier assignment
of the same partition can never mark offsets done under a later one (aiokafka's
eager rebalances revoke and re-assign every partition each time). Only this
module changes a partition's state or the table; the rest asks it. Plain
bookkeeping without awaits, in the manner of aiokafka's ``SubscriptionState``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from types import TracebackType

from aiokafka import TopicPartition

from consumer.ownership.offsets import PartitionOffsets
from consumer.ownership.record_times import RecordTimes


class PartitionState(StrEnum):
    TAKING = "taking"
    DRAINING = "draining"
    FENCED = "fenced"
    RELEASED = "released"


class _Sending:
    """Counts a work item as on the wire for as long as the block runs."""

    __slots__ = ("_partition",)

    def __init__(self, partition: Partition) -> None:
        self._partition = partition

    def __enter__(self) -> None:
        self._partition._sending += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._partition._sending -= 1


class Partition:
    """One assigned partition: its state, its offsets, and what may still begin."""

    __slots__ = (
        "_sending",
        "_times",
        "alive",
        "highest_begun",
        "next_offset",
        "offsets",
        "ready_at",
        "state",
        "stop",
        "tp",
    )

    def __init__(
        self,
        tp: TopicPartition,
        *,
        ready_at: float = 0.0,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        """``ready_at``: ``time.monotonic()`` before which nothing is taken (the handover
        wait, ``consumer.ownership.handover``); ``alive``: False when this process may
        have lost its membership unnoticed (frozen past its session)."""
        self.tp = tp
        self.ready_at = ready_at
        self.alive = alive
        self.state = PartitionState.TAKING
        self.stop = asyncio.Event()
        """Set once nothing more may begin (FENCED or RELEASED): waits look at it."""
        self.highest_begun = -1
        """Highest offset whose processing began: a drain finishes everything up to it."""
        self.next_offset: int | None = None
        """One past the last offset taken: where fetching resumes."""
        self.offsets: PartitionOffsets | None = None
        """Done-offset bookkeeping, from the first record taken on."""
        self._sending = 0
        self._times = RecordTimes()

    def __repr__(self) -> str:
        return f"Partition({self.tp.topic}[{self.tp.partition}], {self.state})"

    # -- what may happen now ------------------------------------------------------

    @property
    def taking(self) -> bool:
        return self.state is PartitionState.TAKING

    @property
    def on_the_wire(self) -> int:
        """Work items past ``begin`` and not settled: a call, its answer being handled, a
        dead letter being written. A fenced drain waits for these only."""
        return self._sending

    def handed_over(self, now: float) -> bool:
        """Whether the handover wait after the assignment has passed (``now``: monotonic)."""
        return now >= self.ready_at

    def may_begin(self, offset: int) -> bool:
        """Whether work at ``offset`` may start now.

        While draining, only offsets below the highest begun one may start: they
        must finish so the commit covers every event already applied after them
        (otherwise a restart re-sends those). Later ones are left for the next owner.
        """
        state = self.state
        if state is PartitionState.TAKING:
            return True
        return state is PartitionState.DRAINING and offset <= self.highest_begun

    def begin(self, offset: int) -> bool:
        """Claim ``offset`` for sending now, if it may begin; keeps ``highest_begun``.

        Called once a call has its throttle slot, so events still queued for the
        PBX do not count as begun and a drain need not wait for them.
        """
        if not self.may_begin(offset) or not self.alive():
            return False
        self.highest_begun = max(self.highest_begun, offset)
        return True

    def sending(self) -> _Sending:
        """``with partition.sending():`` counts the block as on the wire."""
        return _Sending(self)

    # -- records in and done --------------------------------------------------------

    def take(self, offset: int, timestamp_ms: int | None = None) -> None:
        """The record at ``offset`` (Kafka timestamp ``timestamp_ms``) was taken into work."""
        if self.offsets is None:
            self.offsets = PartitionOffsets(offset)
        self.offsets.started(offset)
        self.next_offset = offset + 1
        self._times.taken(offset, timestamp_ms, self.first_unfinished())

    def oldest_unfinished_timestamp(self) -> int | None:
        """The Kafka timestamp (ms) of the first unfinished record, if any and known."""
        return self._times.at(self.first_unfinished())

    def first_unfinished(self) -> int | None:
        return None if self.offsets is None else self.offsets.first_unfinished()

    @property
    def pending(self) -> int:
        return 0 if self.offsets is None else self.offsets.pending

    @property
    def ahead(self) -> int:
        return 0 if self.offsets is None else self.offsets.ahead

    # -- state changes (the table and the handover make them) -----------------------

    def drain(self) -> None:
        if self.state is PartitionState.TAKING:
            self.state = PartitionState.DRAINING

    def fence(self) -> bool:
        """Begin nothing more; True when this changed the state."""
        if self.state in (PartitionState.FENCED, PartitionState.RELEASED):
            return False
        self.state = PartitionState.FENCED
        self.stop.set()
        return True

    def _release(self) -> None:
        self.state = PartitionState.RELEASED
        self.stop.set()


class PartitionTable:
    """The partitions this process owns now, by ``TopicPartition``."""

    __slots__ = ("_partitions",)

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, Partition] = {}

    def assign(
        self,
        tps: Iterable[TopicPartition],
        *,
        ready_at: float = 0.0,
        alive: Callable[[], bool] = lambda: True,
    ) -> list[Partition]:
        """Own ``tps`` from now on, each as a new ``Partition`` (a partition owned
        already is released first: work of the old assignment counts no more)."""
        added = []
        for tp in tps:
            old = self._partitions.pop(tp, None)
            if old is not None:
                old._release()
            self._partitions[tp] = partition = Partition(tp, ready_at=ready_at, alive=alive)
            added.append(partition)
        return added

    def release(self, partition: Partition) -> bool:
        """Forget ``partition``; False when it was not the current one (already released)."""
        if self._partitions.get(partition.tp) is not partition:
            return False
        del self._partitions[partition.tp]
        partition._release()
        return True

    def release_all(self) -> list[Partition]:
        released = list(self._partitions.values())
        for partition in released:
            self.release(partition)
        return released

    def fence_all(self) -> None:
        for partition in self._partitions.values():
            partition.fence()

    def is_current(self, partition: Partition) -> bool:
        return self._partitions.get(partition.tp) is partition

    def get(self, tp: TopicPartition) -> Partition | None:
        return self._partitions.get(tp)

    def done(self, partition: Partition, offset: int) -> None:
        """``offset`` of ``partition`` was applied or dead-lettered. Ignored for a released
        partition: work that outlived its revocation must not mark the next owner's."""
        if partition.offsets is not None and self._partitions.get(partition.tp) is partition:
            partition.offsets.done(offset)

    # -- commits -----------------------------------------------------------------

    def commit_offsets(self) -> dict[TopicPartition, int]:
        """What to commit: only the partitions whose commit point moved since the last."""
        offsets = {}
        for tp, partition in self._partitions.items():
            tracked = partition.offsets
            offset = None if tracked is None else tracked.committable()
            if offset is not None:
                offsets[tp] = offset
        return offsets

    def mark_committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Record a successful commit; partitions released in the meantime are ignored."""
        for tp, offset in offsets.items():
            partition = self._partitions.get(tp)
            if partition is not None and partition.offsets is not None:
                partition.offsets.mark_committed(offset)

    # -- reading --------------------------------------------------------------------

    @property
    def pending_total(self) -> int:
        """Unfinished events over every owned partition."""
        return sum(partition.pending for partition in self._partitions.values())

    def pending(self, tp: TopicPartition) -> int:
        partition = self._partitions.get(tp)
        return 0 if partition is None else partition.pending

    def ahead(self, tp: TopicPartition) -> int:
        partition = self._partitions.get(tp)
        return 0 if partition is None else partition.ahead

    @property
    def tps(self) -> frozenset[TopicPartition]:
        return frozenset(self._partitions)

    def __iter__(self) -> Iterator[Partition]:
        return iter(list(self._partitions.values()))

    def __len__(self) -> int:
        return len(self._partitions)

    def __contains__(self, tp: object) -> bool:
        return tp in self._partitions


def names(tps: Iterable[TopicPartition]) -> str:
    """Partitions as the logs name them: ``topic[3], topic[7]`` (or ``none``)."""
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)) or "none"

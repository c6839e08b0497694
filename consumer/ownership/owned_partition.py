"""One partition this process owns: its state, its offsets, and what may still begin.

Each partition moves one way through its states::

    TAKING ──(a handover begins)──▶ DRAINING ──(deadline, outage, rebalance)──▶ FENCED
       │                               │                                          │
       └──────────(a fence at once)────┴──────────────▶ FENCED ──(released)──▶ RELEASED

- ``TAKING``: records are taken and work on them begins;
- ``DRAINING``: nothing new is taken; work at or below the highest offset begun
  still begins, so a commit can cover everything already applied;
- ``FENCED``: nothing more begins; only calls already on the wire finish;
- ``RELEASED``: no longer ours: nothing done under it counts any more.

Only these methods change a partition's state; ``consumer.ownership.partition_table``
holds the partitions owned now. Plain bookkeeping without awaits, in the manner of
aiokafka's ``SubscriptionState``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum
from types import TracebackType

from aiokafka import TopicPartition

from consumer.ownership.offsets import PartitionOffsets
from consumer.ownership.record_times import RecordTimes
from consumer.ownership.resume_point import ResumePoint


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
        "changes",
        "highest_begun",
        "loaded",
        "next_offset",
        "offsets",
        "ready_at",
        "resumed_from",
        "state",
        "stop",
        "tp",
        "written",
    )

    def __init__(
        self,
        tp: TopicPartition,
        *,
        ready_at: float = 0.0,
        alive: Callable[[], bool] = lambda: True,
        loaded: bool = True,
    ) -> None:
        """``ready_at``: ``time.monotonic()`` before which nothing is taken (the handover
        wait, ``consumer.ownership.handover``); ``alive``: False when this process may
        have lost its membership unnoticed (frozen past its session); ``loaded``: False
        until the earlier owners' progress was read (``consumer.ownership.progress_log``)."""
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
        self.loaded = loaded
        """Whether the earlier owners' progress was read (nothing is taken before)."""
        self.resumed_from: ResumePoint | None = None
        """The newest progress an earlier owner left: offsets it finished are skipped."""
        self.changes = 0
        """Events finished so far: the progress to persist moved when this did."""
        self.written = 0
        """``changes`` as of the last progress written."""
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

    def already_finished(self, offset: int) -> bool:
        """Whether an earlier owner finished ``offset`` (it is done without a call)."""
        resumed = self.resumed_from
        return resumed is not None and resumed.is_finished(offset)

    def resume_point(self, group: str, generation: int) -> ResumePoint | None:
        """What a next owner needs to skip this partition's finished events; None before
        anything was taken (the earlier owner's point, if any, still stands)."""
        tracked = self.offsets
        if tracked is None:
            return None
        done_below = tracked.watermark
        finished = set(tracked.finished_above())
        resumed, taken_to = self.resumed_from, self.next_offset or done_below
        if resumed is not None:
            # What the earlier owner finished beyond what this one has taken yet.
            finished.update(o for o in resumed.finished if o >= taken_to)
            finished.update(range(max(done_below, taken_to), resumed.done_below))
        return ResumePoint(
            group=group,
            topic=self.tp.topic,
            partition=self.tp.partition,
            generation=generation,
            done_below=done_below,
            finished=frozenset(finished),
            committed=tracked.committed,
        )

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

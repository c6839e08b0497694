"""Which offsets of one owned partition are done, and what a commit may store.

Plain bookkeeping without awaits, in the manner of aiokafka's
``subscription_state``. Kafka commits a single position per partition, "every
offset below this is handled", while events finish in any order (lanes run
concurrently, retries take minutes). So the commit point is the lowest offset
taken into work and not yet finished (applied or dead-lettered), or one past
the last offset taken when all are finished. What a crash would make the next
owner send again is every event taken since the last commit: the unfinished
ones (``pending``) and the finished ones not yet covered by a commit (``ahead``).

Offsets arrive increasing but not contiguous: compaction and transaction
markers leave gaps, and a gap holds no event, so it never holds the commit
point back. Each event costs O(1) amortised: a deque of started offsets in
order, a set of the unfinished ones; finished offsets leave from the front, into
a deque of those not yet committed.
"""

from __future__ import annotations

from collections import deque


class PartitionOffsets:
    """Done-offset bookkeeping for one partition."""

    __slots__ = ("_committed", "_floor", "_order", "_settled", "_unfinished")

    def __init__(self, start: int) -> None:
        """``start``: the position fetching resumes from (the committed offset)."""
        if start < 0:
            raise ValueError(f"a partition position is never negative, not {start}")
        self._floor = start
        """Every offset below it is done or was never ours; the next started is >= it."""
        self._committed = start
        self._order: deque[int] = deque()
        """Started offsets from the lowest unfinished one on, increasing; empty if all done."""
        self._unfinished: set[int] = set()
        self._settled: deque[int] = deque()
        """Finished offsets below the watermark and at or above the committed offset."""

    @property
    def watermark(self) -> int:
        """Every started offset below this is done: the offset a commit now would store."""
        return self._order[0] if self._order else self._floor

    @property
    def committed(self) -> int:
        """The last offset passed to ``mark_committed`` (initially ``start``)."""
        return self._committed

    @property
    def pending(self) -> int:
        """Events started and not yet done."""
        return len(self._unfinished)

    @property
    def ahead(self) -> int:
        """Finished events not yet committed: what a crash now would surely send twice.

        Those above the watermark, which no commit can cover while an event below
        them is unfinished, and those below it that the next commit will cover.
        """
        return len(self._settled) + len(self._order) - len(self._unfinished)

    def started(self, offset: int) -> None:
        """Record that the event at ``offset`` was taken into work.

        Offsets must increase: a repeat or a step back means the fetch position
        moved without this tracker knowing (use ``rewind`` before seeking back).
        """
        if offset < self._floor:
            raise ValueError(
                f"offset {offset} started after offsets up to {self._floor - 1} were "
                "taken; seek back with rewind() first"
            )
        self._floor = offset + 1
        self._order.append(offset)
        self._unfinished.add(offset)

    def done(self, offset: int) -> bool:
        """Mark a started event finished, in any order. False when it was not pending.

        (Never started, already done, or forgotten by ``rewind``: nothing changes.)
        """
        try:
            self._unfinished.remove(offset)
        except KeyError:
            return False
        order = self._order
        while order and order[0] not in self._unfinished:
            self._settled.append(order.popleft())
        return True

    def committable(self) -> int | None:
        """The offset to commit now, or None when it would not move the commit forward."""
        watermark = self.watermark
        return watermark if watermark > self._committed else None

    def mark_committed(self, offset: int) -> None:
        """Record that the broker stored ``offset``; a commit never moves backwards."""
        self._committed = max(self._committed, offset)
        settled = self._settled
        while settled and settled[0] < self._committed:
            settled.popleft()

    def first_unfinished(self) -> int | None:
        """The lowest started offset not yet done, or None when every one is done."""
        return self._order[0] if self._order else None

    def finished_above(self) -> list[int]:
        """Finished offsets above the watermark, in order: what no commit can carry while
        an event below them is unfinished, and a next owner would send again."""
        unfinished = self._unfinished
        return [offset for offset in self._order if offset not in unfinished]

    def rewind(self) -> int:
        """Forget everything from the first unfinished offset on; return where to seek.

        For dropping buffered work: after ``consumer.seek(tp, rewind())`` the same
        offsets are fetched and started again. Finished work among them (at most
        ``ahead`` events) is sent again; nothing below the result is touched.
        """
        self._floor = self.watermark
        self._order.clear()
        self._unfinished.clear()
        return self._floor

    def __repr__(self) -> str:
        return (
            f"PartitionOffsets(watermark={self.watermark}, committed={self._committed}, "
            f"pending={self.pending}, ahead={self.ahead})"
        )

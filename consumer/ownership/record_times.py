"""The Kafka timestamps of one partition's records, from its first unfinished one on.

For ``leadsync_oldest_unfinished_age_seconds``: how old is the record that holds
the partition's commit back. Records are taken in offset order, so a deque of
``(offset, timestamp)`` whose front is dropped once finished keeps only the
records from the first unfinished one on: bounded by what intake may take
ahead of a commit (``LEADSYNC_MAX_AHEAD_PER_PARTITION``), O(1) amortised each.
"""

from __future__ import annotations

from collections import deque


class RecordTimes:
    __slots__ = ("_taken",)

    def __init__(self) -> None:
        self._taken: deque[tuple[int, int | None]] = deque()

    def taken(self, offset: int, timestamp_ms: int | None, first_unfinished: int | None) -> None:
        """The record at ``offset`` was taken; a negative timestamp is Kafka's "none"."""
        taken = self._taken
        if taken and taken[-1][0] >= offset:
            taken.clear()  # fetching moved back: what was taken before counts no more
        known = timestamp_ms if timestamp_ms is not None and timestamp_ms >= 0 else None
        taken.append((offset, known))
        self.at(first_unfinished)

    def at(self, first_unfinished: int | None) -> int | None:
        """The timestamp (ms) of the record at ``first_unfinished``, if any and known."""
        taken = self._taken
        while taken and (first_unfinished is None or taken[0][0] < first_unfinished):
            taken.popleft()
        return taken[0][1] if taken and taken[0][0] == first_unfinished else None

    def __len__(self) -> int:
        return len(self._taken)

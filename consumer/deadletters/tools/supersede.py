"""The superseded guard and the idempotence check: what a scan of the source topic found.

A replay is appended at the end of the event's source partition, so the
service applies it after every event already there. If the same lead has a
newer event there that was not itself dead-lettered (applied already, or not
yet processed and so applied before the replay), the replay would overwrite
newer data in the dialler and re-run an old disposition: that dead letter is
superseded.

"Newer" compares where events first entered the partition: a replay record
carries its origin offset (``leadsync.replay.origin_offset``), so replaying an
old event late does not make it newer than the events the CRM sent after it.

Pure: the I/O reads the records and hands each to ``SourceIndex.add``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from consumer.deadletters.tools.letters import (
    REPLAY_ORIGIN_OFFSET,
    DeadLetter,
    header_int,
    lead_of,
    replayed_letter,
)


@dataclass(frozen=True, slots=True)
class Newest:
    """A lead's newest live event in one partition."""

    origin_offset: int
    offset: int
    """Where the record itself sits (differs from the origin for a replay)."""


class SourceIndex:
    """What one pass over the source partitions learnt about the selected dead letters."""

    def __init__(self, letters: Iterable[DeadLetter], dead_lettered: Iterable[tuple[int, int]]):
        """``dead_lettered``: every (partition, offset) of the source topic found in the DLQ."""
        self._dead_lettered = frozenset(dead_lettered)
        self._leads: dict[int, set[str]] = {}
        self.starts: dict[int, int] = {}
        """Per source partition, the first offset the scan must read."""
        for letter in letters:
            origin = letter.logical_offset
            if letter.source is None or origin is None:
                continue
            partition = letter.source.partition
            # Every letter's range is scanned, also one without a lead (no key, a value
            # that is not JSON): its earlier replays must be found there too.
            self.starts[partition] = min(self.starts.get(partition, origin + 1), origin + 1)
            if letter.lead_id is not None:
                self._leads.setdefault(partition, set()).add(letter.lead_id)
        self.first_seen: dict[int, int] = {}
        """Per partition, the first offset the scan actually found (retention may have cut)."""
        self.newest: dict[tuple[int, str], Newest] = {}
        self.replayed: set[tuple[int, int]] = set()
        """(DLQ partition, offset) of every dead letter found replayed."""

    def add(
        self,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]],
    ) -> None:
        """Take in one source record (any order across partitions, offset order within)."""
        self.first_seen.setdefault(partition, offset)
        if headers:
            replayed = replayed_letter(headers)
            if replayed is not None:
                self.replayed.add(replayed)
        if (partition, offset) in self._dead_lettered:
            return  # it failed too: it changed nothing in the dialler
        leads = self._leads.get(partition)
        if not leads:
            return
        lead = lead_of(key, value)
        if lead not in leads:
            return
        origin = header_int(headers, REPLAY_ORIGIN_OFFSET) if headers else None
        origin = offset if origin is None else origin
        current = self.newest.get((partition, lead))
        if current is None or origin > current.origin_offset:
            self.newest[(partition, lead)] = Newest(origin, offset)

    def newer_than(self, letter: DeadLetter) -> Newest | None:
        """The lead's newest live event after this dead letter's, if there is one."""
        origin = letter.logical_offset
        if letter.source is None or origin is None or letter.lead_id is None:
            return None
        newest = self.newest.get((letter.source.partition, letter.lead_id))
        return newest if newest is not None and newest.origin_offset > origin else None

    def blind_spots(self, topic: str, ends: Mapping[int, int]) -> list[str]:
        """Ranges the scan needed but the partition no longer holds (retention deleted them):
        newer events and earlier replays there are invisible to both guards."""
        warnings = []
        for partition, start in sorted(self.starts.items()):
            first = self.first_seen.get(partition, ends.get(partition, start))
            if first > start:
                warnings.append(
                    f"{topic}[{partition}] no longer holds offsets {start}-{first - 1} "
                    "(retention?): newer events and earlier replays there cannot be seen, so "
                    "the superseded and already_replayed checks may miss them"
                )
        return warnings


def describe_newer(topic: str, partition: int, newer: Newest, committed: int | None) -> str:
    where = f"{topic}[{partition}]@{newer.offset}"
    if committed is not None and newer.offset < committed:
        return f"a newer event of the lead at {where} was applied"
    return (
        f"a newer event of the lead at {where} is not processed yet; the service applies "
        "it before any replay"
    )

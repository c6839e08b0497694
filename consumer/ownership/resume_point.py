"""Where a partition's next owner resumes, and which events above it are already finished.

A commit stores one offset per partition, but events finish in any order: the
next owner of a partition would send again every event finished above its
first unfinished one. A ``ResumePoint`` carries what a commit cannot: every
offset below ``done_below`` is finished, and so is each offset in ``finished``
above it. The owner writes one to the progress topic within a few hundred
milliseconds of events finishing, at every commit and before it lets a
partition go (``consumer.ownership.progress_log``); the next owner reads the
newest one and marks those offsets done without calling the PBX.

The encoding (pure, tested by round trips): a small JSON object whose
``finished`` field is run-length encoded, as Parallel Consumer does for its
offset map, into unsigned LEB128 varints relative to ``done_below`` (gap to
the next finished offset, then the run's length, repeated), base64 in the
JSON. It is bounded: when the runs would pass ``max_bytes``, the lowest runs
are kept and ``omitted`` counts the finished offsets left out (they are sent
again by the next owner, which is safe, only wasteful).

Which record is current: the one with the highest group ``generation``, and
of those the latest written. A record from a fenced or older owner (a process
still flushing after the group moved on) therefore never hides its
successor's.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

FORMAT: Final = 1
"""Bumped when the encoding changes; a reader ignores records of another format."""


@dataclass(frozen=True, slots=True)
class ResumePoint:
    group: str
    topic: str
    partition: int
    generation: int
    """The consumer group generation of the owner that wrote it (-1: unknown)."""
    done_below: int
    """Every offset of the partition below this is finished (applied or dead-lettered)."""
    finished: frozenset[int] = field(default_factory=frozenset)
    """Finished offsets at or above ``done_below``."""
    omitted: int = 0
    """Finished offsets left out to keep the record within its size bound."""
    committed: int = 0
    """The group's committed offset as its writer knew it. Commits never move back, so a
    record whose commit is ahead of the group's now was overtaken by an offset reset
    (an operator reprocessing): it no longer applies."""

    def is_finished(self, offset: int) -> bool:
        return offset < self.done_below or offset in self.finished

    def applies_after(self, committed: int | None) -> bool:
        """Whether this point still holds with the group's commit at ``committed``
        (None: no commit at all, as after the group's offsets were deleted)."""
        return self.committed <= (committed if committed is not None else 0)

    @property
    def key(self) -> bytes:
        return record_key(self.group, self.topic, self.partition)


def record_key(group: str, topic: str, partition: int) -> bytes:
    """The progress record's key: one per group and source partition (compaction keeps the
    newest)."""
    return json.dumps([group, topic, partition], separators=(",", ":")).encode()


def encode(point: ResumePoint, max_bytes: int) -> tuple[bytes, int]:
    """The record's value, and how many finished offsets the size bound left out."""
    above = sorted(o for o in point.finished if o >= point.done_below)
    runs = list(_runs(above))
    while True:
        left_out = len(above) - sum(length for _, length in runs)
        value = _value(point, runs, point.omitted + left_out)
        if len(value) <= max_bytes or not runs:
            return value, left_out
        # Drop the highest half of what is left: a few passes, however many runs.
        runs = runs[: len(runs) // 2]


def decode(value: bytes) -> ResumePoint | None:
    """The record as written, or None for one this version cannot read (another
    format, or bytes that are not a resume point)."""
    try:
        doc: Any = json.loads(value)
        if not isinstance(doc, dict) or doc.get("v") != FORMAT:
            return None
        done_below = int(doc["done_below"])
        numbers = list(_varints(base64.b64decode(doc.get("finished", ""), validate=True)))
        if len(numbers) % 2 or done_below < 0:
            return None
        return ResumePoint(
            group=str(doc["group"]),
            topic=str(doc["topic"]),
            partition=int(doc["partition"]),
            generation=int(doc["generation"]),
            done_below=done_below,
            finished=frozenset(_offsets(done_below, numbers)),
            omitted=int(doc.get("omitted", 0)),
            committed=int(doc.get("committed", 0)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def newer(current: ResumePoint | None, candidate: ResumePoint) -> bool:
    """Whether ``candidate`` (read after ``current``) supersedes it."""
    return current is None or candidate.generation >= current.generation


def _value(point: ResumePoint, runs: list[tuple[int, int]], omitted: int) -> bytes:
    packed = bytearray()
    previous_end = point.done_below
    for start, length in runs:
        packed += _varint(start - previous_end)
        packed += _varint(length)
        previous_end = start + length
    doc = {
        "v": FORMAT,
        "group": point.group,
        "topic": point.topic,
        "partition": point.partition,
        "generation": point.generation,
        "done_below": point.done_below,
        "committed": point.committed,
        "finished": base64.b64encode(bytes(packed)).decode(),
        "omitted": omitted,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _runs(offsets: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Sorted offsets as (first, length) runs of consecutive offsets."""
    start = length = 0
    for offset in offsets:
        if length and offset == start + length:
            length += 1
            continue
        if length:
            yield start, length
        start, length = offset, 1
    if length:
        yield start, length


def _offsets(done_below: int, numbers: list[int]) -> Iterator[int]:
    position = done_below
    for gap, length in zip(numbers[::2], numbers[1::2], strict=True):
        start = position + gap
        yield from range(start, start + length)
        position = start + length


def _varint(number: int) -> bytes:
    if number < 0:
        raise ValueError(f"a run is never negative, not {number}")
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varints(data: bytes) -> Iterator[int]:
    number = shift = 0
    for byte in data:
        number |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        yield number
        number = shift = 0
    if shift:
        raise ValueError("the runs end in the middle of a number")

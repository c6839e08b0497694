"""One dead letter as the operations tools see it: where it sits, why, what it carried.

Pure: built from a record's partition, offset, key, value and headers. The
replay headers are defined here too, because a replayed record that fails
again carries them into its next dead letter (the dead-letter writer keeps
every header it does not own), which is how the loop guard counts replays.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from contracts import deadletter as dl

# The replay provenance headers belong to the dead-letter contract; re-exported here
# (the "as" form is what mypy --strict counts as an explicit re-export).
from contracts.deadletter import REPLAY_AT as REPLAY_AT  # noqa: PLC0414
from contracts.deadletter import REPLAY_COUNT as REPLAY_COUNT  # noqa: PLC0414
from contracts.deadletter import REPLAY_DLQ_OFFSET as REPLAY_DLQ_OFFSET  # noqa: PLC0414
from contracts.deadletter import REPLAY_DLQ_PARTITION as REPLAY_DLQ_PARTITION  # noqa: PLC0414
from contracts.deadletter import REPLAY_HEADERS as REPLAY_HEADERS  # noqa: PLC0414
from contracts.deadletter import REPLAY_ORIGIN_OFFSET as REPLAY_ORIGIN_OFFSET  # noqa: PLC0414

Header = tuple[str, bytes]

_STRIPPED_PREFIXES: Final = ("leadsync.dlq.", "leadsync.source.", "leadsync.replay.")
_STRIPPED_NAMES: Final = frozenset({dl.CONSUMER_GROUP, dl.VERSION})


@dataclass(frozen=True, slots=True)
class SourcePosition:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-letter record: its own position, the reason headers, the original record."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    original_headers: tuple[Header, ...]
    """The CRM's headers (and ``traceparent``): what a replay sends again."""
    reason: str
    code: str
    http_status: str
    message: str
    attempts: str
    failed_at: datetime | None
    source: SourcePosition | None
    """None when the headers do not say where the event was read (not our dead letter)."""
    lead_id: str | None
    replay_count: int
    """Replays of this event before it failed this time (0: it failed as the CRM sent it)."""
    origin_offset: int | None
    omitted: tuple[str, ...] = ()
    """What the dead letter had to go without (``value``, ``key``, ``headers``): it was too
    large for the dead-letter topic, so it cannot be replayed as it stands."""

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def logical_offset(self) -> int | None:
        """Where the event stands in its lead's history: its first source offset."""
        if self.origin_offset is not None:
            return self.origin_offset
        return self.source.offset if self.source is not None else None


def dead_letter_of(
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]],
) -> DeadLetter:
    found = dl.parse_dead_letter_headers(headers)
    return DeadLetter(
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        original_headers=original_headers(headers),
        # Interned: a replay holds every selected letter, and these repeat across them.
        reason=sys.intern(found.get(dl.REASON, "")),
        code=sys.intern(found.get(dl.CODE, "")),
        http_status=sys.intern(found.get(dl.HTTP_STATUS, "")),
        message=found.get(dl.MESSAGE, ""),
        attempts=sys.intern(found.get(dl.ATTEMPTS, "")),
        failed_at=parse_time(found.get(dl.FAILED_AT, "")),
        source=_source_of(found),
        lead_id=lead_of(key, value),
        replay_count=header_int(headers, REPLAY_COUNT) or 0,
        origin_offset=header_int(headers, REPLAY_ORIGIN_OFFSET),
        omitted=tuple(
            part
            for part, header in (
                ("value", dl.VALUE_OMITTED),
                ("key", dl.KEY_OMITTED),
                ("headers", dl.HEADERS_OMITTED),
            )
            if header in found
        ),
    )


def original_headers(headers: Iterable[tuple[str, bytes | None]]) -> tuple[Header, ...]:
    """The headers a replay sends again: all but dead-letter, source and replay ones."""
    return tuple(
        (name, value or b"")
        for name, value in headers
        if not name.startswith(_STRIPPED_PREFIXES) and name not in _STRIPPED_NAMES
    )


def replay_headers(letter: DeadLetter, at: str) -> list[Header]:
    """The original headers plus provenance; ``at`` is an RFC 3339 UTC time."""
    origin = letter.logical_offset
    return [
        *letter.original_headers,
        (REPLAY_COUNT, str(letter.replay_count + 1).encode()),
        (REPLAY_DLQ_PARTITION, str(letter.partition).encode()),
        (REPLAY_DLQ_OFFSET, str(letter.offset).encode()),
        (REPLAY_AT, at.encode()),
        (REPLAY_ORIGIN_OFFSET, b"" if origin is None else str(origin).encode()),
    ]


def replayed_letter(headers: Iterable[tuple[str, bytes | None]]) -> tuple[int, int] | None:
    """The (DLQ partition, offset) a source record replays, or None for a CRM record."""
    values = {name: value for name, value in headers if name in REPLAY_HEADERS}
    partition = _int(values.get(REPLAY_DLQ_PARTITION))
    offset = _int(values.get(REPLAY_DLQ_OFFSET))
    return None if partition is None or offset is None else (partition, offset)


def header_int(headers: Iterable[tuple[str, bytes | None]], name: str) -> int | None:
    """The last ``name`` header as an integer, or None when absent or not a number."""
    found: bytes | None = None
    for header, value in headers:
        if header == name:
            found = value
    return _int(found)


def lead_of(key: bytes | None, value: bytes | None) -> str | None:
    """The lead an event is about: its ``lead_id`` (as the service's lanes see it), else the key.

    CloudEvents in structured mode carry the event under ``data``.
    """
    if value:
        try:
            doc = json.loads(value)
        except ValueError:  # not JSON, or not UTF-8
            doc = None
        if isinstance(doc, dict):
            lead = doc.get("lead_id")
            data = doc.get("data")
            if lead is None and isinstance(data, dict):
                lead = data.get("lead_id")
            if isinstance(lead, str) and lead:
                return lead
    return key.decode("utf-8", errors="replace") if key else None


def parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _source_of(found: dict[str, str]) -> SourcePosition | None:
    topic = found.get(dl.SOURCE_TOPIC, "")
    partition = _int(found.get(dl.SOURCE_PARTITION))
    offset = _int(found.get(dl.SOURCE_OFFSET))
    if not topic or partition is None or offset is None:
        return None
    return SourcePosition(sys.intern(topic), partition, offset)


def _int(raw: str | bytes | None) -> int | None:
    if not raw:
        return None
    try:
        number = int(raw)
    except ValueError:
        return None
    return number if number >= 0 else None

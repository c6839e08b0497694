"""Dead-letter records: the original record plus headers saying why (interface.md).

Key, value and the original headers travel unchanged, so a replay sends
exactly what the CRM sent. A replayed record that fails again carries only
its latest failure: the headers this module owns are replaced, never doubled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

REASON: Final = "leadsync.dlq.reason"
CODE: Final = "leadsync.dlq.code"
HTTP_STATUS: Final = "leadsync.dlq.http_status"
MESSAGE: Final = "leadsync.dlq.message"
RESPONSE: Final = "leadsync.dlq.response"
ATTEMPTS: Final = "leadsync.dlq.attempts"
FIRST_FAILED_AT: Final = "leadsync.dlq.first_failed_at"
FAILED_AT: Final = "leadsync.dlq.failed_at"
SOURCE_TOPIC: Final = "leadsync.source.topic"
SOURCE_PARTITION: Final = "leadsync.source.partition"
SOURCE_OFFSET: Final = "leadsync.source.offset"
SOURCE_TIMESTAMP: Final = "leadsync.source.timestamp"
"""The source record's Kafka timestamp, milliseconds since the epoch (empty when none)."""
CONSUMER_GROUP: Final = "leadsync.consumer_group"
VERSION: Final = "leadsync.version"
TRACEPARENT: Final = "traceparent"

HEADERS: Final = (
    REASON,
    CODE,
    HTTP_STATUS,
    MESSAGE,
    RESPONSE,
    ATTEMPTS,
    FIRST_FAILED_AT,
    FAILED_AT,
    SOURCE_TOPIC,
    SOURCE_PARTITION,
    SOURCE_OFFSET,
    SOURCE_TIMESTAMP,
    CONSUMER_GROUP,
    VERSION,
    TRACEPARENT,
)
"""Every header a dead letter gets, in the order they are appended."""

REPLAY_COUNT: Final = "leadsync.replay.count"
"""How many times this event has been replayed, this replay included."""
REPLAY_DLQ_PARTITION: Final = "leadsync.replay.dlq_partition"
REPLAY_DLQ_OFFSET: Final = "leadsync.replay.dlq_offset"
"""The dead letter this record replays: what makes a second replay run skip it."""
REPLAY_AT: Final = "leadsync.replay.at"
REPLAY_ORIGIN_OFFSET: Final = "leadsync.replay.origin_offset"
"""The source offset of the event as the CRM first sent it (replays are re-appended)."""

REPLAY_HEADERS: Final = (
    REPLAY_COUNT,
    REPLAY_DLQ_PARTITION,
    REPLAY_DLQ_OFFSET,
    REPLAY_AT,
    REPLAY_ORIGIN_OFFSET,
)
"""Headers ``leadsync dlq replay`` adds to a re-published record (provenance)."""

MAX_RESPONSE_BYTES: Final = 4096
_OWNED_PREFIXES: Final = ("leadsync.dlq.", "leadsync.source.")


class DeadLetterReason(StrEnum):
    """Reasons that are not a Noojee code; those travel as ``NoojeeCode.name``."""

    INVALID_EVENT = "INVALID_EVENT"
    """The record is not a valid event (not UTF-8, not JSON, a bad field)."""
    INVALID_REQUEST = "INVALID_REQUEST"
    """A valid event that cannot become a call (no campaign id, a field clashes)."""
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
    """A transient failure lasted past the retry deadline."""
    UNAUTHORIZED = "UNAUTHORIZED"
    """The PBX refused the API key (401/403)."""
    HTTP_ERROR = "HTTP_ERROR"
    """A permanent HTTP status without a Noojee code in the body."""


INVALID_EVENT: Final = DeadLetterReason.INVALID_EVENT
INVALID_REQUEST: Final = DeadLetterReason.INVALID_REQUEST
RETRIES_EXHAUSTED: Final = DeadLetterReason.RETRIES_EXHAUSTED
UNAUTHORIZED: Final = DeadLetterReason.UNAUTHORIZED
HTTP_ERROR: Final = DeadLetterReason.HTTP_ERROR


@dataclass(frozen=True, slots=True)
class DeadLetterReport:
    """Why and where one record was set aside; becomes the dead-letter headers."""

    reason: str
    """``DeadLetterReason`` or a Noojee code name (``COULDNT_FIND_THE_LEAD``, ...)."""
    message: str
    """What failed and what to do, for a person."""
    code: int | None
    http_status: int | None
    response: str
    attempts: int
    first_failed_at: datetime
    failed_at: datetime
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp_ms: int | None
    consumer_group: str
    version: str
    traceparent: str | None
    """The failed processing's trace; ``None`` keeps whatever the record carried."""

    def __post_init__(self) -> None:
        for name in ("first_failed_at", "failed_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")


def dead_letter_headers(
    original: Sequence[tuple[str, bytes]], report: DeadLetterReport
) -> list[tuple[str, bytes]]:
    """The original headers, minus earlier dead-letter ones, plus ``report``'s."""
    added = _report_headers(report)
    replaced = {name for name, _ in added}
    kept = [(name, value) for name, value in original if not _is_replaced(name, replaced)]
    return kept + added


def parse_dead_letter_headers(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """The dead-letter headers of a record, decoded (the last wins if repeated)."""
    return {
        name: (value or b"").decode("utf-8", errors="replace")
        for name, value in headers
        if name in HEADERS
    }


def truncate_utf8(text: str, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """``text`` as UTF-8, cut to at most ``limit`` bytes without splitting a character."""
    encoded = _utf8(text)
    if len(encoded) <= limit:
        return encoded
    # Dropping the bytes of a character cut in half leaves valid UTF-8.
    return encoded[:limit].decode("utf-8", errors="ignore").encode("utf-8")


def rfc3339_utc(moment: datetime) -> str:
    """``2026-11-26T10:15:00.123Z``: UTC, millisecond precision, ``Z``."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def _report_headers(report: DeadLetterReport) -> list[tuple[str, bytes]]:
    headers = [
        (REASON, _utf8(report.reason)),
        (CODE, _optional_int(report.code)),
        (HTTP_STATUS, _optional_int(report.http_status)),
        (MESSAGE, _utf8(" ".join(report.message.split()))),
        (RESPONSE, truncate_utf8(report.response)),
        (ATTEMPTS, str(report.attempts).encode()),
        (FIRST_FAILED_AT, rfc3339_utc(report.first_failed_at).encode()),
        (FAILED_AT, rfc3339_utc(report.failed_at).encode()),
        (SOURCE_TOPIC, _utf8(report.source_topic)),
        (SOURCE_PARTITION, str(report.source_partition).encode()),
        (SOURCE_OFFSET, str(report.source_offset).encode()),
        (SOURCE_TIMESTAMP, _optional_int(report.source_timestamp_ms)),
        (CONSUMER_GROUP, _utf8(report.consumer_group)),
        (VERSION, _utf8(report.version)),
    ]
    if report.traceparent is not None:
        headers.append((TRACEPARENT, _utf8(report.traceparent)))
    return headers


def _is_replaced(name: str, replaced: set[str]) -> bool:
    # The prefixes also catch stale headers a different leadsync version may have added.
    return name in replaced or name.startswith(_OWNED_PREFIXES)


def _optional_int(value: int | None) -> bytes:
    return b"" if value is None else str(value).encode()


def _utf8(text: str) -> bytes:
    # "replace": a lone surrogate (from a lossy decode upstream) must not fail the dead letter.
    return text.encode("utf-8", errors="replace")

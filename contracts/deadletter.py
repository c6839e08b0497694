"""Dead-letter records: the original record plus headers saying why.

The headers are the contract of docs/reference/dead-letter-headers.md.

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

from contracts.text import clip_utf8

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

ENDPOINT: Final = "leadsync.dlq.endpoint"
"""The PBX call that failed last (``updateLeadFast``, ``insertLeadFast``); absent when the
event never became a call."""
TRACEBACK: Final = "leadsync.dlq.traceback"
"""Where leadsync itself failed (``INTERNAL_ERROR``): the end of the Python traceback."""
VALUE_OMITTED: Final = "leadsync.dlq.value_omitted"
"""Present when the dead-letter topic refused the record as too large and it was written
without its value: the original value's size in bytes. The original stays readable
in the source topic at ``leadsync.source.*`` until retention removes it."""
KEY_OMITTED: Final = "leadsync.dlq.key_omitted"
"""Like ``VALUE_OMITTED``, for a key too large to keep: the original key's size."""
HEADERS_OMITTED: Final = "leadsync.dlq.headers_omitted"
"""Like ``VALUE_OMITTED``, when even the record's own headers were too large: their count."""

OPTIONAL_HEADERS: Final = (ENDPOINT, TRACEBACK, VALUE_OMITTED, KEY_OMITTED, HEADERS_OMITTED)
"""Headers added after ``HEADERS`` only when they apply."""

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
MAX_MESSAGE_BYTES: Final = 2048
MAX_TRACEBACK_BYTES: Final = 6144
MAX_SHORT_BYTES: Final = 200
"""Every other header value (names, times, numbers, topics, versions)."""
MAX_HEADERS_BYTES: Final = 16 * 1024
"""All the headers leadsync adds together, names and values: a bound the budgets above
keep by construction (tested), so a dead letter is never much larger than its record."""
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
    INTERNAL_ERROR = "INTERNAL_ERROR"
    """leadsync itself failed while handling the event (a bug): the traceback says where."""


INVALID_EVENT: Final = DeadLetterReason.INVALID_EVENT
INVALID_REQUEST: Final = DeadLetterReason.INVALID_REQUEST
RETRIES_EXHAUSTED: Final = DeadLetterReason.RETRIES_EXHAUSTED
UNAUTHORIZED: Final = DeadLetterReason.UNAUTHORIZED
HTTP_ERROR: Final = DeadLetterReason.HTTP_ERROR
INTERNAL_ERROR: Final = DeadLetterReason.INTERNAL_ERROR


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an event is set aside: made once, where the verdict is reached (intake,
    delivery, the lane worker), and carried unchanged into the dead letter's headers."""

    reason: str
    """``DeadLetterReason`` or a Noojee code name (``COULDNT_FIND_THE_LEAD``, ...)."""
    message: str
    """What failed and what to do, for a person."""
    code: int | None = None
    http_status: int | None = None
    response: str = ""
    """The PBX's last answer (redacted), if there was one."""
    attempts: int = 0
    first_failed_at: datetime | None = None
    failed_at: datetime | None = None
    """None: the moment the dead letter is reported (a verdict without a call)."""
    traceback: str = ""
    """For ``INTERNAL_ERROR``: where leadsync failed (bounded in the header)."""
    endpoint: str = ""
    """The call that failed last (``contracts.noojee.Endpoint``); empty when none was made."""

    def __post_init__(self) -> None:
        for name in ("first_failed_at", "failed_at"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True, slots=True)
class DeadLetterReport:
    """A ``Failure``, where its record was read, and who set it aside: the headers."""

    failure: Failure
    reported_at: datetime
    """When the dead letter was made: the failure's times when it has none."""
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp_ms: int | None
    consumer_group: str
    version: str
    traceparent: str | None
    """The failed processing's trace; ``None`` keeps whatever the record carried."""
    value_omitted: int | None = None
    """The original value's size when the dead letter had to go without it."""
    key_omitted: int | None = None
    """The original key's size when the dead letter had to go without it."""
    headers_omitted: int | None = None
    """How many of the record's own headers were left out (only when too large)."""

    def __post_init__(self) -> None:
        if self.reported_at.tzinfo is None:
            raise ValueError("reported_at must be timezone-aware")


def dead_letter_headers(
    original: Sequence[tuple[str, bytes]], report: DeadLetterReport
) -> list[tuple[str, bytes]]:
    """The original headers, minus earlier dead-letter ones, plus ``report``'s.

    A header name that is not valid Unicode (a producer sent bytes that are not
    UTF-8 as a name) is kept with those bytes written as ``\\xNN`` escapes: Kafka
    header names are UTF-8 strings, so it cannot travel as it came.
    """
    added = _report_headers(report)
    replaced = {name for name, _ in added}
    kept = [
        (_sendable_name(name), value)
        for name, value in original
        if not _is_replaced(name, replaced)
    ]
    return kept + added


def added_headers_size(headers: Sequence[tuple[str, bytes]]) -> int:
    """Bytes of the headers leadsync owns (names and values) among ``headers``."""
    return sum(
        len(name.encode()) + len(value)
        for name, value in headers
        if name.startswith(_OWNED_PREFIXES) or name in (CONSUMER_GROUP, VERSION, TRACEPARENT)
    )


def parse_dead_letter_headers(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """The dead-letter headers of a record, decoded (the last wins if repeated)."""
    return {
        name: (value or b"").decode("utf-8", errors="replace")
        for name, value in headers
        if name in HEADERS or name in OPTIONAL_HEADERS
    }


def truncate_utf8(text: str, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """``text`` as UTF-8 in at most ``limit`` bytes, never splitting a character, and
    ending in ``contracts.text.MARKER`` when it was cut."""
    return clip_utf8(text, limit)


def rfc3339_utc(moment: datetime) -> str:
    """``2026-11-26T10:15:00.123Z``: UTC, millisecond precision, ``Z``."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def _report_headers(report: DeadLetterReport) -> list[tuple[str, bytes]]:
    failure = report.failure
    headers = [
        (REASON, _short(failure.reason)),
        (CODE, _optional_int(failure.code)),
        (HTTP_STATUS, _optional_int(failure.http_status)),
        (MESSAGE, clip_utf8(" ".join(failure.message.split()), MAX_MESSAGE_BYTES)),
        (RESPONSE, clip_utf8(failure.response, MAX_RESPONSE_BYTES)),
        (ATTEMPTS, str(failure.attempts).encode()),
        (FIRST_FAILED_AT, rfc3339_utc(failure.first_failed_at or report.reported_at).encode()),
        (FAILED_AT, rfc3339_utc(failure.failed_at or report.reported_at).encode()),
        (SOURCE_TOPIC, _short(report.source_topic)),
        (SOURCE_PARTITION, str(report.source_partition).encode()),
        (SOURCE_OFFSET, str(report.source_offset).encode()),
        (SOURCE_TIMESTAMP, _optional_int(report.source_timestamp_ms)),
        (CONSUMER_GROUP, _short(report.consumer_group)),
        (VERSION, _short(report.version)),
    ]
    if report.traceparent is not None:
        headers.append((TRACEPARENT, _short(report.traceparent)))
    if failure.endpoint:
        headers.append((ENDPOINT, _short(failure.endpoint)))
    if failure.traceback:
        # The end of a traceback says where it failed; its start is the event loop.
        tail = failure.traceback[-MAX_TRACEBACK_BYTES:]
        headers.append((TRACEBACK, clip_utf8(tail, MAX_TRACEBACK_BYTES)))
    if report.value_omitted is not None:
        headers.append((VALUE_OMITTED, str(report.value_omitted).encode()))
    if report.key_omitted is not None:
        headers.append((KEY_OMITTED, str(report.key_omitted).encode()))
    if report.headers_omitted is not None:
        headers.append((HEADERS_OMITTED, str(report.headers_omitted).encode()))
    return headers


def _sendable_name(name: str) -> str:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        try:  # the client's lenient read keeps a bad name's bytes as escapes
            raw = name.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError:
            return name.encode("utf-8", errors="backslashreplace").decode("utf-8")
        return raw.decode("utf-8", errors="backslashreplace")
    return name


def _short(text: str) -> bytes:
    return clip_utf8(text, MAX_SHORT_BYTES)


def _is_replaced(name: str, replaced: set[str]) -> bool:
    # The prefixes also catch stale headers a different leadsync version may have added.
    return name in replaced or name.startswith(_OWNED_PREFIXES)


def _optional_int(value: int | None) -> bytes:
    return b"" if value is None else str(value).encode()

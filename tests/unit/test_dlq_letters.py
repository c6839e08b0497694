"""consumer.deadletters.tools.letters: a dead-letter record read back, and the replay headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from consumer.deadletters.tools.letters import (
    REPLAY_AT,
    REPLAY_COUNT,
    REPLAY_DLQ_OFFSET,
    REPLAY_DLQ_PARTITION,
    REPLAY_ORIGIN_OFFSET,
    SourcePosition,
    dead_letter_of,
    header_int,
    lead_of,
    original_headers,
    replay_headers,
    replayed_letter,
)
from contracts import deadletter as dl
from contracts.deadletter import DeadLetterReport, Failure, dead_letter_headers

TRACE = ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
CRM = ("crm.source", b"outbox")
VALUE = json.dumps({"event_id": "e", "lead_id": "CRM-7", "occurred_at": "2026-11-26T10:15:00Z"})


def report(offset: int = 42, partition: int = 3) -> DeadLetterReport:
    return DeadLetterReport(
        failure=Failure(
            reason="COULDNT_FIND_THE_LEAD",
            message="No such lead.",
            code=101,
            http_status=400,
            response='{"code": 101}',
            attempts=1,
            first_failed_at=datetime(2026, 11, 26, 10, 15, tzinfo=UTC),
            failed_at=datetime(2026, 11, 26, 10, 16, tzinfo=UTC),
        ),
        reported_at=datetime(2026, 11, 26, 10, 16, tzinfo=UTC),
        source_topic="lead-changes",
        source_partition=partition,
        source_offset=offset,
        source_timestamp_ms=1,
        consumer_group="leadsync",
        version="0.1.0",
        traceparent=None,
    )


def test_a_dead_letter_reads_back_its_reason_source_and_lead() -> None:
    headers = dead_letter_headers([TRACE, CRM], report())
    letter = dead_letter_of(0, 17, b"CRM-7", VALUE.encode(), headers)
    assert letter.position == "0:17"
    assert (letter.reason, letter.code, letter.http_status) == (
        "COULDNT_FIND_THE_LEAD",
        "101",
        "400",
    )
    assert letter.failed_at == datetime(2026, 11, 26, 10, 16, tzinfo=UTC)
    assert letter.source == SourcePosition("lead-changes", 3, 42)
    assert letter.lead_id == "CRM-7"
    assert letter.replay_count == 0
    assert letter.logical_offset == 42
    # Only what the CRM sent (and the trace) travels again.
    assert letter.original_headers == (TRACE, CRM)


def test_replay_headers_add_provenance_and_count_one() -> None:
    letter = dead_letter_of(2, 9, b"CRM-7", VALUE.encode(), dead_letter_headers([CRM], report()))
    headers = dict(replay_headers(letter, "2026-11-27T00:00:00.000Z"))
    assert headers[REPLAY_COUNT] == b"1"
    assert (headers[REPLAY_DLQ_PARTITION], headers[REPLAY_DLQ_OFFSET]) == (b"2", b"9")
    assert headers[REPLAY_AT] == b"2026-11-27T00:00:00.000Z"
    assert headers[REPLAY_ORIGIN_OFFSET] == b"42"
    assert headers["crm.source"] == b"outbox"
    assert not any(name.startswith(("leadsync.dlq.", "leadsync.source.")) for name in headers)


def test_a_replay_that_fails_again_carries_its_count_and_origin_into_the_next_dead_letter() -> None:
    first = dead_letter_of(0, 5, b"CRM-7", VALUE.encode(), dead_letter_headers([CRM], report(42)))
    replayed = replay_headers(first, "2026-11-27T00:00:00.000Z")
    # The replay landed at offset 900 and failed again: the service's writer keeps
    # the headers it does not own.
    again = dead_letter_of(
        0, 61, b"CRM-7", VALUE.encode(), dead_letter_headers(replayed, report(900))
    )
    assert again.replay_count == 1
    assert again.origin_offset == 42
    assert again.logical_offset == 42  # where the CRM first sent it, not 900
    assert again.source is not None
    assert again.source.offset == 900
    assert again.original_headers == (CRM,)  # stale replay headers are not sent twice
    third = dict(replay_headers(again, "2026-11-28T00:00:00.000Z"))
    assert third[REPLAY_COUNT] == b"2"
    assert third[REPLAY_ORIGIN_OFFSET] == b"42"
    assert (third[REPLAY_DLQ_PARTITION], third[REPLAY_DLQ_OFFSET]) == (b"0", b"61")


def test_a_record_that_is_not_a_dead_letter_has_no_source() -> None:
    letter = dead_letter_of(0, 1, None, b"junk", [("x", b"y")])
    assert letter.source is None
    assert letter.logical_offset is None
    assert letter.reason == ""
    assert letter.failed_at is None


@pytest.mark.parametrize(
    ("key", "value", "lead"),
    [
        (b"K", b'{"lead_id": "CRM-1"}', "CRM-1"),
        (b"K", b'{"type": "lead.changed", "data": {"lead_id": "CE-1"}}', "CE-1"),
        (b"K", b'{"lead_id": ""}', "K"),
        (b"K", b'{"lead_id": 7}', "K"),
        (b"K", b"not json", "K"),
        (b"K", b"\xff\xfe", "K"),
        (b"K", b"[1, 2]", "K"),
        (b"K", None, "K"),
        (None, b"not json", None),
        (None, b'{"lead_id": "CRM-2"}', "CRM-2"),
    ],
)
def test_the_lead_is_the_events_lead_id_else_the_key(
    key: bytes | None, value: bytes | None, lead: str | None
) -> None:
    assert lead_of(key, value) == lead


def test_replayed_letter_and_header_int_parse_defensively() -> None:
    assert replayed_letter([(REPLAY_DLQ_PARTITION, b"1"), (REPLAY_DLQ_OFFSET, b"7")]) == (1, 7)
    assert replayed_letter([(REPLAY_DLQ_PARTITION, b"1")]) is None
    assert replayed_letter([(REPLAY_DLQ_PARTITION, b"x"), (REPLAY_DLQ_OFFSET, b"7")]) is None
    assert replayed_letter([("other", b"1")]) is None
    assert header_int([(REPLAY_COUNT, b"1"), (REPLAY_COUNT, b"2")], REPLAY_COUNT) == 2
    assert header_int([(REPLAY_COUNT, b"-1")], REPLAY_COUNT) is None
    assert header_int([(REPLAY_COUNT, None)], REPLAY_COUNT) is None


def test_original_headers_strip_everything_leadsync_added() -> None:
    added = [(name, b"v") for name in dl.HEADERS if name != dl.TRACEPARENT]
    added += [(REPLAY_COUNT, b"1"), ("leadsync.dlq.future_field", b"v")]
    assert original_headers([CRM, *added, TRACE, ("empty", None)]) == (CRM, TRACE, ("empty", b""))

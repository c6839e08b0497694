"""contracts.deadletter: the headers a dead letter carries.

The table they follow is docs/reference/dead-letter-headers.md.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import deadletter as dl
from contracts.deadletter import (
    MAX_RESPONSE_BYTES,
    DeadLetterReason,
    DeadLetterReport,
    Failure,
    dead_letter_headers,
    parse_dead_letter_headers,
    truncate_utf8,
)
from contracts.noojee import NoojeeCode
from contracts.text import MARKER

REPORT = DeadLetterReport(
    failure=Failure(
        reason=NoojeeCode.COULDNT_FIND_THE_LEAD.name,
        message="No lead has njExternalLeadId CRM-1: create it in the dialler, then replay.",
        code=101,
        http_status=400,
        response='{"code": 101, "message": "COULDNT_FIND_THE_LEAD"}',
        attempts=1,
        first_failed_at=datetime(2026, 11, 26, 10, 15, 0, 123456, tzinfo=UTC),
        failed_at=datetime(2026, 11, 26, 21, 16, 30, tzinfo=timezone(timedelta(hours=11))),
    ),
    reported_at=datetime(2026, 11, 26, 21, 16, 30, tzinfo=timezone(timedelta(hours=11))),
    source_topic="lead-changes",
    source_partition=3,
    source_offset=4711,
    source_timestamp_ms=1764152100000,
    consumer_group="leadsync",
    version="0.1.0",
    traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
)


FAILURE_FIELDS = {field.name for field in dataclasses.fields(Failure)}


def report(**changes: object) -> DeadLetterReport:
    """``REPORT`` with some fields changed, the failure's and the report's alike."""
    failure = {k: v for k, v in changes.items() if k in FAILURE_FIELDS}
    rest = {k: v for k, v in changes.items() if k not in FAILURE_FIELDS}
    changed = dataclasses.replace(REPORT.failure, **failure)  # type: ignore[arg-type]
    return dataclasses.replace(REPORT, failure=changed, **rest)  # type: ignore[arg-type]


def test_every_interface_header_present_with_its_value() -> None:
    headers = dict(dead_letter_headers([], REPORT))
    assert headers == {
        "leadsync.dlq.reason": b"COULDNT_FIND_THE_LEAD",
        "leadsync.dlq.code": b"101",
        "leadsync.dlq.http_status": b"400",
        "leadsync.dlq.message": REPORT.failure.message.encode(),
        "leadsync.dlq.response": REPORT.failure.response.encode(),
        "leadsync.dlq.attempts": b"1",
        "leadsync.dlq.first_failed_at": b"2026-11-26T10:15:00.123Z",
        "leadsync.dlq.failed_at": b"2026-11-26T10:16:30.000Z",
        "leadsync.source.topic": b"lead-changes",
        "leadsync.source.partition": b"3",
        "leadsync.source.offset": b"4711",
        "leadsync.source.timestamp": b"1764152100000",
        "leadsync.consumer_group": b"leadsync",
        "leadsync.version": b"0.1.0",
        "traceparent": b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    assert list(headers) == list(dl.HEADERS)


def test_missing_numbers_are_empty_strings() -> None:
    headers = dict(
        dead_letter_headers(
            [],
            report(
                reason=DeadLetterReason.INVALID_EVENT,
                code=None,
                http_status=None,
                source_timestamp_ms=None,
            ),
        )
    )
    assert headers[dl.REASON] == b"INVALID_EVENT"
    assert headers[dl.CODE] == headers[dl.HTTP_STATUS] == headers[dl.SOURCE_TIMESTAMP] == b""


def test_original_headers_kept_in_order_before_ours() -> None:
    original = [("content-type", b"application/json"), ("x-crm", b"\x00raw"), ("x-crm", b"2")]
    headers = dead_letter_headers(original, REPORT)
    assert headers[:3] == original
    assert len(headers) == 3 + len(dl.HEADERS)


def test_a_replayed_record_carries_only_its_latest_failure() -> None:
    first = dead_letter_headers([("x-crm", b"1")], REPORT)
    stale = [*first, ("leadsync.dlq.from_a_newer_version", b"?")]
    again = dead_letter_headers(
        stale, report(reason=dl.RETRIES_EXHAUSTED, attempts=9, traceparent="00-new-01")
    )
    names = [name for name, _ in again]
    assert names == ["x-crm", *dl.HEADERS]
    parsed = parse_dead_letter_headers(again)
    assert parsed[dl.REASON] == "RETRIES_EXHAUSTED"
    assert parsed[dl.ATTEMPTS] == "9"
    assert parsed[dl.TRACEPARENT] == "00-new-01"


def test_without_a_trace_the_records_own_traceparent_stays() -> None:
    headers = dead_letter_headers([("traceparent", b"00-crm-01")], report(traceparent=None))
    assert [value for name, value in headers if name == "traceparent"] == [b"00-crm-01"]


def test_message_forced_to_one_line() -> None:
    message = "Lead not found.\r\nCreate it,\tthen\n\nreplay. "
    headers = dict(dead_letter_headers([], report(message=message)))
    assert headers[dl.MESSAGE] == b"Lead not found. Create it, then replay."


def test_response_truncated_on_a_character_boundary_with_a_marker() -> None:
    body = "ab" + "€" * 2000  # 2 + 3 * 2000 bytes: the cut falls in the middle of a '€'
    value = dict(dead_letter_headers([], report(response=body)))[dl.RESPONSE]
    assert len(value) == 4094
    assert value.decode("utf-8") == "ab" + "€" * 1359 + MARKER


def test_response_at_the_limit_is_untouched() -> None:
    body = "é" * (MAX_RESPONSE_BYTES // 2)
    assert truncate_utf8(body) == body.encode()


def test_lone_surrogates_do_not_break_the_headers() -> None:
    headers = dict(dead_letter_headers([], report(response="bad \udcff byte", version="\ud800")))
    assert headers[dl.RESPONSE] == b"bad ? byte"
    assert headers[dl.VERSION] == b"?"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="failed_at must be timezone-aware"):
        report(failed_at=datetime(2026, 11, 26, 10, 15))


def test_parse_keeps_only_dead_letter_headers() -> None:
    headers = [("x-crm", b"1"), *dead_letter_headers([], REPORT), (dl.MESSAGE, None)]
    parsed = parse_dead_letter_headers(headers)
    assert set(parsed) == set(dl.HEADERS)
    assert parsed[dl.MESSAGE] == ""
    assert parsed[dl.SOURCE_OFFSET] == "4711"


def test_reasons_are_their_own_names() -> None:
    assert {reason.value for reason in DeadLetterReason} == {r.name for r in DeadLetterReason}
    assert {reason.name for reason in DeadLetterReason}.isdisjoint(c.name for c in NoojeeCode)


@given(st.text(), st.integers(min_value=0, max_value=5000))
def test_truncation_never_exceeds_the_limit(text: str, limit: int) -> None:
    cut = truncate_utf8(text, limit)
    marker = MARKER.encode()
    assert len(cut) <= max(limit, len(marker))
    cut.decode("utf-8")  # valid UTF-8, or this raises
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= limit:
        assert cut == encoded
    else:  # a prefix, then the marker; only a partial character is dropped
        assert cut.endswith(marker)
        kept = cut[: -len(marker)]
        assert encoded.startswith(kept)
        assert limit - len(marker) - len(kept) < 4 or len(kept) == 0


@given(st.text(max_size=300), st.lists(st.tuples(st.text(max_size=30), st.binary(max_size=10))))
def test_headers_are_utf8_and_single_line(message: str, original: list[tuple[str, bytes]]) -> None:
    headers = dead_letter_headers(original, report(message=message, response=message * 40))
    ours = dict(headers[len(headers) - len(dl.HEADERS) :])
    assert list(ours) == list(dl.HEADERS)
    assert all(isinstance(value.decode("utf-8"), str) for value in ours.values())
    assert b"\n" not in ours[dl.MESSAGE]
    assert b"\r" not in ours[dl.MESSAGE]
    assert len(ours[dl.RESPONSE]) <= MAX_RESPONSE_BYTES


@given(
    st.text(min_size=0, max_size=20_000),
    st.text(max_size=20_000),
    st.text(max_size=20_000),
    st.text(max_size=2000),
)
def test_the_headers_leadsync_adds_stay_within_16_kib_whatever_they_quote(
    message: str, response: str, traceback: str, name: str
) -> None:
    huge = report(
        message=message,
        response=response,
        reason=name * 10,
        source_topic=name,
        consumer_group=name,
        version=name,
        traceparent=name,
        traceback=traceback * 3,
        endpoint=name,
        value_omitted=10**12,
        key_omitted=10**12,
        headers_omitted=10**6,
    )
    headers = dead_letter_headers([("x-crm", b"kept as it came" * 1000)], huge)
    assert dl.added_headers_size(headers) <= dl.MAX_HEADERS_BYTES
    assert ("x-crm", b"kept as it came" * 1000) in headers
    for _, value in headers:
        value.decode("utf-8")  # every value is valid UTF-8, cut or not


def test_a_failed_call_names_its_endpoint_after_the_headers_always_present() -> None:
    """docs/reference/dead-letter-headers.md: 'leadsync.dlq.endpoint', when a call was made."""
    failed = dataclasses.replace(REPORT.failure, endpoint="insertLeadFast")
    headers = dead_letter_headers([], dataclasses.replace(REPORT, failure=failed))
    assert [name for name, _ in headers] == [*dl.HEADERS, dl.ENDPOINT]
    assert parse_dead_letter_headers(headers)[dl.ENDPOINT] == "insertLeadFast"
    assert dl.ENDPOINT not in dict(dead_letter_headers([], REPORT))


def test_a_header_name_that_is_not_utf8_travels_escaped() -> None:
    escaped = b"\xff\xfeid".decode("utf-8", "surrogateescape")
    headers = dead_letter_headers([(escaped, b"1"), ("\ud800x", b"2")], REPORT)
    assert headers[:2] == [("\\xff\\xfeid", b"1"), ("\\ud800x", b"2")]

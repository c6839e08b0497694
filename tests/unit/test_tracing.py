"""Spans: one CONSUMER span per event on the producer's trace, a CLIENT span per attempt,
retries as events, and the trace context a dead letter carries."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from consumer.observability import tracing
from consumer.observability.telemetry import Telemetry
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied, Permanent, Retry, Unavailable
from consumer.pbx.redact import REDACTED
from contracts.noojee import UPDATE_LEAD_FAST_PATH
from tests.telemetry_helpers import (
    GROUP,
    PRODUCER_SPAN_ID,
    PRODUCER_TRACE_ID,
    PRODUCER_TRACEPARENT,
    TOPIC,
    record,
    recorded,
)

URL = f"https://pbx.example.com:8443{UPDATE_LEAD_FAST_PATH}?fCampaignId=41&apiKey=REDACTED"
EXCEPTION_103 = Retry("EXCEPTION", "The PBX failed internally.", code=103, http_status=200)
NO_LEAD = Permanent("COULDNT_FIND_THE_LEAD", "No such lead.", code=101, http_status=200)


def same(text: str) -> str:
    return text


# -- pure attribute functions ---------------------------------------------------------


def test_record_attributes_follow_the_messaging_conventions() -> None:
    attributes = tracing.record_attributes(
        record(offset=42, partition=3, key=b"CRM-9", value=b"{}"),
        consumer_group=GROUP,
        event_id="ev-1",
        lead_id="CRM-9",
        redact=same,
    )
    assert attributes == {
        "messaging.system": "kafka",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": TOPIC,
        "messaging.consumer.group.name": GROUP,
        "messaging.destination.partition.id": "3",
        "messaging.kafka.offset": 42,
        "messaging.kafka.message.key": "CRM-9",
        "messaging.message.body.size": 2,
        "messaging.message.id": "ev-1",
        "leadsync.lead_id": "CRM-9",
    }


def test_an_unparsed_tombstone_without_key_has_only_what_is_known() -> None:
    attributes = tracing.record_attributes(
        record(key=None, value=None), consumer_group=GROUP, event_id=None, lead_id=None, redact=same
    )
    assert attributes["messaging.kafka.message.tombstone"] is True
    assert (
        not {
            "messaging.kafka.message.key",
            "messaging.message.body.size",
            "messaging.message.id",
            "leadsync.lead_id",
        }
        & attributes.keys()
    )


def test_a_key_that_is_not_utf8_is_shown_escaped() -> None:
    attributes = tracing.record_attributes(
        record(key=b"CRM-\xff"), consumer_group=GROUP, event_id=None, lead_id=None, redact=same
    )
    assert attributes["messaging.kafka.message.key"] == "CRM-\\xff"


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            CallResult(Applied(), 200, 0.1, URL),
            {"http.response.status_code": 200, "leadsync.noojee.code": 0},
        ),
        (
            CallResult(NO_LEAD, 200, 0.1, URL),
            {
                "http.response.status_code": 200,
                "leadsync.noojee.code": 101,
                "error.type": "COULDNT_FIND_THE_LEAD",
            },
        ),
        (
            CallResult(Unavailable("CONNECT_FAILED", "Connection refused."), None, 0.1, URL),
            {"error.type": "CONNECT_FAILED"},
        ),
    ],
)
def test_call_attributes_follow_the_http_conventions(
    result: CallResult, expected: dict[str, object]
) -> None:
    attributes = tracing.call_attributes(result, attempt=1, waited_s=0.25, redact=same)
    assert attributes == {
        "http.request.method": "POST",
        "url.full": URL,
        "url.template": UPDATE_LEAD_FAST_PATH,
        "server.address": "pbx.example.com",
        "server.port": 8443,
        "leadsync.attempt": 1,
        "leadsync.throttle.wait_s": 0.25,
        **expected,
    }


def test_a_resent_call_counts_its_resends_and_the_default_port_is_named() -> None:
    result = CallResult(Applied(), 200, 0.1, "http://pbx.example.com/p?apiKey=REDACTED")
    attributes = tracing.call_attributes(result, attempt=3, waited_s=0.0, redact=same)
    assert attributes["http.request.resend_count"] == 2
    assert attributes["server.port"] == 80


def test_the_user_info_of_a_url_never_becomes_the_server_address() -> None:
    result = CallResult(Applied(), 200, 0.1, "https://admin:pw@pbx.example.com/p")
    attributes = tracing.call_attributes(result, attempt=1, waited_s=0.0, redact=same)
    assert attributes["server.address"] == "pbx.example.com"


def test_headers_getter_is_case_insensitive_and_skips_empty_values() -> None:
    headers = [("TraceParent", b"a"), ("traceparent", None), ("other", b"x"), ("traceparent", b"b")]
    assert tracing.HEADERS_GETTER.get(headers, "traceparent") == ["a", "b"]
    assert tracing.HEADERS_GETTER.get(headers, "tracestate") is None
    assert tracing.HEADERS_GETTER.keys(headers) == [
        "TraceParent",
        "traceparent",
        "other",
        "traceparent",
    ]


# -- spans through Telemetry -------------------------------------------------------------


def test_the_event_span_is_a_consumer_span_on_the_producers_trace() -> None:
    rec = recorded()
    with rec.telemetry.event_span(record(), event_id="ev-1", lead_id="CRM-1"):
        traceparent = rec.telemetry.current_traceparent()
    (span,) = rec.finished()
    assert span.name == f"process {TOPIC}"
    assert span.kind is SpanKind.CONSUMER
    assert span.parent is not None
    assert (span.parent.trace_id, span.parent.span_id) == (PRODUCER_TRACE_ID, PRODUCER_SPAN_ID)
    assert span.parent.is_remote
    assert span.context is not None
    assert span.context.trace_id == PRODUCER_TRACE_ID
    assert traceparent == f"00-{PRODUCER_TRACE_ID:032x}-{span.context.span_id:016x}-01"
    assert span.attributes is not None
    assert span.attributes["messaging.message.id"] == "ev-1"


@pytest.mark.parametrize(
    "headers",
    [(), (("traceparent", b"not-a-traceparent"),), (("traceparent", b"\xff\xfe"),)],
    ids=["none", "garbage", "not-utf8"],
)
def test_without_a_valid_traceparent_the_event_starts_a_trace(
    headers: tuple[tuple[str, bytes], ...],
) -> None:
    rec = recorded()
    with rec.telemetry.event_span(record(headers=headers), event_id=None, lead_id=None):
        traceparent = rec.telemetry.current_traceparent()
    (span,) = rec.finished()
    assert span.parent is None
    assert span.context is not None
    assert traceparent is not None
    assert f"{span.context.trace_id:032x}" in traceparent


def test_outside_an_event_there_is_no_trace_context() -> None:
    assert recorded().telemetry.current_traceparent() is None


def test_with_tracing_off_the_producers_context_still_reaches_the_dead_letter() -> None:
    rec = recorded(tracing=False)
    with rec.telemetry.event_span(record(), event_id="ev-1", lead_id="CRM-1"):
        assert rec.telemetry.current_traceparent() == PRODUCER_TRACEPARENT
        rec.telemetry.attempt_finished(CallResult(Applied(), 200, 0.1, URL), 1, 0.0)
        rec.telemetry.event_applied()
    with rec.telemetry.event_span(record(headers=()), event_id="ev-2", lead_id="CRM-1"):
        assert rec.telemetry.current_traceparent() is None
    assert rec.finished() == ()
    assert sum(p.value for p in rec.points("leadsync.noojee.calls")) == 1  # metrics still count


def test_with_tracing_off_each_event_has_its_own_context_restored_afterwards() -> None:
    telemetry = recorded(tracing=False).telemetry
    other = "00-0000000000000000000000000000000a-000000000000000b-01"
    with telemetry.event_span(record(), event_id="ev-1", lead_id="CRM-1") as outer:
        assert not outer.is_recording()
        # A coalesced event without a traceparent: no context, not the carrier's.
        with telemetry.event_span(
            record(headers=()), event_id="ev-2", lead_id="CRM-1", coalesced_into=outer
        ):
            assert telemetry.current_traceparent() is None
        assert telemetry.current_traceparent() == PRODUCER_TRACEPARENT
        with telemetry.event_span(
            record(headers=(("traceparent", other.encode()),)), event_id="ev-3", lead_id=None
        ):
            assert telemetry.current_traceparent() == other
        assert telemetry.current_traceparent() == PRODUCER_TRACEPARENT
    assert telemetry.current_traceparent() is None


def test_with_tracing_off_an_exception_propagates_and_the_context_is_restored() -> None:
    telemetry = recorded(tracing=False).telemetry
    with (
        pytest.raises(RuntimeError, match="boom"),
        telemetry.event_span(record(), event_id=None, lead_id=None),
    ):
        raise RuntimeError("boom")
    assert telemetry.current_traceparent() is None


async def cancel_inside_an_event_span(telemetry: Telemetry) -> None:
    """Run an event's span until it is cancelled mid-way, as an abandoned call is."""
    started = asyncio.Event()

    async def process() -> None:
        with telemetry.event_span(record(), event_id="ev-1", lead_id="CRM-1"):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(process())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_with_tracing_off_a_cancelled_event_leaves_no_context_behind() -> None:
    telemetry = recorded(tracing=False).telemetry
    await cancel_inside_an_event_span(telemetry)
    assert telemetry.current_traceparent() is None


def test_each_attempt_is_a_client_span_under_the_event_with_its_own_duration() -> None:
    rec = recorded()
    telemetry = rec.telemetry
    with telemetry.event_span(record(), event_id="ev-1", lead_id="CRM-1"):
        telemetry.attempt_finished(CallResult(EXCEPTION_103, 200, 0.25, URL), 1, 0.0)
        telemetry.retry_scheduled(EXCEPTION_103, 1, 0.5)
        telemetry.attempt_finished(CallResult(Applied(), 200, 0.125, URL), 2, 0.01)
        telemetry.event_applied()
    first, second, event = rec.finished()
    assert event.name == f"process {TOPIC}"
    assert event.context is not None
    for call, duration_s in ((first, 0.25), (second, 0.125)):
        assert call.name == f"POST {UPDATE_LEAD_FAST_PATH}"
        assert call.kind is SpanKind.CLIENT
        assert call.parent is not None
        assert call.parent.span_id == event.context.span_id
        assert call.start_time is not None
        assert call.end_time is not None
        assert call.end_time - call.start_time == int(duration_s * 1e9)
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == EXCEPTION_103.message
    assert second.status.status_code is StatusCode.UNSET
    assert second.attributes is not None
    assert second.attributes["leadsync.attempt"] == 2
    assert event.attributes is not None
    assert event.attributes["leadsync.outcome"] == "applied"
    (retry,) = event.events
    assert retry.name == "retry"
    assert dict(retry.attributes or {}) == {
        "leadsync.attempt": 1,
        "leadsync.retry.delay_s": 0.5,
        "leadsync.retry.reason": "EXCEPTION",
        "leadsync.retry.message": EXCEPTION_103.message,
        "http.response.status_code": 200,
        "leadsync.noojee.code": 103,
    }


def test_a_dead_lettered_event_is_an_error_span_naming_the_reason() -> None:
    rec = recorded()
    with rec.telemetry.event_span(record(), event_id="ev-1", lead_id="CRM-1"):
        rec.telemetry.attempt_finished(CallResult(NO_LEAD, 200, 0.1, URL), 1, 0.0)
        rec.telemetry.event_dead_lettered("COULDNT_FIND_THE_LEAD", NO_LEAD.message)
    *_, event = rec.finished()
    assert event.status.status_code is StatusCode.ERROR
    assert event.status.description == NO_LEAD.message
    assert event.attributes is not None
    assert event.attributes["error.type"] == "COULDNT_FIND_THE_LEAD"
    assert event.attributes["leadsync.outcome"] == "dead_lettered"


def test_an_exception_marks_the_span_and_propagates() -> None:
    rec = recorded()
    with (
        pytest.raises(RuntimeError, match="boom"),
        rec.telemetry.event_span(record(), event_id=None, lead_id=None),
    ):
        raise RuntimeError("boom")
    (span,) = rec.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RuntimeError: boom"
    (event,) = span.events
    assert dict(event.attributes or {}) == {
        "exception.type": "RuntimeError",
        "exception.message": "boom",
    }


async def test_a_cancelled_event_is_abandoned_not_failed() -> None:
    rec = recorded()
    await cancel_inside_an_event_span(rec.telemetry)
    (span,) = rec.finished()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["leadsync.outcome"] == "abandoned"


async def test_concurrent_events_keep_their_own_spans() -> None:
    rec = recorded()

    async def process(offset: int) -> None:
        with rec.telemetry.event_span(record(offset=offset), event_id=str(offset), lead_id=None):
            await asyncio.sleep(0)
            rec.telemetry.attempt_finished(CallResult(Applied(), 200, 0.01, URL), 1, 0.0)

    await asyncio.gather(*(process(offset) for offset in range(5)))
    events = {
        s.context.span_id: s for s in rec.finished() if s.kind is SpanKind.CONSUMER and s.context
    }
    calls = [s for s in rec.finished() if s.kind is SpanKind.CLIENT]
    assert len(events) == 5
    assert sorted(c.parent.span_id for c in calls if c.parent) == sorted(events)


def test_a_url_with_the_key_is_redacted_in_the_client_span() -> None:
    rec = recorded(secret="s3cr3t-K3Y")
    unredacted = f"https://pbx.example.com{UPDATE_LEAD_FAST_PATH}?apiKey=s3cr3t-K3Y"
    with rec.telemetry.event_span(record(), event_id=None, lead_id=None):
        rec.telemetry.attempt_finished(CallResult(Applied(), 200, 0.1, unredacted), 1, 0.0)
    call, _ = rec.finished()
    assert call.attributes is not None
    assert call.attributes["url.full"] == (
        f"https://pbx.example.com{UPDATE_LEAD_FAST_PATH}?apiKey={REDACTED}"
    )


def test_a_coalesced_event_keeps_its_own_trace_and_links_to_the_carrying_event() -> None:
    rec = recorded()
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    telemetry = rec.telemetry
    with telemetry.event_span(record(offset=1), event_id="head", lead_id="CRM-1") as head:
        telemetry.attempt_finished(CallResult(Applied(), 200, 0.1, URL), 1, 0.0)
        telemetry.event_applied()
        merged = record(offset=2, headers=(("traceparent", other.encode()),))
        with telemetry.event_span(merged, event_id="tail", lead_id="CRM-1", coalesced_into=head):
            traceparent = telemetry.current_traceparent()
            assert traceparent is not None
            assert traceparent.split("-")[1] == "1" * 32  # the dead letter's trace is its own
            telemetry.event_applied()
    call, tail, first = rec.finished()
    assert tail.parent is not None
    assert tail.parent.span_id == 0x2222222222222222
    assert tail.attributes is not None
    assert tail.attributes["leadsync.coalesced"] is True
    assert first.context is not None
    (link,) = tail.links
    assert link.context.span_id == first.context.span_id
    assert call.parent is not None
    assert call.parent.span_id == first.context.span_id
    assert rec.values("leadsync.events") == {frozenset({("outcome", "applied")}): 2}

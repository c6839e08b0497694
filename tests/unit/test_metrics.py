"""Metrics: exact counts per outcome and code, histograms in seconds, gauges read from
callbacks on the event loop, and names that come out clean in Prometheus."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from opentelemetry.sdk.metrics.export import AggregationTemporality, HistogramDataPoint, Sum
from prometheus_client.parser import text_string_to_metric_families

from consumer.observability.gauges import SAMPLE_TIMEOUT_S
from consumer.observability.metrics import CALL_BUCKETS_S, OTHER, WAIT_BUCKETS_S
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied, Fatal, Outcome, Permanent, Retry, Unavailable
from contracts.noojee import Endpoint
from tests.telemetry_helpers import Recorded, recorded

ROOT = Path(__file__).resolve().parents[2]
URL = "https://pbx.example.com/p?apiKey=REDACTED"
EXCEPTION_103 = Retry("EXCEPTION", "internal", code=103, http_status=200)
NO_LEAD = Permanent("COULDNT_FIND_THE_LEAD", "no lead", code=101, http_status=200)
REFUSED = Unavailable("CONNECT_FAILED", "refused")
HTTP_429 = Retry("HTTP_429", "slow down", http_status=429)


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


def histogram(rec: Recorded, name: str) -> dict[frozenset[tuple[str, object]], HistogramDataPoint]:
    data = rec.reader.get_metrics_data()
    assert data is not None
    return {
        frozenset((point.attributes or {}).items()): point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
        if isinstance(point, HistogramDataPoint)
    }


def test_calls_are_counted_by_code_outcome_and_reason() -> None:
    rec = recorded()
    metrics = rec.telemetry.metrics
    answers: list[tuple[Outcome, int | None]] = [
        (Applied(), 200),
        (Applied(), 200),
        (EXCEPTION_103, 200),
        (NO_LEAD, 200),
        (REFUSED, None),
        (HTTP_429, 429),
        (Fatal("UNAUTHORIZED", "key refused", http_status=401), 401),
    ]
    for outcome, status in answers:
        metrics.call_finished(CallResult(outcome, status, 0.1, URL), waited_s=0.0)
    assert rec.values("leadsync.noojee.calls") == {
        labels(code="0", outcome="applied", reason="OK"): 2,
        labels(code="103", outcome="retry", reason="EXCEPTION"): 1,
        labels(code="101", outcome="permanent", reason="COULDNT_FIND_THE_LEAD"): 1,
        labels(code="none", outcome="unavailable", reason="CONNECT_FAILED"): 1,
        labels(code="none", outcome="retry", reason="HTTP_429"): 1,
        labels(code="none", outcome="fatal", reason="UNAUTHORIZED"): 1,
    }


def test_inserts_and_fallbacks_are_counted_apart_too() -> None:
    """Every call counts in leadsync.noojee.calls; an insert also in leadsync.noojee.inserts;
    a call made because the PBX refused the one before in leadsync.fallbacks."""
    rec = recorded()
    metrics = rec.telemetry.metrics
    taken = Permanent("DUPLICATE_EXTERNAL_ID", "exists", code=112, http_status=400)
    metrics.call_finished(CallResult(taken, 400, 0.1, URL, Endpoint.INSERT), waited_s=0.0)
    metrics.call_finished(CallResult(Applied(), 200, 0.1, URL), waited_s=0.0)
    metrics.fallback_taken("update_existing")
    metrics.fallback_taken("undialled_resend")
    metrics.fallback_taken("undialled_resend")
    assert rec.values("leadsync.noojee.calls") == {
        labels(code="112", outcome="permanent", reason="DUPLICATE_EXTERNAL_ID"): 1,
        labels(code="0", outcome="applied", reason="OK"): 1,
    }
    assert rec.values("leadsync.noojee.inserts") == {
        labels(code="112", outcome="permanent", reason="DUPLICATE_EXTERNAL_ID"): 1,
    }
    assert rec.values("leadsync.fallbacks") == {
        labels(fallback="update_existing"): 1,
        labels(fallback="undialled_resend"): 2,
    }


@pytest.mark.parametrize("tallied", [True, False], ids=["leadsync's tallies", "sdk"])
def test_durations_and_throttle_waits_are_histograms_in_seconds(tallied: bool) -> None:
    rec = recorded(tallied=tallied)
    metrics = rec.telemetry.metrics
    metrics.call_finished(CallResult(Applied(), 200, 0.2, URL), waited_s=0.003)
    metrics.call_finished(CallResult(Applied(), 200, 61.0, URL), waited_s=2.0)
    metrics.call_finished(CallResult(EXCEPTION_103, 200, 0.05, URL), waited_s=0.0)

    durations = histogram(rec, "leadsync.noojee.call.duration")
    applied = durations[frozenset({("outcome", "applied")})]
    assert applied.count == 2
    assert applied.sum == pytest.approx(61.2)
    assert tuple(applied.explicit_bounds) == CALL_BUCKETS_S
    # 0.2 s lands in the (0.1, 0.25] bucket and 61 s in (60, 75]: past the PBX's queue limit.
    assert applied.bucket_counts[CALL_BUCKETS_S.index(0.25)] == 1
    assert applied.bucket_counts[CALL_BUCKETS_S.index(75.0)] == 1
    assert durations[frozenset({("outcome", "retry")})].count == 1

    (waits,) = histogram(rec, "leadsync.throttle.wait").values()
    assert waits.count == 3
    assert waits.sum == pytest.approx(2.003)
    assert (waits.min, waits.max) == (0.0, 2.0)
    assert tuple(waits.explicit_bounds) == WAIT_BUCKETS_S
    # A value on a bound lands in the bucket the bound closes, as the SDK counts it.
    assert waits.bucket_counts[WAIT_BUCKETS_S.index(0.005)] == 1  # 0.003
    assert waits.bucket_counts[0] == 1  # 0.0, in (-inf, 0.001]
    assert waits.bucket_counts[WAIT_BUCKETS_S.index(2.5)] == 1


@pytest.mark.parametrize("tallied", [True, False], ids=["leadsync's tallies", "sdk"])
def test_histograms_render_the_same_in_prometheus_either_way(tallied: bool) -> None:
    rec = recorded(tallied=tallied)
    rec.telemetry.metrics.call_finished(CallResult(Applied(), 200, 0.1, URL), waited_s=0.001)
    text = rec.telemetry.metrics_text().decode()
    assert 'leadsync_noojee_call_duration_seconds_bucket{le="0.1",outcome="applied"} 1.0' in text
    assert 'leadsync_throttle_wait_seconds_bucket{le="0.001"} 1.0' in text
    assert "leadsync_throttle_wait_seconds_count 1.0" in text


def test_events_are_counted_by_outcome_and_retries_by_reason() -> None:
    rec = recorded()
    telemetry = rec.telemetry
    for _ in range(3):
        telemetry.event_applied()
    telemetry.event_dead_lettered("COULDNT_FIND_THE_LEAD")
    telemetry.event_dead_lettered("INVALID_EVENT")
    telemetry.event_dead_lettered("INVALID_EVENT")
    telemetry.retry_scheduled(EXCEPTION_103, 1, 0.5)
    telemetry.retry_scheduled(HTTP_429, 2, 1.0)
    telemetry.retry_scheduled(HTTP_429, 3, 2.0)
    assert rec.values("leadsync.events") == {
        labels(outcome="applied"): 3,
        labels(outcome="dead_lettered", reason="COULDNT_FIND_THE_LEAD"): 1,
        labels(outcome="dead_lettered", reason="INVALID_EVENT"): 2,
    }
    assert rec.values("leadsync.retries") == {
        labels(reason="EXCEPTION"): 1,
        labels(reason="HTTP_429"): 2,
    }


@pytest.mark.parametrize(
    "reason",
    ["a reason with spaces", "x" * 65, "apiKey=abc", "", "s3cr3t-K3Y"],
)
def test_a_label_never_holds_free_text_or_the_key(reason: str) -> None:
    rec = recorded(secret="s3cr3t-K3Y")
    rec.telemetry.metrics.event_dead_lettered(reason)
    assert rec.values("leadsync.events") == {labels(outcome="dead_lettered", reason=OTHER): 1}


def test_gauges_read_their_callbacks_at_collection() -> None:
    rec = recorded()
    in_flight, breaker = [3], ["closed"]
    rec.telemetry.metrics.observe_gauges(
        in_flight=lambda: in_flight[0],
        breaker=lambda: breaker[0],
        lag=lambda: {TopicPartition("lead-changes", 0): 7, TopicPartition("lead-changes", 5): 0},
        rate_share=lambda: 13.5,
        concurrency_share=lambda: 2,
        concurrency_limit=lambda: 1,
        coalesced=lambda: 4,
    )
    assert rec.values("leadsync.events.in_flight") == {frozenset(): 3}
    assert rec.values("leadsync.breaker.state") == {frozenset(): 0}
    assert rec.values("leadsync.consumer.lag") == {
        labels(topic="lead-changes", partition="0"): 7,
        labels(topic="lead-changes", partition="5"): 0,
    }
    assert rec.values("leadsync.share.rate") == {frozenset(): 13.5}
    assert rec.values("leadsync.share.concurrency") == {frozenset(): 2}
    assert rec.values("leadsync.concurrency.limit") == {frozenset(): 1}
    assert rec.values("leadsync.events.coalesced") == {frozenset(): 4}
    in_flight[0], breaker[0] = 9, "open"
    assert rec.values("leadsync.events.in_flight") == {frozenset(): 9}
    assert rec.values("leadsync.breaker.state") == {frozenset(): 1}


@pytest.mark.parametrize(
    ("state", "value"), [("closed", 0), ("open", 1), ("probing", 2), ("bogus", None)]
)
def test_breaker_states_are_numbered(state: str, value: int | None) -> None:
    rec = recorded()
    rec.telemetry.metrics.observe_gauges(breaker=lambda: state)
    expected: dict[frozenset[tuple[str, object]], int] = (
        {} if value is None else {frozenset(): value}
    )
    assert rec.values("leadsync.breaker.state") == expected


def test_a_gauge_without_a_source_reports_nothing_and_a_source_can_be_replaced() -> None:
    rec = recorded()
    assert rec.points("leadsync.events.in_flight") == []
    rec.telemetry.metrics.observe_gauges(in_flight=lambda: 1)
    rec.telemetry.metrics.observe_gauges(in_flight=lambda: 2, concurrency_limit=lambda: 3)
    assert rec.values("leadsync.events.in_flight") == {frozenset(): 2}
    assert rec.values("leadsync.concurrency.limit") == {frozenset(): 3}


async def test_a_collection_from_another_thread_reads_gauges_on_the_event_loop() -> None:
    rec = recorded()
    read_on: list[int] = []

    def in_flight() -> int:
        read_on.append(threading.get_ident())
        return 5

    rec.telemetry.metrics.observe_gauges(in_flight=in_flight)
    values = await asyncio.to_thread(rec.values, "leadsync.events.in_flight")
    assert values == {frozenset(): 5}
    assert read_on == [threading.get_ident()]


async def test_a_stuck_event_loop_costs_a_sample_not_the_collection() -> None:
    rec = recorded()
    rec.telemetry.metrics.observe_gauges(in_flight=lambda: 5, concurrency_limit=lambda: 1)
    collected: list[object] = []
    thread = threading.Thread(
        target=lambda: collected.append(rec.values("leadsync.events.in_flight"))
    )
    thread.start()
    # Joining blocks this event loop: the exporter thread must give up on it.
    thread.join(timeout=SAMPLE_TIMEOUT_S * 20)
    assert not thread.is_alive()
    assert collected == [{}]


def test_prometheus_names_are_clean_and_documented() -> None:
    rec = recorded()
    telemetry = rec.telemetry
    telemetry.metrics.call_finished(CallResult(Applied(), 200, 0.1, URL), waited_s=0.0)
    telemetry.event_applied(event_time_s=1_700_000_000.0)
    telemetry.event_dead_lettered("INVALID_EVENT")
    telemetry.retry_scheduled(HTTP_429, 1, 1.0)
    telemetry.progress.progress_written(0.004, 120, 0)
    telemetry.metrics.observe_gauges(
        in_flight=lambda: 1,
        breaker=lambda: "closed",
        lag=lambda: {("lead-changes", 0): 2},
        rate_share=lambda: 40.0,
        concurrency_share=lambda: 4,
        concurrency_limit=lambda: 4,
        coalesced=lambda: 0,
        oldest_unfinished=lambda: {("lead-changes", 0): 1_700_000_000_000},
        last_commit=lambda: 1_700_000_000.0,
        paused=lambda: 0,
    )
    families = {
        family.name: family.type
        for family in text_string_to_metric_families(telemetry.metrics_text().decode())
        if family.name != "target_info"
    }
    assert families == {
        "leadsync_events": "counter",
        "leadsync_retries": "counter",
        "leadsync_noojee_calls": "counter",
        "leadsync_noojee_call_duration_seconds": "histogram",
        "leadsync_throttle_wait_seconds": "histogram",
        "leadsync_events_in_flight": "gauge",
        "leadsync_breaker_state": "gauge",
        "leadsync_consumer_lag": "gauge",
        "leadsync_share_rate_per_second": "gauge",
        "leadsync_share_concurrency": "gauge",
        "leadsync_concurrency_limit": "gauge",
        "leadsync_events_coalesced": "counter",
        "leadsync_events_resumed": "counter",
        "leadsync_progress_omitted": "counter",
        "leadsync_progress_write_failures": "counter",
        "leadsync_progress_write_duration_seconds": "histogram",
        "leadsync_progress_record_size_bytes": "histogram",
        "leadsync_event_freshness_seconds": "histogram",
        "leadsync_oldest_unfinished_age_seconds": "gauge",
        "leadsync_last_commit_timestamp_seconds": "gauge",
        "leadsync_maintenance_paused": "gauge",
    }
    metrics_table = (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"`(leadsync_[a-z_]+)`", metrics_table))
    exposed = {name + ("_total" if kind == "counter" else "") for name, kind in families.items()}
    assert exposed <= documented, f"undocumented metrics: {sorted(exposed - documented)}"


def test_counters_appear_with_their_first_increment_as_monotonic_sums() -> None:
    rec = recorded()
    assert rec.points("leadsync.events") == []
    assert rec.points("leadsync.noojee.calls") == []
    assert rec.points("leadsync.retries") == []
    rec.telemetry.event_applied()
    assert rec.values("leadsync.events") == {labels(outcome="applied"): 1}
    rec.telemetry.event_applied()
    assert rec.values("leadsync.events") == {labels(outcome="applied"): 2}  # cumulative
    data = rec.reader.get_metrics_data()
    assert data is not None
    (events,) = [
        metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "leadsync.events"
    ]
    assert isinstance(events.data, Sum)
    assert events.data.is_monotonic
    assert events.data.aggregation_temporality is AggregationTemporality.CUMULATIVE


async def test_a_collection_from_another_thread_reads_the_counts_so_far() -> None:
    rec = recorded()
    for _ in range(3):
        rec.telemetry.metrics.call_finished(CallResult(Applied(), 200, 0.1, URL), waited_s=0.0)
    rec.telemetry.metrics.call_finished(CallResult(HTTP_429, 429, 0.1, URL), waited_s=0.0)
    values = await asyncio.to_thread(rec.values, "leadsync.noojee.calls")
    assert values == {
        labels(code="0", outcome="applied", reason="OK"): 3,
        labels(code="none", outcome="retry", reason="HTTP_429"): 1,
    }

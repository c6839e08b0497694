"""Histograms counted by leadsync and added to each collection (observability.histograms)."""

from __future__ import annotations

import math

import pytest
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
)

from consumer.observability.histograms import (
    HistogramDelta,
    HistogramSpec,
    HistogramTallies,
)
from consumer.observability.otel_env import build_providers, histograms_in_delta
from consumer.observability.telemetry import Telemetry
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied
from tests.telemetry_helpers import recorded

SPEC = HistogramSpec("test.wait", "s", "a wait", (0.1, 1.0))


def test_a_tally_counts_as_the_sdk_does_and_ignores_what_the_sdk_ignores() -> None:
    tally = HistogramTallies("leadsync").histogram(SPEC)
    for value in (0.05, 0.1, 0.5, 1.0, 7.0, -1.0, math.inf, math.nan):
        tally.record(value, (("outcome", "applied"),))
    ((labels, point),) = tally.points(now_ns=5)
    assert labels == (("outcome", "applied"),)
    assert point.attributes == {"outcome": "applied"}
    assert list(point.bucket_counts) == [2, 2, 1]  # (-inf, 0.1], (0.1, 1], (1, inf)
    assert (point.count, point.min, point.max) == (5, 0.05, 7.0)
    assert point.sum == pytest.approx(8.65)
    assert point.time_unix_nano == 5


def test_delta_points_hold_what_came_since_the_last_collection() -> None:
    tally = HistogramTallies("leadsync").histogram(SPEC)
    delta = HistogramDelta()
    tally.record(0.05)
    (first,) = delta.since(SPEC.name, tally.points(now_ns=10))
    assert first.count == 1
    assert delta.since(SPEC.name, tally.points(now_ns=20)) == []  # nothing new: no point
    tally.record(0.5)
    tally.record(0.7)
    (second,) = delta.since(SPEC.name, tally.points(now_ns=30))
    assert isinstance(second, HistogramDataPoint)
    assert (second.count, list(second.bucket_counts)) == (2, [0, 2, 0])
    assert second.sum == pytest.approx(1.2)
    assert (second.start_time_unix_nano, second.time_unix_nano) == (20, 30)


def test_the_service_readers_show_the_histograms_as_delta_only_when_otlp_asks() -> None:
    preference = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
    assert not histograms_in_delta({}, "otlp")
    assert histograms_in_delta({preference: "delta"}, "otlp")
    assert histograms_in_delta({preference: "LOWMEMORY"}, "otlp")
    assert not histograms_in_delta({preference: "cumulative"}, "otlp")
    assert not histograms_in_delta({preference: "delta"}, "console")


def test_tallied_histograms_join_the_meters_scope_as_cumulative_histograms() -> None:
    rec = recorded()
    rec.telemetry.metrics.call_finished(CallResult(Applied(), 200, 0.2, "u"), waited_s=0.0)
    data = rec.reader.get_metrics_data()
    assert data is not None
    (resource,) = data.resource_metrics
    (scope,) = resource.scope_metrics
    assert scope.scope.name == "leadsync"
    found = {metric.name: metric for metric in scope.metrics}
    duration = found["leadsync.noojee.call.duration"]
    assert (duration.unit, duration.description) == (
        "s",
        "Duration of one updateLeadFast call, by outcome.",
    )
    assert isinstance(duration.data, Histogram)
    assert duration.data.aggregation_temporality is AggregationTemporality.CUMULATIVE


def test_the_service_providers_count_the_histograms_and_show_them_in_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    providers = build_providers(version="test")
    telemetry = Telemetry(
        providers.tracer_provider,
        providers.meter_provider,
        consumer_group="g",
        prometheus=providers.prometheus,
        tallies=providers.tallies,
    )
    telemetry.metrics.call_finished(CallResult(Applied(), 200, 0.2, "u"), waited_s=0.0)
    text = telemetry.metrics_text().decode()
    assert 'leadsync_noojee_call_duration_seconds_count{outcome="applied"} 1.0' in text
    providers.meter_provider.shutdown()

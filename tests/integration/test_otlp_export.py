"""OTLP over HTTP, configured only by OTEL_* variables, received by a collector on 127.0.0.1."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from consumer.observability.telemetry import Telemetry
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied, Retry
from consumer.settings import Settings
from contracts.noojee import UPDATE_LEAD_FAST_PATH
from tests.telemetry_helpers import PRODUCER_SPAN_ID, PRODUCER_TRACE_ID, record

KEY = "otlp-distinctive-key-4e1b"


class Collector:
    """Keeps the body of every OTLP request, by path."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = defaultdict(list)

    async def receive(self, request: web.Request) -> web.Response:
        self.bodies[request.path].append(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    received = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", received.receive)
    app.router.add_post("/v1/metrics", received.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield received, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def attributes(pairs: list[KeyValue]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        value = pair.value
        out[pair.key] = getattr(value, value.WhichOneof("value") or "string_value")
    return out


async def test_spans_and_metrics_reach_the_collector_named_by_otel_variables(
    collector: tuple[Collector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    received, endpoint = collector
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "600000")  # only the final export
    monkeypatch.setenv("OTEL_SERVICE_NAME", "leadsync-otlp-test")
    settings = Settings(
        kafka_bootstrap="127.0.0.1:9092",
        noojee_url="http://127.0.0.1:8000",
        noojee_api_key=KEY,
    )
    telemetry = Telemetry.from_settings(settings, version="9.9.9")
    telemetry.metrics.observe_gauges(in_flight=lambda: 2)
    leaky = f"http://127.0.0.1:8000{UPDATE_LEAD_FAST_PATH}?apiKey={KEY}"
    retry = Retry("HTTP_429", "slow down", http_status=429)
    with telemetry.event_span(record(), event_id="ev-1", lead_id="CRM-1"):
        telemetry.attempt_finished(CallResult(retry, 429, 0.05, leaky), 1, 0.0)
        telemetry.retry_scheduled(retry, 1, 0.25)
        telemetry.attempt_finished(CallResult(Applied(), 200, 0.05, leaky), 2, 0.0)
        telemetry.event_applied()
    await telemetry.shutdown()

    assert KEY.encode() not in b"".join(b for bodies in received.bodies.values() for b in bodies)
    spans = [
        (span, attributes(list(resource.resource.attributes)))
        for body in received.bodies["/v1/traces"]
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    by_name = {span.name: span for span, _ in spans}
    event = by_name["process lead-changes"]
    assert event.trace_id == PRODUCER_TRACE_ID.to_bytes(16, "big")
    assert event.parent_span_id == PRODUCER_SPAN_ID.to_bytes(8, "big")
    assert [e.name for e in event.events] == ["retry"]
    calls = [span for span, _ in spans if span.name == f"POST {UPDATE_LEAD_FAST_PATH}"]
    assert len(calls) == 2
    assert {call.parent_span_id for call in calls} == {event.span_id}
    for _, resource in spans:
        assert resource["service.name"] == "leadsync-otlp-test"
        assert resource["service.version"] == "9.9.9"

    sums: dict[str, float] = defaultdict(float)
    gauges: dict[str, float] = {}
    histograms: dict[str, int] = defaultdict(int)
    for body in received.bodies["/v1/metrics"]:
        for resource_metrics in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.sum.data_points:
                        sums[metric.name] += point.as_int or point.as_double
                    for point in metric.gauge.data_points:
                        gauges[metric.name] = point.as_int or point.as_double
                    for hpoint in metric.histogram.data_points:
                        histograms[f"{metric.name} {metric.unit}"] += hpoint.count
    assert sums["leadsync.noojee.calls"] == 2
    assert sums["leadsync.events"] == 1
    assert gauges["leadsync.events.in_flight"] == 2
    # The histograms leadsync counts itself reach OTLP like the SDK's would.
    assert histograms == {"leadsync.noojee.call.duration s": 2, "leadsync.throttle.wait s": 2}

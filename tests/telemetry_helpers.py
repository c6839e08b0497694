"""In-memory OpenTelemetry for tests: spans, metric points and the Prometheus text, read back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.structs import ConsumerRecord
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from consumer.observability.histograms import HistogramTallies
from consumer.observability.metrics import METER_NAME
from consumer.observability.otel_env import prometheus_reader
from consumer.observability.telemetry import Telemetry

TOPIC = "lead-changes"
GROUP = "leadsync-test"
PRODUCER_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PRODUCER_SPAN_ID = 0xB7AD6B7169203331
PRODUCER_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclass
class Recorded:
    """A ``Telemetry`` whose spans and metrics stay in memory."""

    telemetry: Telemetry
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    registry: CollectorRegistry

    def finished(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.spans.get_finished_spans())

    def points(self, name: str) -> list[NumberDataPoint]:
        """Counter and gauge points of the metric ``name`` (empty when never recorded)."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
            if isinstance(point, NumberDataPoint)
        ]

    def values(self, name: str) -> dict[frozenset[tuple[str, AttributeValue]], float]:
        """Metric ``name``'s value per attribute set."""
        return {
            frozenset((point.attributes or {}).items()): point.value for point in self.points(name)
        }


class TalliedInMemoryReader(InMemoryMetricReader):
    """The in-memory reader, with the tallied histograms, as the service's readers have."""

    def __init__(self, tallies: HistogramTallies) -> None:
        super().__init__()
        self._tallies = tallies

    def _receive_metrics(self, metrics_data: MetricsData, *args: Any, **kwargs: Any) -> None:
        super()._receive_metrics(self._tallies.added_to(metrics_data), *args, **kwargs)


def recorded(*, secret: str | None = None, tracing: bool = True, tallied: bool = True) -> Recorded:
    """``tallied``: histograms counted by leadsync and added by the readers, as the
    service's providers do (``otel_env.build_providers``); else the SDK's own."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    tallies = HistogramTallies(METER_NAME) if tallied else None
    reader = TalliedInMemoryReader(tallies) if tallies else InMemoryMetricReader()
    registry = CollectorRegistry()
    meter_provider = MeterProvider(metric_readers=[reader, prometheus_reader(registry, tallies)])
    telemetry = Telemetry(
        tracer_provider if tracing else NoOpTracerProvider(),
        meter_provider,
        consumer_group=GROUP,
        secret=SecretStr(secret) if secret is not None else None,
        prometheus=registry,
        tallies=tallies,
    )
    return Recorded(telemetry, spans, reader, registry)


def record(
    *,
    offset: int = 17,
    partition: int = 2,
    key: bytes | None = b"CRM-1",
    value: bytes | None = b"{}",
    headers: Sequence[tuple[str, bytes]] = (("traceparent", PRODUCER_TRACEPARENT.encode()),),
    topic: str = TOPIC,
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=1_700_000_000_000,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""),
        headers=list(headers),
    )


def strings_in(spans: Sequence[ReadableSpan]) -> Iterator[str]:
    """Every text a span carries: name, attributes, events, status."""
    for span in spans:
        yield span.name
        if span.status.description:
            yield span.status.description
        yield from (f"{k}={v!s}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            yield event.name
            yield from (f"{k}={v!s}" for k, v in (event.attributes or {}).items())

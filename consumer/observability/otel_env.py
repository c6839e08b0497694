"""OpenTelemetry providers from the standard ``OTEL_*`` variables, export off unless configured.

Which exporters run is decided in ``otel_plan`` (``export_plan``); the exporters
read the rest of their configuration (endpoint, headers, timeout, intervals,
sampler, resource) from the environment themselves, as the SDK documents.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import (
    SERVICE_NAME,
    SERVICE_VERSION,
    OTELResourceDetector,
    Resource,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from prometheus_client import CollectorRegistry, ProcessCollector

from consumer.errors import TelemetryConfigError
from consumer.observability.histograms import HistogramDelta, HistogramTallies
from consumer.observability.metrics import METER_NAME
from consumer.observability.otel_plan import OTLP, SERVICE, ExportPlan, export_plan, otel_problems

# -- building providers (reads os.environ through the SDK) ----------------------------------


@dataclass(frozen=True, slots=True)
class Providers:
    tracer_provider: trace.TracerProvider
    meter_provider: MeterProvider
    prometheus: CollectorRegistry
    shutdown: tuple[Callable[[], object], ...]
    tallies: HistogramTallies
    """The histograms every reader here adds to its collections (``Metrics`` counts them)."""


class TalliedPrometheusReader(PrometheusMetricReader):
    """The Prometheus reader, with the tallied histograms in each collection."""

    def __init__(self, registry: CollectorRegistry, tallies: HistogramTallies) -> None:
        super().__init__(scope_info_enabled=False, registry=registry)
        self._tallies = tallies

    def _receive_metrics(self, metrics_data: MetricsData, *args: Any, **kwargs: Any) -> None:
        super()._receive_metrics(self._tallies.added_to(metrics_data), *args, **kwargs)


class TalliedPeriodicReader(PeriodicExportingMetricReader):
    """The periodic exporting reader, with the tallied histograms in each export."""

    def __init__(self, exporter: MetricExporter, tallies: HistogramTallies, *, delta: bool) -> None:
        super().__init__(exporter)
        self._tallies = tallies
        self._delta = HistogramDelta() if delta else None

    def _receive_metrics(self, metrics_data: MetricsData, *args: Any, **kwargs: Any) -> None:
        data = self._tallies.added_to(metrics_data, self._delta)
        super()._receive_metrics(data, *args, **kwargs)


def prometheus_reader(
    registry: CollectorRegistry, tallies: HistogramTallies | None = None
) -> PrometheusMetricReader:
    """A reader that renders into ``registry`` (never the global one: tests build many)."""
    if tallies is not None:
        return TalliedPrometheusReader(registry, tallies)
    return PrometheusMetricReader(scope_info_enabled=False, registry=registry)


def histograms_in_delta(environ: Mapping[str, str], exporter: str) -> bool:
    """Whether the OTLP exporter asks for delta histograms (the SDK's rule: DELTA and
    LOWMEMORY both do); the console exporter and Prometheus are cumulative."""
    preference = environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "")
    return exporter == OTLP and preference.strip().upper() in {"DELTA", "LOWMEMORY"}


def service_resource(version: str) -> Resource:
    """``service.name`` leadsync and the version, unless ``OTEL_SERVICE_NAME`` or
    ``OTEL_RESOURCE_ATTRIBUTES`` say otherwise."""
    configured = OTELResourceDetector().detect().attributes
    return Resource.create({SERVICE_NAME: SERVICE, SERVICE_VERSION: version, **configured})


def build_providers(*, version: str) -> Providers:
    """The providers the ``OTEL_*`` variables ask for; ``TelemetryConfigError`` names a bad one."""
    problems = otel_problems(os.environ)
    if problems:
        raise TelemetryConfigError("\n".join(problems))
    try:
        return _providers(version, export_plan(os.environ))
    except (ValueError, TypeError) as exc:  # the SDK's own checks, should ours miss one
        raise TelemetryConfigError(
            f"OTEL_*: the OpenTelemetry SDK refused its settings: {exc}"
        ) from None


def _providers(version: str, plan: ExportPlan) -> Providers:
    resource = service_resource(version)
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    tallies = HistogramTallies(METER_NAME)
    readers: list[MetricReader] = [prometheus_reader(registry, tallies)]
    readers += [
        TalliedPeriodicReader(
            _metric_exporter(name), tallies, delta=histograms_in_delta(os.environ, name)
        )
        for name in plan.metrics
    ]
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    shutdown: list[Callable[[], object]] = [meter_provider.shutdown]
    tracer_provider: trace.TracerProvider = trace.NoOpTracerProvider()
    if plan.traces:
        sdk_tracer_provider = TracerProvider(resource=resource)
        for name in plan.traces:
            sdk_tracer_provider.add_span_processor(BatchSpanProcessor(_span_exporter(name)))
        tracer_provider = sdk_tracer_provider
        shutdown.insert(0, sdk_tracer_provider.shutdown)
    return Providers(tracer_provider, meter_provider, registry, tuple(shutdown), tallies)


# ``out`` given here: the console exporters' default is the stdout of import time.


def _span_exporter(name: str) -> SpanExporter:
    return OTLPSpanExporter() if name == OTLP else ConsoleSpanExporter(out=sys.stdout)


def _metric_exporter(name: str) -> MetricExporter:
    return OTLPMetricExporter() if name == OTLP else ConsoleMetricExporter(out=sys.stdout)

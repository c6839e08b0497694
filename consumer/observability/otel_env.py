"""OpenTelemetry providers from the standard ``OTEL_*`` variables, export off unless configured.

Which exporters run is a pure decision (``export_plan``), per signal:

- ``OTEL_SDK_DISABLED=true``: none (the SDK itself then records nothing);
- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` set: those named
  (``otlp``, ``console``, ``none``; ``prometheus`` is accepted for metrics and
  means the ``/metrics`` endpoint, which is always there);
- otherwise ``otlp`` when an endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``
  or the signal's own), else nothing. The specification's default is ``otlp``
  everywhere; a service that exports to localhost:4318 unasked would log
  connection errors in every deployment without a collector.

OTLP goes over HTTP (``http/protobuf``) only; the exporters read the rest of
their configuration (endpoint, headers, timeout, intervals, sampler, resource)
from the environment themselves, as the SDK documents.
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

OTLP = "otlp"
CONSOLE = "console"
NONE = "none"
PROMETHEUS = "prometheus"
HTTP_PROTOBUF = "http/protobuf"
SERVICE = "leadsync"

_SIGNALS = {"traces": (OTLP, CONSOLE), "metrics": (OTLP, CONSOLE)}


@dataclass(frozen=True, slots=True)
class ExportPlan:
    traces: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()


def export_plan(environ: Mapping[str, str]) -> ExportPlan:
    """Exporters to run per signal (see the module docstring); raises ``TelemetryConfigError``."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ExportPlan()
    chosen = {signal: _exporters(environ, signal) for signal in _SIGNALS}
    problems = [
        problem
        for signal, names in chosen.items()
        if OTLP in names and (problem := _protocol_problem(environ, signal))
    ]
    if problems:
        raise TelemetryConfigError("\n".join(problems))
    return ExportPlan(traces=chosen["traces"], metrics=chosen["metrics"])


def _exporters(environ: Mapping[str, str], signal: str) -> tuple[str, ...]:
    variable = f"OTEL_{signal.upper()}_EXPORTER"
    value = environ.get(variable, "").strip().lower()
    if not value:
        endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        return (OTLP,) if any(environ.get(name, "").strip() for name in endpoints) else ()
    names = [name.strip() for name in value.split(",") if name.strip()]
    ignored = {NONE, PROMETHEUS} if signal == "metrics" else {NONE}
    unknown = [name for name in names if name not in {*_SIGNALS[signal], *ignored}]
    if unknown:
        known = ", ".join(sorted({*_SIGNALS[signal], *ignored}))
        raise TelemetryConfigError(f"{variable}: unknown exporter {unknown[0]!r} (known: {known})")
    return tuple(dict.fromkeys(name for name in names if name not in ignored))


def _protocol_problem(environ: Mapping[str, str], signal: str) -> str | None:
    """The signal's own variable wins over the general one, as in the SDK."""
    for variable in (
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ):
        value = environ.get(variable, "").strip()
        if value:
            if value == HTTP_PROTOBUF:
                return None
            return f"{variable}: leadsync exports OTLP over {HTTP_PROTOBUF} only, not {value!r}"
    return None


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
    plan = export_plan(os.environ)
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

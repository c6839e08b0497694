"""Scenario 8: what exporting traces and metrics costs, on scenario 3's CPU-bound load.

Telemetry on is the service configured by the standard ``OTEL_*`` variables
(``consumer.observability.otel_env``) to export traces and metrics over OTLP/HTTP to a
collector this benchmark runs: a small aiohttp server that answers every export
and counts what it received, so the figures prove the export happened. Off is
the default: no tracing, metrics only for the Prometheus ``/metrics`` endpoint.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks.flows import Mode, RunResult, caveats, drain, leadsync
from benchmarks.harness import world
from benchmarks.report import TIMES, Figure, ScenarioResult
from benchmarks.resources import best

METRIC_EXPORT_INTERVAL_MS = 5000
"""Shorter than the SDK's 60 s, so metric exports happen during a run, not only at exit."""
SPANS_PER_EVENT = 2
"""Without retries: the event's CONSUMER span and its call's CLIENT span."""
PROTOBUF = "application/x-protobuf"


@dataclass
class Received:
    """What the collector was sent: raw bodies, decoded once the run is over."""

    trace_bodies: list[bytes] = field(default_factory=list)
    metric_bodies: list[bytes] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(map(len, self.trace_bodies)) + sum(map(len, self.metric_bodies))

    def spans(self) -> int:
        count = 0
        for body in self.trace_bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            count += sum(
                len(scope.spans) for spans in request.resource_spans for scope in spans.scope_spans
            )
        return count

    def metric_points(self) -> int:
        count = 0
        for body in self.metric_bodies:
            request = ExportMetricsServiceRequest()
            request.ParseFromString(body)
            for metrics in request.resource_metrics:
                for scope in metrics.scope_metrics:
                    for metric in scope.metrics:
                        kind = metric.WhichOneof("data")
                        if kind is not None:
                            count += len(getattr(metric, kind).data_points)
        return count


class Collector:
    """An OTLP/HTTP endpoint: accepts ``POST /v1/traces`` and ``/v1/metrics``, keeps the bodies."""

    def __init__(self) -> None:
        self.received = Received()
        self.endpoint = ""

    def reset(self) -> Received:
        """What was received so far; counting starts again."""
        taken, self.received = self.received, Received()
        return taken

    async def _traces(self, request: web.Request) -> web.Response:
        self.received.trace_bodies.append(await _body(request))
        return web.Response(body=b"", content_type=PROTOBUF)

    async def _metrics(self, request: web.Request) -> web.Response:
        self.received.metric_bodies.append(await _body(request))
        return web.Response(body=b"", content_type=PROTOBUF)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Collector]:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]
            self.endpoint = f"http://{host}:{port}"
            yield self
        finally:
            await runner.cleanup()


async def _body(request: web.Request) -> bytes:
    body = await request.read()
    return gzip.decompress(body) if request.headers.get("Content-Encoding") == "gzip" else body


def exporting_env(endpoint: str) -> dict[str, str]:
    """Traces and metrics over OTLP/HTTP to ``endpoint``; the batch processor's defaults."""
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRIC_EXPORT_INTERVAL": str(METRIC_EXPORT_INTERVAL_MS),
    }


async def telemetry(mode: Mode, workdir: Path) -> ScenarioResult:
    events, repeats = mode.pick(5000, 40000), mode.pick(2, 3)
    settings: dict[str, object] = {"max_concurrency": 256, "rate_limit": 1_000_000}
    on_runs: list[tuple[RunResult, Received]] = []
    off_runs: list[RunResult] = []
    async with world(workdir) as w, Collector().running() as collector:
        otel = exporting_env(collector.endpoint)
        pbx = await w.pbx(threads=512, min_service_ms=1, max_service_ms=1)

        async def run(name: str, env: Mapping[str, str] | None) -> RunResult:
            return await drain(
                w,
                pbx,
                leadsync(w, pbx, settings, name=name, env=env),
                partitions=4,
                backlog=events,
                preload=True,
                fetch=False,
                timeout_s=300,
            )

        for _ in range(repeats):  # alternating, so a busy spell on the machine hits both
            collector.reset()
            traced = await run("traced", otel)
            on_runs.append((traced, collector.reset()))  # stopped: its exporters have flushed
            off_runs.append(await run("untraced", None))
    on = best([run for run, _ in on_runs])
    off = best(off_runs)
    received = next(got for run, got in on_runs if run is on)
    spans, points, sent = received.spans(), received.metric_points(), received.size
    exported = spans > 0 and points > 0
    cpu, floor = on.cpu_us_per_event, off.cpu_us_per_event
    ratio = cpu / floor if cpu and floor and exported else None
    repeated = (
        f" Each side ran {repeats} times, alternating, and its run with the least CPU per"
        " event is shown (the machine is shared: the least disturbed run is the truest)."
    )
    result = ScenarioResult(
        "telemetry",
        "8. Telemetry on vs off",
        f"scenario 3's load: PBX --threads 512 (capacity {pbx.capacity}), 1 ms calls;"
        f" {events} events waiting; MAX_CONCURRENCY=256, rate unlimited. The leadsync"
        " column is telemetry on: OTEL_TRACES_EXPORTER=otlp, OTEL_METRICS_EXPORTER=otlp,"
        " OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, OTEL_EXPORTER_OTLP_ENDPOINT a"
        " collector in the benchmark's own process (an aiohttp server that answers every"
        " export and counts what it got), OTEL_METRIC_EXPORT_INTERVAL="
        f"{METRIC_EXPORT_INTERVAL_MS}, the batch span processor's defaults, every span"
        " sampled. CPU is the service process's user + system time while the PBX's applied"
        " counter went from 0 to the last event; the collector's is not counted."
        + (repeated if repeats > 1 else ""),
        "the same service with telemetry off, the default: no tracing, metrics kept only"
        " for the Prometheus /metrics endpoint (not scraped).",
    )
    unexported = "collector received spans and metrics"
    result.figures = [
        Figure("events/s", on.events_per_s, "/s", off.events_per_s, compare=exported),
        Figure(
            "CPU per applied event" if exported else "CPU per applied event (nothing exported)",
            cpu,
            "µs",
            floor,
            "" if exported else unexported,
            None if exported else False,
            compare=exported,
        ),
        Figure("peak RSS", on.peak_rss_mb, "MB", off.peak_rss_mb, compare=exported),
        Figure("spans received by the collector", spans, "", None, "> 0", spans > 0),
        Figure("metric points received by the collector", points, "", None, "> 0", points > 0),
        Figure("OTLP bytes received (traces + metrics)", sent / 1e6, "MB"),
    ]
    per_event = spans / on.applied if on.applied else 0.0
    received_text = (
        f"The collector received {spans:,} spans for {on.applied:,} applied events"
        f" ({per_event:.2f} per event, {SPANS_PER_EVENT} expected without retries; fewer"
        f" means the processor's queue dropped some), {points:,} metric points and"
        f" {sent / 1e6:.1f} MB in {len(received.trace_bodies)} trace and"
        f" {len(received.metric_bodies)} metric requests."
    )
    if exported:
        outcome = (
            f"{received_text} Exporting cost {(cpu or 0) - (floor or 0):.0f} µs of CPU per"
            f" event on top of {floor or 0:.0f} µs ({ratio or 0:.2f}{TIMES}), and"
            f" {on.peak_rss_mb - off.peak_rss_mb:.0f} MB of peak memory."
        )
    else:
        outcome = (
            f"Export did not happen: the collector received {spans:,} spans and {points:,}"
            " metric points from the run shown, so it was no telemetry-on run and no"
            " on ÷ off ratio is reported; see the traced service's log in the work"
            " directory."
        )
    result.limits = (
        "CPU, as in scenario 3: the rate is set by what two shared CPUs can do, so every"
        " µs telemetry spends per event is throughput lost. With tracing on, each event"
        " gets a CONSUMER span with the record's attributes, each call attempt a CLIENT"
        " span drawn from its duration (retries add span events), and every span ends in"
        " the batch span processor's queue; its worker thread encodes batches of up to"
        " 512 spans to protobuf and POSTs them, taking the GIL from the event loop."
        " Metrics are recorded either way; on adds a periodic collection and export every"
        f" {METRIC_EXPORT_INTERVAL_MS / 1000:.0f} s. {outcome} The events/s shown are"
        " those of the same least-CPU runs; on a shared machine they swing more than CPU"
        " per event does." + caveats(on=on, off=off)
    )
    return result

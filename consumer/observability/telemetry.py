"""Traces and metrics for the pipeline: one object it calls, providers set up from ``OTEL_*``.

``Telemetry`` is the pipeline's whole view of OpenTelemetry: ``event_span``
wraps one event, the object itself is the delivery's ``AttemptObserver`` (a
CLIENT span and call metrics per attempt, a span event per retry), and
``event_applied`` / ``event_dead_lettered`` count outcomes and mark the span.

Export is off unless configured (``consumer.observability.otel_env``): without an OTLP
endpoint no span is recorded, yet a producer's ``traceparent`` still reaches
the dead letter, because ``event_span`` still makes the parent's context
current (as the no-op tracer would, without building anything else).
Metrics are always collected for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from time import time_ns

from opentelemetry import context, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr

from consumer.observability import tracing
from consumer.observability.histograms import HistogramTallies
from consumer.observability.metrics import Metrics
from consumer.observability.otel_env import build_providers
from consumer.observability.progress_metrics import ProgressMetrics
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Retry, Unavailable
from consumer.pbx.redact import redact_text
from consumer.settings import Settings

TRACER_NAME = "leadsync"
SHUTDOWN_TIMEOUT_S = 10.0
OUTCOME = "leadsync.outcome"
COALESCED = "leadsync.coalesced"

_PROPAGATOR = TraceContextTextMapPropagator()


class Telemetry:
    """Spans and metrics of the pipeline; also its ``delivery.AttemptObserver``."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider,
        meter_provider: MeterProvider,
        *,
        consumer_group: str,
        secret: SecretStr | None = None,
        prometheus: CollectorRegistry | None = None,
        on_shutdown: Sequence[Callable[[], object]] = (),
        tallies: HistogramTallies | None = None,
    ) -> None:
        """``prometheus`` is the registry ``metrics_text`` renders (see
        ``otel_env.prometheus_reader``); ``on_shutdown`` flushes owned providers;
        ``tallies`` counts the histograms when the providers' readers add them."""
        key = secret.get_secret_value() if secret is not None else ""
        # The same few texts (the call URL per campaign, reason names) come back on
        # every call: redact each once.
        self._redact: tracing.Redact = functools.lru_cache(maxsize=1024)(
            lambda text: redact_text(text, key)
        )
        self._tracer = tracer_provider.get_tracer(TRACER_NAME)
        # Tracing off (the default without OTEL_* settings): spans still carry the
        # producer's context through to dead letters, but nothing is worth building.
        self._tracing = not isinstance(tracer_provider, trace.NoOpTracerProvider)
        self._group = consumer_group
        self._prometheus = prometheus
        self._on_shutdown = list(on_shutdown)
        self.metrics = Metrics(meter_provider, redact=self._redact, tallies=tallies)
        self.progress = ProgressMetrics(meter_provider)

    @classmethod
    def from_settings(cls, settings: Settings, *, version: str) -> Telemetry:
        """Providers from the ``OTEL_*`` variables; raises ``otel_env.TelemetryConfigError``."""
        providers = build_providers(version=version)
        return cls(
            providers.tracer_provider,
            providers.meter_provider,
            consumer_group=settings.group_id,
            secret=settings.noojee_api_key,
            prometheus=providers.prometheus,
            on_shutdown=providers.shutdown,
            tallies=providers.tallies,
        )

    # -- one event -------------------------------------------------------------

    def event_span(
        self,
        record: tracing.RecordLike,
        *,
        event_id: str | None,
        lead_id: str | None,
        coalesced_into: trace.Span | None = None,
    ) -> AbstractContextManager[trace.Span]:
        """The CONSUMER span ``process <topic>``, current for the block, child of
        the record's ``traceparent``.

        ``coalesced_into`` is the span of the event whose call carried this one
        (coalescing): the two are linked, each staying in its producer's trace.

        With tracing off nothing is recorded, so the block only makes the
        producer's span context current (what the no-op tracer would do), for
        the dead letter's ``traceparent`` and the log lines' trace ids.
        """
        if not self._tracing:
            return _Current(_producer_span(record.headers))
        return self._recorded_span(
            record, event_id=event_id, lead_id=lead_id, coalesced_into=coalesced_into
        )

    @contextmanager
    def _recorded_span(
        self,
        record: tracing.RecordLike,
        *,
        event_id: str | None,
        lead_id: str | None,
        coalesced_into: trace.Span | None,
    ) -> Iterator[trace.Span]:
        parent = _PROPAGATOR.extract(record.headers, getter=tracing.HEADERS_GETTER)
        attributes = tracing.record_attributes(
            record,
            consumer_group=self._group,
            event_id=event_id,
            lead_id=lead_id,
            redact=self._redact,
        )
        links = None
        if coalesced_into is not None:
            attributes[COALESCED] = True
            links = [trace.Link(coalesced_into.get_span_context())]
        with self._tracer.start_as_current_span(
            tracing.process_span_name(record.topic),
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
            # Recorded below, redacted: an exception message may quote anything.
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except asyncio.CancelledError:
                span.set_attribute(OUTCOME, "abandoned")
                raise
            except Exception as exc:
                message = self._redact(str(exc))
                span.add_event(
                    "exception",
                    {"exception.type": type(exc).__qualname__, "exception.message": message},
                )
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
                raise

    def current_traceparent(self) -> str | None:
        """The W3C ``traceparent`` of the current span, for the dead-letter header."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier.get("traceparent")

    def event_applied(self, event_time_s: float | None = None) -> None:
        """``event_time_s``: when the event happened (Unix s), for the freshness histogram."""
        self.metrics.event_applied(event_time_s)
        if self._tracing:  # otherwise the current span records nothing
            trace.get_current_span().set_attribute(OUTCOME, "applied")

    def event_dead_lettered(self, reason: str, message: str = "") -> None:
        """Count a dead letter and mark the current event span failed with ``reason``."""
        self.metrics.event_dead_lettered(reason)
        span = trace.get_current_span()
        span.set_attributes({OUTCOME: "dead_lettered", "error.type": self._redact(reason)})
        span.set_status(Status(StatusCode.ERROR, self._redact(message or reason)))

    # -- delivery.AttemptObserver ---------------------------------------------------

    def attempt_finished(self, result: CallResult, attempt: int, waited_s: float) -> None:
        """A CLIENT span for the call just made (drawn from its duration), and metrics."""
        self.metrics.call_finished(result, waited_s)
        if not self._tracing:
            return
        end = time_ns()
        span = self._tracer.start_span(
            tracing.CALL_SPAN_NAMES[result.endpoint],
            kind=SpanKind.CLIENT,
            attributes=tracing.call_attributes(result, attempt, waited_s, self._redact),
            start_time=end - int(result.duration_s * 1e9),
        )
        code, description = tracing.call_status(result, self._redact)
        if code is StatusCode.ERROR:
            span.set_status(Status(code, description))
        span.end(end_time=end)

    def retry_scheduled(self, outcome: Retry | Unavailable, attempt: int, delay_s: float) -> None:
        self.metrics.retry_scheduled(outcome.reason)
        trace.get_current_span().add_event(
            tracing.RETRY_EVENT,
            tracing.retry_event_attributes(outcome, attempt, delay_s, self._redact),
        )

    # -- export ----------------------------------------------------------------------

    def metrics_text(self) -> bytes:
        """Every metric in the Prometheus text format (``/metrics``)."""
        if self._prometheus is None:
            return b""
        return generate_latest(self._prometheus)

    async def shutdown(self) -> None:
        """Flush and stop the exporters this object set up (bounded).

        In a thread: a final collection reads the gauges through this event loop.
        """
        for close in self._on_shutdown:
            try:
                await asyncio.wait_for(asyncio.to_thread(close), timeout=SHUTDOWN_TIMEOUT_S)
            except TimeoutError:
                logging.getLogger(__name__).warning("telemetry exporter did not stop in time")
        self._on_shutdown.clear()


def _producer_span(headers: tracing.Headers) -> trace.Span:
    """The producer's span from a ``traceparent`` header, else the invalid span."""
    if not headers:
        return trace.INVALID_SPAN
    return trace.get_current_span(_PROPAGATOR.extract(headers, getter=tracing.HEADERS_GETTER))


class _Current:
    """``span`` current for a ``with`` block: ``trace.use_span`` for a span that
    records nothing, without a generator."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def __enter__(self) -> trace.Span:
        self._token = context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(self, *exc_info: object) -> None:
        context.detach(self._token)


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` to every record logged inside a span.

    Install it on the handler (``handler.addFilter``): a logger's filters miss
    records that propagate from child loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format_trace_id(context.trace_id)
            record.span_id = format_span_id(context.span_id)
        return True

"""Telemetry set-up from OTEL_* variables, trace ids on log lines, and the API key kept out
of every span and metric."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client.parser import text_string_to_metric_families

from consumer.errors import SettingsError, TelemetryConfigError
from consumer.observability.logs import JsonFormatter
from consumer.observability.otel_plan import CONSOLE, OTLP, ExportPlan, export_plan
from consumer.observability.telemetry import Telemetry, TraceContextFilter
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied, Permanent, Retry
from consumer.settings import Settings
from contracts.noojee import UPDATE_LEAD_FAST_PATH
from tests.telemetry_helpers import record, recorded, strings_in

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}


@pytest.mark.parametrize(
    ("environ", "plan"),
    [
        ({}, ExportPlan()),
        (ENDPOINT, ExportPlan(traces=(OTLP,), metrics=(OTLP,))),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ExportPlan((OTLP,))),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, ExportPlan()),
        ({**ENDPOINT, "OTEL_METRICS_EXPORTER": "none"}, ExportPlan(traces=(OTLP,))),
        ({**ENDPOINT, "OTEL_METRICS_EXPORTER": "prometheus"}, ExportPlan(traces=(OTLP,))),
        ({"OTEL_TRACES_EXPORTER": "console"}, ExportPlan(traces=(CONSOLE,))),
        ({"OTEL_TRACES_EXPORTER": " OTLP , console,otlp"}, ExportPlan(traces=(OTLP, CONSOLE))),
        (
            {**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            ExportPlan((OTLP,), (OTLP,)),
        ),
        # gRPC asked for a signal that is not exported: nothing to refuse.
        (
            {"OTEL_TRACES_EXPORTER": "console", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            ExportPlan(traces=(CONSOLE,)),
        ),
    ],
)
def test_export_is_off_unless_configured(environ: dict[str, str], plan: ExportPlan) -> None:
    assert export_plan(environ) == plan


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_METRICS_EXPORTER": "otlp,statsd"}, "OTEL_METRICS_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "prometheus"}, "OTEL_TRACES_EXPORTER"),
        ({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        (
            {
                **ENDPOINT,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json",
            },
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        ),
    ],
)
def test_an_impossible_export_is_a_configuration_error_naming_the_variable(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(TelemetryConfigError, match=variable) as raised:
        export_plan(environ)
    assert isinstance(raised.value, SettingsError)  # start-up reports it like a bad setting


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_TRACES_EXPORTER",
        "OTEL_METRICS_EXPORTER",
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
    ]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def settings() -> Settings:
    return Settings(
        kafka_bootstrap="127.0.0.1:9092",
        noojee_url="http://127.0.0.1:8000",
        noojee_api_key="k3y",
        group_id="group-from-settings",
    )


async def test_from_settings_without_otel_variables_records_metrics_but_no_spans(
    otel_env: pytest.MonkeyPatch,
) -> None:
    telemetry = Telemetry.from_settings(settings(), version="1.2.3")
    try:
        assert isinstance(telemetry._tracer, type(NoOpTracerProvider().get_tracer("x")))
        telemetry.event_applied()
        text = telemetry.metrics_text().decode()
    finally:
        await telemetry.shutdown()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["leadsync_events"].samples[0].value == 1
    assert "process_start_time_seconds" in families
    (info,) = families["target_info"].samples
    assert info.labels["service_name"] == "leadsync"
    assert info.labels["service_version"] == "1.2.3"


async def test_from_settings_with_an_exporter_records_spans_named_by_the_environment(
    otel_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The console exporter: the OTLP one is tested against a receiver in tests/integration.
    otel_env.setenv("OTEL_TRACES_EXPORTER", "console")
    otel_env.setenv("OTEL_SERVICE_NAME", "leadsync-eu")
    otel_env.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=leadsync-0")
    telemetry = Telemetry.from_settings(settings(), version="1.2.3")
    try:
        with telemetry.event_span(record(), event_id="e", lead_id="l") as span:
            assert span.is_recording()
            attributes = getattr(span, "attributes", {})
            resource = getattr(span, "resource", None)
        assert attributes["messaging.consumer.group.name"] == "group-from-settings"
        assert resource is not None
        assert resource.attributes["service.name"] == "leadsync-eu"
        assert resource.attributes["service.version"] == "1.2.3"
        assert resource.attributes["k8s.pod.name"] == "leadsync-0"
    finally:
        await telemetry.shutdown()
    assert '"name": "process lead-changes"' in capsys.readouterr().out


def test_from_settings_refuses_grpc(otel_env: pytest.MonkeyPatch) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    otel_env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(TelemetryConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        Telemetry.from_settings(settings(), version="1.2.3")


# -- log lines ----------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TraceContextFilter())
    logger = logging.getLogger("leadsync.test.trace_ids")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_lines_inside_a_span_carry_its_trace_and_span_ids(
    log_lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_lines
    rec = recorded()
    logger.info("before")
    with rec.telemetry.event_span(record(), event_id="e", lead_id="l"):
        logging.getLogger("leadsync.test.trace_ids.child").info("inside")
    logger.info("after")
    before, inside, after = (json.loads(line) for line in stream.getvalue().splitlines())
    (span,) = rec.finished()
    assert span.context is not None
    assert inside["trace_id"] == f"{span.context.trace_id:032x}"
    assert inside["span_id"] == f"{span.context.span_id:016x}"
    assert "trace_id" not in before
    assert "trace_id" not in after


# -- the API key ----------------------------------------------------------------------------

KEY = "Zq7/distinctive+key=9f3a"
FORMS = {KEY, quote(KEY, safe=""), quote_plus(KEY)}


def test_a_distinctive_api_key_reaches_no_span_and_no_metric() -> None:
    rec = recorded(secret=KEY)
    telemetry = rec.telemetry
    leaky_url = f"https://pbx.example.com{UPDATE_LEAD_FAST_PATH}?apiKey={quote_plus(KEY)}&x=1"
    retry = Retry("EXCEPTION", f"failed calling {leaky_url}", code=103, http_status=500)
    permanent = Permanent(KEY, f"the key {KEY} was quoted", code=101, http_status=200)

    def process() -> None:
        with telemetry.event_span(record(), event_id="e", lead_id="l"):
            telemetry.attempt_finished(CallResult(retry, 500, 0.1, leaky_url), 1, 0.0)
            telemetry.retry_scheduled(retry, 1, 0.5)
            telemetry.attempt_finished(CallResult(permanent, 200, 0.1, leaky_url), 2, 0.0)
            telemetry.event_dead_lettered(KEY, f"apiKey={KEY}")
            raise RuntimeError(f"boom at {leaky_url} with {KEY}")

    with pytest.raises(RuntimeError):
        process()
    with telemetry.event_span(record(), event_id="e2", lead_id="l2"):
        telemetry.attempt_finished(CallResult(Applied(), 200, 0.1, leaky_url), 1, 0.0)
    telemetry.metrics.event_dead_lettered(quote(KEY, safe=""))

    texts = list(strings_in(rec.finished()))
    data = rec.reader.get_metrics_data()
    assert data is not None
    texts += [
        f"{name}={value!s}"
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
        for name, value in (point.attributes or {}).items()
    ]
    texts.append(telemetry.metrics_text().decode())
    assert len(texts) > 50  # the sweep saw the spans, events and metric points
    hits = [text for text in texts for form in FORMS if form in text]
    assert hits == []

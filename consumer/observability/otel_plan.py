"""Which OpenTelemetry exporters run, and which ``OTEL_*`` values are unusable: pure
decisions over the environment, made before anything is built (``otel_env`` builds).

Per signal:

- ``OTEL_SDK_DISABLED=true``: none (the SDK itself then records nothing);
- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` set: those named
  (``otlp``, ``console``, ``none``; ``prometheus`` is accepted for metrics and
  means the ``/metrics`` endpoint, which is always there);
- otherwise ``otlp`` when an endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``
  or the signal's own), else nothing. The specification's default is ``otlp``
  everywhere; a service that exports to localhost:4318 unasked would log
  connection errors in every deployment without a collector.

OTLP goes over HTTP (``http/protobuf``) only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from consumer.errors import TelemetryConfigError

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


_NUMBERS = (
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_METRIC_EXPORT_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
)
_COUNTS = ("OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
_ENDPOINTS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
_COMPRESSIONS = {"gzip", "deflate", "none"}
_SAMPLERS = {
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
}
_FILES = tuple(
    f"OTEL_EXPORTER_OTLP_{signal}{kind}"
    for signal in ("", "TRACES_", "METRICS_")
    for kind in ("CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY")
)


def otel_problems(environ: Mapping[str, str]) -> list[str]:
    """Every unusable ``OTEL_*`` value, one line each naming the variable.

    The SDK itself ignores most bad values with a warning (or fails deep in a
    constructor): at start-up a bad value is a mistake, said once, by name.
    """
    try:
        export_plan(environ)
        problems = []
    except TelemetryConfigError as exc:
        problems = str(exc).splitlines()
    value = {name: environ[name].strip() for name in environ if name.startswith("OTEL_")}
    problems += [
        f"{name}: {value[name]!r} is not a number of milliseconds (0 or more)"
        for name in _NUMBERS
        if name in value and not _number(value[name], minimum=0.0)
    ]
    problems += [
        f"{name}: {value[name]!r} is not a whole number above 0"
        for name in _COUNTS
        if name in value and not (value[name].isdigit() and int(value[name]) > 0)
    ]
    queue, batch = value.get(_COUNTS[0], "2048"), value.get(_COUNTS[1], "512")
    if queue.isdigit() and batch.isdigit() and int(batch) > int(queue):
        problems.append(f"{_COUNTS[1]}: {batch} is more than {_COUNTS[0]} ({queue})")
    problems += [
        f"{name}: {value[name]!r} is not an http:// or https:// URL"
        for name in _ENDPOINTS
        if value.get(name) and urlsplit(value[name]).scheme not in ("http", "https")
    ]
    problems += [
        f"{name}: {value[name]!r} is not one of gzip, deflate, none"
        for name in ("OTEL_EXPORTER_OTLP_COMPRESSION", *_per_signal("COMPRESSION"))
        if value.get(name) and value[name].lower() not in _COMPRESSIONS
    ]
    problems += _sampler_problems(value)
    problems += [
        f"{name}: {value[name]} is not a readable file"
        for name in _FILES
        if value.get(name) and not os.access(value[name], os.R_OK)
    ]
    # One variable can fail for both signals (OTEL_EXPORTER_OTLP_PROTOCOL): say it once.
    return list(dict.fromkeys(problems))


def _per_signal(suffix: str) -> tuple[str, str]:
    return (f"OTEL_EXPORTER_OTLP_TRACES_{suffix}", f"OTEL_EXPORTER_OTLP_METRICS_{suffix}")


def _sampler_problems(value: Mapping[str, str]) -> list[str]:
    sampler = value.get("OTEL_TRACES_SAMPLER", "").lower()
    if sampler and sampler not in _SAMPLERS:
        return [f"OTEL_TRACES_SAMPLER: {sampler!r} is not one of {', '.join(sorted(_SAMPLERS))}"]
    argument = value.get("OTEL_TRACES_SAMPLER_ARG", "")
    if sampler.endswith("traceidratio") and argument and not _number(argument, 0.0, 1.0):
        return [f"OTEL_TRACES_SAMPLER_ARG: {argument!r} is not a ratio from 0 to 1"]
    return []


def _number(text: str, minimum: float, maximum: float = math.inf) -> bool:
    try:
        number = float(text)
    except ValueError:
        return False
    return math.isfinite(number) and minimum <= number <= maximum

"""What the service tells about itself.

- ``telemetry``: the pipeline's one view of OpenTelemetry;
- ``tracing``, ``metrics``: span attributes and instruments, from plain values;
- ``otel_env``: providers from the standard ``OTEL_*`` variables;
- ``logs``: JSON or text lines to stderr;
- ``health``: ``/livez``, ``/readyz``, ``/metrics``;
- ``counts``: plain counters for the demo's progress line and summary.
"""

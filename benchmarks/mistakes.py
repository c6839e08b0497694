"""What each mistake a new operator makes is told: ``python -m benchmarks.mistakes``.

Runs ``leadsync check`` (and ``run`` where it matters) as processes, once per
mistake, against the embedded broker and the simulator, and prints a Markdown
table of the exit code, the line that names the problem and the time taken.
Not part of the suite: the same cases are asserted in
``tests/unit/test_configuration.py``, ``tests/integration/test_bad_configuration.py``
and ``tests/integration/test_pbx_probe.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from consumer.sandbox.broker import embedded_broker, free_port
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from tests.kafka_helpers import create_topics

ROOT = Path(__file__).resolve().parents[1]
KEY = "the-right-key-123"


def check(env: dict[str, str], command: str = "check") -> tuple[int, str, float]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSYNC_", "OTEL_"))}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "consumer.cli", command],
        env=base | {"PYTHONPATH": str(ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    took = time.monotonic() - started
    lines = [
        line
        for line in (out.stderr + out.stdout).splitlines()
        if line.strip() and not line.startswith("leadsync check: ok")
    ]

    def critical(line: str) -> str | None:
        if not line.startswith("{"):
            return line
        record = json.loads(line)
        return (
            f"(JSON log, CRITICAL) {record['message']}"
            if record.get("level") == "CRITICAL"
            else None
        )

    problem = [c for c in map(critical, lines) if c is not None and "warning" not in c.lower()]
    return out.returncode, (problem or lines or ["(nothing)"])[0], took


async def main() -> None:
    with embedded_broker() as broker:
        await create_topics(
            broker.bootstrap,
            {"leads": 2, "leads.dlq": 1, "leads.progress": 2, "bare": 2, "bare.dlq": 1},
        )
        async with run_simulator(SimulatorConfig(api_key=KEY)) as sim:
            good = {
                "LEADSYNC_KAFKA_BOOTSTRAP": broker.bootstrap,
                "LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE": "false",
                "LEADSYNC_SOURCE_TOPIC": "leads",
                "LEADSYNC_NOOJEE_URL": sim.url,
                "LEADSYNC_NOOJEE_API_KEY": KEY,
            }
            cases: list[tuple[str, dict[str, str | None], str]] = [
                ("all right", {}, "check"),
                ("misspelt variable", {"LEADSYNC_RATE_LIMT": "5"}, "check"),
                ("misspelt variable, run", {"LEADSYNC_RATE_LIMT": "5"}, "run"),
                ("API key not set", {"LEADSYNC_NOOJEE_API_KEY": None}, "check"),
                (
                    "API key file missing",
                    {
                        "LEADSYNC_NOOJEE_API_KEY": None,
                        "LEADSYNC_NOOJEE_API_KEY_FILE": "/run/secrets/nope",
                    },
                    "check",
                ),
                (
                    "key and key file both",
                    {"LEADSYNC_NOOJEE_API_KEY_FILE": "/etc/hostname"},
                    "check",
                ),
                (
                    "bootstrap with a scheme",
                    {"LEADSYNC_KAFKA_BOOTSTRAP": "kafka://k:9092"},
                    "check",
                ),
                ("rate limit not a number", {"LEADSYNC_RATE_LIMIT": "40/s"}, "check"),
                (
                    "request timeout under the PBX's 60 s",
                    {"LEADSYNC_REQUEST_TIMEOUT_S": "30"},
                    "check",
                ),
                ("unknown time zone", {"LEADSYNC_NOOJEE_TIMEZONE": "Australia/Sidney"}, "check"),
                ("debezium without a mapping", {"LEADSYNC_INPUT_FORMAT": "debezium"}, "check"),
                (
                    "SASL_SSL without a mechanism",
                    {"LEADSYNC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
                    "check",
                ),
                (
                    "OTLP over gRPC",
                    {
                        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
                        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                    },
                    "check",
                ),
                ("bad maintenance window", {"LEADSYNC_PAUSE_WINDOWS": "Mon 25:00-26:00"}, "check"),
                ("dead-letter topic = source", {"LEADSYNC_DLQ_TOPIC": "leads"}, "check"),
                ("source topic missing", {"LEADSYNC_SOURCE_TOPIC": "leadz"}, "check"),
                ("progress topic missing", {"LEADSYNC_SOURCE_TOPIC": "bare"}, "check"),
                ("progress topic missing, run", {"LEADSYNC_SOURCE_TOPIC": "bare"}, "run"),
                (
                    "nothing listens at the bootstrap",
                    {"LEADSYNC_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"},
                    "check",
                ),
                (
                    "idempotent producer, broker without it",
                    {"LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE": None},
                    "check",
                ),
                ("wrong API key", {"LEADSYNC_NOOJEE_API_KEY": "wrong-key"}, "check"),
                ("wrong PBX path", {"LEADSYNC_NOOJEE_URL": sim.url + "/wrong"}, "check"),
                (
                    "PBX port refused",
                    {"LEADSYNC_NOOJEE_URL": f"http://127.0.0.1:{free_port()}"},
                    "check",
                ),
                (
                    "PBX host unknown",
                    {"LEADSYNC_NOOJEE_URL": "https://pbx.example.invalid"},
                    "check",
                ),
                (
                    "http:// to an https-only PBX port",
                    {"LEADSYNC_NOOJEE_URL": sim.url.replace("http://", "https://")},
                    "check",
                ),
            ]
            print("| mistake | command | exit | first line | seconds |")
            print("|---|---|---|---|---|")
            for what, change, command in cases:
                env = dict(good)
                for k, v in change.items():
                    if v is None:
                        env.pop(k, None)
                    else:
                        env[k] = v
                code, line, took = await asyncio.to_thread(check, env, command)
                line = (
                    line.replace(broker.bootstrap, "<bootstrap>")
                    .replace(sim.url, "<pbx>")
                    .replace("|", "\\|")
                )
                print(f"| {what} | {command} | {code} | `{line[:260]}` | {took:.1f} |", flush=True)


asyncio.run(main())

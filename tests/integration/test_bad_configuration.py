"""``leadsync check`` and ``leadsync run`` as processes: a bad setting is exit 2 and one
line naming it, the same line from both, never a traceback and never a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from consumer.settings import ENV_PREFIX

SECRET = "process-test-key-5e1f"
REQUIRED = {
    # Nothing listens on port 9: a configuration that passed would fail later, not hang.
    "LEADSYNC_KAFKA_BOOTSTRAP": "127.0.0.1:9",
    "LEADSYNC_NOOJEE_URL": "https://pbx.example.invalid",
    "LEADSYNC_NOOJEE_API_KEY": SECRET,
    "LEADSYNC_HEALTH_PORT": "0",
}
SAMPLE = [
    ("LEADSYNC_RATE_LIMT", "5"),  # misspelt: it would be ignored
    ("LEADSYNC_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),  # no mechanism, no user
    ("LEADSYNC_KAFKA_SSL_CAFILE", "/nonexistent/ca.pem"),
    ("LEADSYNC_INPUT_FORMAT", "debezium"),  # no mapping
    ("LEADSYNC_MAPPING_FILE", "/nonexistent/mapping.toml"),
    ("OTEL_TRACES_EXPORTER", "zipkin"),
    ("LEADSYNC_MAX_CONCURRENCY", "lots"),
    ("LEADSYNC_DRAIN_TIMEOUT_S", "1e12"),  # past what Kafka's int32 milliseconds carry
    ("LEADSYNC_KAFKA_BOOTSTRAP", "kafka-1:notaport"),
]
NAMED = {
    "LEADSYNC_KAFKA_SECURITY_PROTOCOL": "LEADSYNC_KAFKA_SASL_MECHANISM",
    "LEADSYNC_INPUT_FORMAT": "LEADSYNC_MAPPING_FILE",
    "LEADSYNC_KAFKA_SSL_CAFILE": "LEADSYNC_KAFKA_SSL_CAFILE",
}


def leadsync(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumer.cli", command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(("name", "value"), SAMPLE, ids=[name for name, _ in SAMPLE])
def test_check_and_run_refuse_a_bad_setting_alike(name: str, value: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith((ENV_PREFIX, "OTEL_"))}
    env |= REQUIRED | {name: value}
    if name == "LEADSYNC_KAFKA_SSL_CAFILE":
        env["LEADSYNC_KAFKA_SECURITY_PROTOCOL"] = "SSL"
    said = {}
    for command in ("check", "run"):
        result = leadsync(command, env, tmp_path)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, (command, result.stderr)
        assert len(lines) == 1, (command, result.stderr)
        assert lines[0].startswith(f"leadsync: bad configuration: {NAMED.get(name, name)}: ")
        assert "Traceback" not in result.stderr
        assert SECRET not in result.stdout + result.stderr
        assert result.stdout == ""
        said[command] = lines[0]
    assert said["check"] == said["run"]

"""What ``leadsync check`` and ``leadsync run`` say when Kafka does not let them start:
plain words, the address, the time waited and the fix; no reprs, no asyncio noise."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from consumer.service import run_service
from consumer.settings import ENV_PREFIX
from tests.kafka_helpers import create_topics, unique_topic
from tests.service_helpers import service_settings

API_KEY = "kafka-start-key-0d4e"
NOISE = ("Traceback", "Unclosed", "Task exception was never retrieved", "<class", "AddressFamily")


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """Accepts TCP connections and never says a word, as a hung broker does."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def environment(bootstrap: str, topic: str, pbx_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith((ENV_PREFIX, "OTEL_"))}
    return env | {
        "LEADSYNC_KAFKA_BOOTSTRAP": bootstrap,
        "LEADSYNC_SOURCE_TOPIC": topic,
        "LEADSYNC_GROUP_ID": f"{topic}-group",
        "LEADSYNC_NOOJEE_URL": pbx_url,
        "LEADSYNC_NOOJEE_API_KEY": API_KEY,
        "LEADSYNC_HEALTH_PORT": "0",
        "LEADSYNC_LOG_FORMAT": "text",
        **extra,
    }


async def leadsync(command: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "consumer.cli",
        command,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 90)
    return process.returncode or 0, output.decode()


def assert_plain(output: str) -> None:
    for noise in NOISE:
        assert noise not in output, output
    assert API_KEY not in output


async def test_a_refused_idempotent_producer_names_both_fixes(
    kafka_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = unique_topic("idem")
    await create_topics(kafka_broker.bootstrap, {topic: 1, f"{topic}.dlq": 1})
    async with run_simulator(SimulatorConfig(api_key=API_KEY)) as simulator:
        # Tansu, the test broker, has no InitProducerId: what a missing ACL looks like too.
        env = environment(
            kafka_broker.bootstrap, topic, simulator.url, LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE="true"
        )
        check = await leadsync("check", env, tmp_path)
        run = await leadsync("run", env, tmp_path)
    assert check[0] == 1, check[1]
    assert run[0] == 4, run[1]
    for _, output in (check, run):
        assert f"Kafka at {kafka_broker.bootstrap} refused the idempotent producer" in output
        assert "IDEMPOTENT_WRITE" in output
        assert "LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE=false" in output
        assert "cannot reach Kafka" not in output
        assert_plain(output)
    assert "starting with LEADSYNC_KAFKA_BOOTSTRAP=" in run[1]
    assert "LEADSYNC_NOOJEE_API_KEY=<hidden>" in run[1]


async def test_check_names_a_silent_broker_and_the_time_it_waited(
    silent_broker: str, tmp_path: Path
) -> None:
    env = environment(silent_broker, "lead-changes", "http://127.0.0.1:9")
    code, output = await leadsync("check", env, tmp_path)
    assert code == 1, output
    found = re.search(
        rf"Kafka at {silent_broker} accepted the connection but did not answer within (\d+) s",
        output,
    )
    assert found, output
    assert int(found.group(1)) <= 10, "check gives Kafka at most 10 s"
    assert_plain(output)


async def test_run_names_a_silent_broker(
    silent_broker: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The service waits as long as aiokafka's own timeouts (30 s); shortened here.
    monkeypatch.setattr("consumer.service.KAFKA_START_TIMEOUT_S", 2.0)
    settings = service_settings(silent_broker, "lead-changes", "http://127.0.0.1:9", API_KEY)
    with caplog.at_level(logging.INFO):
        code = await run_service(settings, handle_signals=False)
    assert code == 4
    critical = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical == [
        f"Kafka at {silent_broker} accepted the connection but did not answer within 2 s: "
        "check that it is a Kafka listener and that it speaks PLAINTEXT "
        "(LEADSYNC_KAFKA_SECURITY_PROTOCOL)"
    ]


async def test_nothing_listening_is_named(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    env = environment(address, "lead-changes", "http://127.0.0.1:9")
    for command, expected in (("check", 1), ("run", 4)):
        code, output = await leadsync(command, env, tmp_path)
        assert code == expected, output
        assert f"cannot reach Kafka at {address}" in output
        assert "refused the connection (nothing listens there)" in output
        assert_plain(output)

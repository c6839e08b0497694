"""The README's quick start, run as written: topics, check, run, one event, applied.

The commands come from README.md itself (its "Against your own Kafka and PBX"
blocks), so the test fails when the README drifts from what works. What the
test changes, and only that: the three placeholders of the env block (the
broker, the PBX's URL and key) point at an embedded broker and the simulator;
the commented `LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE=false` line is taken, as the
README says to for a test broker; the health port is a free one rather than
8080, which another process may hold. `leadsync` and `python` are this
interpreter. kcat's line is run up to the pipe: the record it hands kcat
(``key|value``) is sent by this test, because librdkafka's first request
(ApiVersions) is one the embedded broker, Tansu, cannot answer; kcat's own
options are therefore not exercised here. The `docker run` line is not run: no
container engine.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import sys
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from consumer.sandbox.broker import EmbeddedBroker, free_port, start_broker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import Simulator, run_simulator
from consumer.settings import ENV_PREFIX

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
API_KEY = "quick-start-key-5e0c"
PLACEHOLDERS = {"LEADSYNC_KAFKA_BOOTSTRAP", "LEADSYNC_NOOJEE_URL", "LEADSYNC_NOOJEE_API_KEY"}
TEST_BROKER_LINE = "# export LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE=false"
COMMAND_TIMEOUT_S = 90
FENCE = re.compile(r"```sh\n(.*?)```", re.DOTALL)
HEREDOC = re.compile(r"^python - <<'EOF'\n(.*?)^EOF\n", re.DOTALL | re.MULTILINE)


@dataclass
class QuickStart:
    """The quick start as README.md writes it."""

    exports: dict[str, str] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)
    """``leadsync ...`` lines, in order (``run`` among them)."""
    kcat: str = ""
    python: str = ""
    metrics_url: str = ""


def quick_start_section() -> str:
    text = README.read_text()
    start = text.index("### Against your own Kafka and PBX")
    return text[start : text.index("\n## ", start)]


def read_quick_start() -> QuickStart:
    section = quick_start_section()
    quick = QuickStart()
    for block in FENCE.findall(section):
        for heredoc in HEREDOC.findall(block):
            quick.python = heredoc
        commands = HEREDOC.sub("", block).replace("\\\n", " ")
        for line in commands.splitlines():
            quick = _read_line(quick, line)
    return quick


def _read_line(quick: QuickStart, line: str) -> QuickStart:
    if line.startswith(TEST_BROKER_LINE):
        line = line.removeprefix("# ")  # the README's advice for a test broker
    words = shlex.split(line, comments=True)
    if not words:
        return quick
    if words[0] == "export":
        name, _, value = words[1].partition("=")
        quick.exports[name] = value
    elif words[0] == "leadsync":
        quick.commands.append(words[1:])
    elif "kcat" in words:
        quick.kcat = line
    elif words[0] == "curl":
        quick.metrics_url = next(w for w in words if "/metrics" in w)
    return quick


def test_the_quick_start_reads_as_the_test_expects() -> None:
    """What the run below relies on, said plainly, so a README edit fails here first."""
    quick = read_quick_start()
    assert [c[0] for c in quick.commands] == ["topics", "check", "run"]
    assert quick.exports["LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE"] == "false"
    assert quick.exports.keys() >= PLACEHOLDERS
    assert quick.exports["LEADSYNC_NOOJEE_API_KEY"] == "..."
    assert "kcat -P" in quick.kcat
    assert "AIOKafkaProducer" in quick.python
    assert quick.metrics_url == "localhost:8080/metrics"
    assert "docker run --rm --env-file" in quick_start_section()


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of its own: the README uses the default topic and group names."""
    broker = start_broker()
    try:
        yield broker
    finally:
        broker.stop()


def environment(
    quick: QuickStart, broker: EmbeddedBroker, sim: Simulator, port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env["PYTHONPATH"] = str(ROOT)
    env |= quick.exports
    env |= {
        "LEADSYNC_KAFKA_BOOTSTRAP": broker.bootstrap,
        "LEADSYNC_NOOJEE_URL": sim.url,
        "LEADSYNC_NOOJEE_API_KEY": API_KEY,
        "LEADSYNC_HEALTH_PORT": str(port),
    }
    return env


async def leadsync(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "consumer.cli",
        *args,
        env=env,
        stdout=PIPE,
        stderr=STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=COMMAND_TIMEOUT_S)
    return process.returncode or 0, output.decode()


async def finished(process: asyncio.subprocess.Process, what: str, stdin: str = "") -> None:
    output, _ = await asyncio.wait_for(process.communicate(stdin.encode()), COMMAND_TIMEOUT_S)
    assert process.returncode == 0, f"{what} failed:\n{output.decode()}"


async def python_snippet(code: str, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-", env=env, stdin=PIPE, stdout=PIPE, stderr=STDOUT
    )
    await finished(process, "the README's Python snippet", stdin=code)


async def kcat_record(line: str, env: dict[str, str]) -> tuple[bytes, bytes]:
    """The record the README's kcat line produces: its input up to the pipe, split at -K."""
    feed, separator = line.rsplit("| kcat", 1)
    delimiter = shlex.split(separator.partition(" -K")[2])[0].encode()
    process = await asyncio.create_subprocess_shell(
        feed, env=env, stdout=PIPE, stderr=STDOUT, executable="/bin/bash"
    )
    output, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_S)
    assert process.returncode == 0, output.decode()
    (record,) = output.splitlines()
    key, value = record.split(delimiter, 1)
    return key, value


async def send(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


@asynccontextmanager
async def service(args: list[str], env: dict[str, str], log: Path) -> AsyncIterator[None]:
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "consumer.cli", *args, env=env, stdout=sink, stderr=sink
        )
        try:
            yield
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), timeout=60)
    assert code == 0, tail(log)


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def applied_count(http: aiohttp.ClientSession, url: str) -> float:
    try:
        async with http.get(url) as answer:
            text = await answer.text()
    except aiohttp.ClientError:
        return 0.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "leadsync_events_total" and sample.labels.get("outcome") == "applied"
    )


async def wait_for(http: aiohttp.ClientSession, url: str, want: float) -> None:
    for _ in range(600):
        if await applied_count(http, url) >= want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never counted {want} applied events")


async def test_the_quick_start_applies_one_event(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    quick = read_quick_start()
    port = free_port()
    async with run_simulator(SimulatorConfig(api_key=API_KEY)) as sim:
        env = environment(quick, own_broker, sim, port)
        (topics, check, run) = quick.commands
        code, output = await leadsync(topics, env)
        assert code == 0, output
        assert "created lead-changes: 12 partitions" in output
        code, output = await leadsync(check, env)
        assert code == 0, output

        metrics_url = "http://" + quick.metrics_url.replace(":8080", f":{port}")
        key, value = await kcat_record(quick.kcat, env)
        kcat_topic = shlex.split(quick.kcat.rsplit("| kcat", 1)[1].partition(" -t")[2])[0]
        async with service(run, env, tmp_path / "run.log"), aiohttp.ClientSession() as http:
            await python_snippet(quick.python, env)
            await send(own_broker.bootstrap, kcat_topic, key, value)
            await wait_for(http, metrics_url, 2)
        lead = re.search(r'"lead_id": "([^"]+)"', quick.python)
        assert lead is not None
        applied = sim.state.stats.applied
    assert key == lead[1].encode()
    # Two events of one lead: the service counts both applied; if the second arrived
    # while the first waited, they went as one call (coalescing).
    assert 1 <= applied <= 2
    assert len(sim.state.applied(lead[1])) == applied

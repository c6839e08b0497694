"""A broker of a scenario's own that refuses writes to chosen topics."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from consumer.sandbox.broker import EmbeddedBroker, free_port, tansu_binary

REFUSE_EVERYTHING = {"type": "object", "properties": {"value": False}}
"""A schema no record satisfies (``required`` alone would let JSON arrays and numbers by)."""


def broker_refusing(topics: Sequence[str], registry: Path) -> EmbeddedBroker:
    """A broker of its own that refuses every write to ``topics`` (INVALID_RECORD).

    Tansu creates any topic a client names, so a dead-letter topic cannot be
    "missing"; its schema registry can make the broker refuse the writes instead.
    """
    registry.mkdir(parents=True, exist_ok=True)
    for topic in topics:
        (registry / f"{topic}.json").write_text(json.dumps(REFUSE_EVERYTHING))
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
    # Tansu reads a file:// registry relative to its working directory.
    command += ["--schema-registry", f"file://./{registry.name}"]
    process = subprocess.Popen(
        command,
        cwd=registry.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    broker = EmbeddedBroker(process, port)
    for _ in range(200):
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return broker
        time.sleep(0.05)
    broker.stop()
    raise AssertionError("the refusing broker did not start")

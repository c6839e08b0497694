"""The service as a real subprocess (``leadsync run``), as an operator runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from enum import Enum
from pathlib import Path

from pydantic import SecretStr

from consumer.settings import ENV_PREFIX, Settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that reproduces ``settings`` in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"{ENV_PREFIX}{name.upper()}"] = _env_text(value)
    return env


def _env_text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


class ServiceProcess:
    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "consumer.cli", "run"],
            env=settings_env(settings),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    async def wait(self, timeout_s: float) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.process.poll() is None:
            if loop.time() > deadline:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"service did not exit within {timeout_s} s:\n{self.log()}")
            await asyncio.sleep(0.05)
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()

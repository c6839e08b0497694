"""One scenario's world: a fresh broker, simulated PBXs, processes under measurement.

Everything measured runs as a subprocess (the service as ``leadsync run``, the
baselines as ``python -m benchmarks.baselines``) so that its CPU time and peak
memory are its own, read from ``/proc`` by a sampler; the PBX's counters are
sampled over its inspection API at the same moments.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import procstat
from benchmarks.load import CAMPAIGN
from benchmarks.pbx import Pbx
from consumer.sandbox.broker import EmbeddedBroker, start_broker

SAMPLE_INTERVAL_S = 0.1
STOP_TIMEOUT_S = 60.0
_ASSIGNED = re.compile(r"partitions assigned: (.*?)(?: \(share|$)", re.MULTILINE)


class Proc:
    """A subprocess whose CPU time and memory are sampled; its output goes to a log file."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        self.spawned_at = time.time()
        """Epoch seconds just before the process was started (start-up is measured from it)."""
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                list(argv), env=dict(env), stdout=out, stderr=subprocess.STDOUT
            )
        self.samples: list[procstat.ProcSample] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    def sample(self) -> None:
        if (taken := procstat.read(self.pid)) is not None:
            self.samples.append(taken)

    def cpu_series(self) -> list[tuple[float, float]]:
        return [(s.at, s.cpu_s) for s in self.samples]

    @property
    def peak_rss_mb(self) -> float:
        return max((s.hwm_kb for s in self.samples), default=0) / 1024

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def was_assigned(self) -> bool:
        """Whether the process logged an assignment (of partitions or of none)."""
        return bool(_ASSIGNED.search(self.log()))

    def assigned_partitions(self) -> int:
        """Partitions in the last assignment the process logged (0 before its first)."""
        found = _ASSIGNED.findall(self.log())
        if not found or found[-1].strip() in ("", "none"):
            return 0
        return len(found[-1].split(","))

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then wait (SIGKILL after ``timeout_s``); the exit code."""
        if self.process.poll() is None:
            self.sample()  # the last figures before it exits
            self.process.send_signal(signal.SIGTERM)
        return await self.exited(timeout_s)

    async def exited(self, timeout_s: float) -> int:
        """Wait for the process to end by itself (SIGKILL after ``timeout_s``); the exit code."""
        try:
            return await asyncio.to_thread(self.process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without any ``LEADSYNC_*`` or ``OTEL_*`` variable, plus ``extra``."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSYNC_", "OTEL_"))}
    return keep | dict(extra)


@dataclass
class World:
    broker: EmbeddedBroker
    workdir: Path
    pbxs: list[Pbx] = field(default_factory=list)
    procs: list[Proc] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    async def pbx(self, **options: Any) -> Pbx:
        """A simulator; ``options`` are ``Pbx.start``'s (threads, service times, queue timeout)."""
        started = await Pbx.start(self.workdir / f"pbx{len(self.pbxs) + 1}.log", **options)
        self.pbxs.append(started)
        return started

    def service(
        self,
        name: str,
        pbx: Pbx,
        topic: str,
        settings: Mapping[str, object] | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> Proc:
        """``leadsync run`` against ``pbx``; ``settings`` are ``LEADSYNC_*`` names, lower case;
        ``env`` other variables (``OTEL_*``, which the child otherwise does not inherit)."""
        values: dict[str, object] = {
            "kafka_bootstrap": self.bootstrap,
            "kafka_enable_idempotence": "false",
            "source_topic": topic,
            "group_id": f"{topic}-leadsync",
            "noojee_url": pbx.url,
            "noojee_api_key": pbx.api_key,
            "noojee_template_id": CAMPAIGN["template_id"],
            "noojee_campaign_id": CAMPAIGN["campaign_id"],
            "noojee_allocation_id": CAMPAIGN["allocation_id"],
            "health_port": 0,
            "log_format": "text",
        } | dict(settings or {})
        variables = {f"LEADSYNC_{k.upper()}": str(v) for k, v in values.items()}
        spawn_env = child_env(variables) | dict(env or {})
        return self._spawn(name, [sys.executable, "-m", "consumer.cli", "run"], spawn_env)

    def baseline(self, name: str, pbx: Pbx, *args: str) -> Proc:
        """``python -m benchmarks.baselines ARGS`` against ``pbx`` (the key in the environment)."""
        env = child_env({"LEADSYNC_NOOJEE_API_KEY": pbx.api_key})
        argv = [sys.executable, "-m", "benchmarks.baselines", *args, "--url", pbx.url]
        return self._spawn(name, argv, env)

    def faststream(self, name: str, pbx: Pbx, topic: str, workers: int) -> Proc:
        """The FastStream peer (``benchmarks.faststream_peer``) on ``topic``, its own group."""
        env = child_env({"LEADSYNC_NOOJEE_API_KEY": pbx.api_key})
        argv = [sys.executable, "-m", "benchmarks.faststream_peer", "--url", pbx.url]
        argv += ["--bootstrap", self.bootstrap, "--topic", topic, "--group", f"{topic}-faststream"]
        return self._spawn(name, [*argv, "--workers", str(workers)], env)

    def kafka_baseline(self, name: str, *args: str) -> Proc:
        """``python -m benchmarks.baselines ARGS`` with no PBX (Kafka intake alone)."""
        argv = [sys.executable, "-m", "benchmarks.baselines", *args]
        return self._spawn(name, argv, child_env({}))

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(name, argv, env, self.workdir / f"{len(self.procs) + 1:02d}-{name}.log")
        self.procs.append(proc)
        return proc

    async def close(self) -> None:
        for proc in self.procs:
            proc.kill()
        for pbx in self.pbxs:
            await pbx.close()
        self.broker.stop()


@contextlib.asynccontextmanager
async def world(workdir: Path) -> AsyncIterator[World]:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    built = World(await asyncio.to_thread(start_broker), workdir)
    try:
        yield built
    finally:
        await built.close()


class Watch:
    """Samples a PBX's applied counter and the processes' CPU and memory together."""

    def __init__(self, pbx: Pbx, procs: Sequence[Proc], interval_s: float = SAMPLE_INTERVAL_S):
        self.pbx = pbx
        self.procs = list(procs)
        self.applied: list[tuple[float, float]] = []
        self.answered: list[tuple[float, float]] = []
        """Calls the PBX answered, whatever the answer (a peer that retries nothing)."""
        self.executing: list[tuple[float, int]] = []
        """Calls the PBX was running at each sample."""
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    @property
    def last_applied(self) -> int:
        return int(self.applied[-1][1]) if self.applied else 0

    async def _run(self) -> None:
        while True:
            for proc in self.procs:
                proc.sample()
            stats = await self.pbx.stats()
            now = time.time()
            self.applied.append((now, int(stats["applied"])))
            settled = int(stats["requests"]) - int(stats["executing"]) - int(stats["queued"])
            self.answered.append((now, settled))
            self.executing.append((now, int(stats["executing"])))
            await asyncio.sleep(self._interval_s)

    async def __aenter__(self) -> Watch:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for proc in self.procs:
            proc.sample()

    async def until_applied(self, target: int, timeout_s: float, *, answered: bool = False) -> bool:
        """True once the PBX applied ``target`` updates (with ``answered``: answered that
        many calls, applied or not); False when ``timeout_s`` passed first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        series = self.answered if answered else self.applied
        while (int(series[-1][1]) if series else 0) < target:
            if self._task is not None and self._task.done():
                self._task.result()  # the sampler failed (the PBX went away): say why
            if loop.time() > deadline:
                return False
            await asyncio.sleep(self._interval_s / 2)
        return True


async def until_assigned(
    procs: Sequence[Proc], partitions: int, timeout_s: float = 60.0, settle_s: float = 1.0
) -> None:
    """Until every process has an assignment and the partitions are all owned.

    A process may own none: the group's leader keeps replicas the PBX has no
    slot for standing by (consumer/limits/fleet_plan.py). With several processes, for
    ``settle_s`` too: a rebalance passes through states that add up (the first
    member still logs all partitions while the others have not logged yet).
    """
    settle_s = settle_s if len(procs) > 1 else 0.0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    settled_at: float | None = None
    while settled_at is None or loop.time() - settled_at < settle_s:
        counts = [p.assigned_partitions() for p in procs]
        if sum(counts) == partitions and all(p.was_assigned() for p in procs):
            settled_at = settled_at if settled_at is not None else loop.time()
        else:
            settled_at = None
        for proc in procs:
            if proc.process.poll() is not None:
                raise RuntimeError(f"{proc.name} exited: see {proc.log_path}")
        if loop.time() > deadline:
            raise RuntimeError(f"no stable assignment of {partitions} partitions in {timeout_s} s")
        await asyncio.sleep(0.1)

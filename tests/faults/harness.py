"""The fault suite's rig: a loader, a fleet of real service processes, watchers, the oracle.

Every scenario runs ``leadsync run`` as subprocesses against a real broker and
the simulated PBX (in this process, so its state can be read directly), then
hands the outcome to ``judge`` — the one oracle of ``tests/oracle.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from consumer.sandbox.simulator.server import Simulator
from consumer.settings import Settings, load_settings
from tests.faults.figures import Event, Place
from tests.kafka_helpers import (
    Outgoing,
    Produced,
    committed_offsets,
    event_record,
    read_topic,
)
from tests.oracle import Verdict, applied_histories, seq_of, verify
from tests.process_helpers import ServiceProcess
from tests.service_helpers import wait_until

DISPOSITIONS = ("Callback", "Sale", "No Answer")
REVOKED = r"partitions revoked: (?!none)"
"""A revoke that took partitions away (the first join revokes "none")."""
ASSIGNED = re.compile(r"partitions assigned: (.*?) \(share")


def assignments(log: str) -> list[set[int]]:
    """The partitions of each assignment a service logged, in order."""
    return [{int(p) for p in re.findall(r"\[(\d+)\]", listed)} for listed in ASSIGNED.findall(log)]


def lead_events(
    count: int, leads: Sequence[str], rng: random.Random, first: int = 0
) -> list[Outgoing]:
    """``count`` events over ``leads``, ``fields.Seq`` numbered from ``first``."""
    return [
        event_record(
            rng.choice(leads),
            disposition=rng.choice(DISPOSITIONS),
            fields={"Seq": str(n)},
            phones={"FirstPhone": f"03{n:08d}"},
        )
        for n in range(first, first + count)
    ]


async def produce_large(bootstrap: str, topic: str, records: Sequence[Outgoing]) -> Produced:
    """``kafka_helpers.produce`` for values up to 4 MiB (poison records may be large)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=4 << 20
    )
    await producer.start()
    produced = Produced(topic)
    try:
        sent = [
            await producer.send(topic, value=r.value, key=r.key, headers=list(r.headers))
            for r in records
        ]
        for metadata in await asyncio.gather(*sent):
            produced.placements.append((metadata.partition, metadata.offset))
    finally:
        await producer.stop()
    return produced


@dataclass
class Load:
    """What was produced to the source topic, in order, and where it landed."""

    topic: str
    leads: list[str]
    records: list[Outgoing] = field(default_factory=list)
    produced: Produced | None = None

    @property
    def values(self) -> list[bytes | None]:
        return [r.value for r in self.records]

    @property
    def log_end(self) -> dict[int, int]:
        return self.produced.log_end if self.produced else {}

    def places(self) -> dict[Event, Place]:
        placements = self.produced.placements if self.produced else []
        return {
            ident: place
            for record, place in zip(self.records, placements, strict=True)
            if (ident := seq_of(record.value)) is not None
        }

    def events(self) -> set[Event]:
        return {ident for r in self.records if (ident := seq_of(r.value)) is not None}

    async def add(self, bootstrap: str, records: Sequence[Outgoing]) -> None:
        more = await produce_large(bootstrap, self.topic, records)
        self.records += records
        if self.produced is None:
            self.produced = more
        else:
            self.produced.placements += more.placements


class Fleet:
    """Named ``leadsync run`` processes sharing one configuration; all killed on ``close``."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self._log_dir = log_dir
        self.members: dict[str, ServiceProcess] = {}

    def start(self, name: str | None = None, **overrides: Any) -> str:
        name = name or f"p{len(self.members) + 1}"
        settings = load_settings(**(dict(self.settings) | overrides))  # validated, as from env
        self.members[name] = ServiceProcess(settings, self._log_dir / f"{name}.log")
        return name

    def alive(self) -> list[str]:
        return [n for n, p in self.members.items() if p.process.poll() is None]

    def log(self, name: str) -> str:
        """The whole log of one member (``ServiceProcess.log`` keeps only its tail)."""
        member = self.members[name]
        with contextlib.suppress(ValueError):
            member._log.flush()
        return member.log_path.read_text(errors="replace")

    def count(self, name: str, pattern: str) -> int:
        return len(re.findall(pattern, self.log(name)))

    def send(self, name: str, signum: int) -> None:
        self.members[name].signal(signum)

    def kill(self, name: str) -> float:
        """SIGKILL; returns when it happened (epoch s)."""
        at = time.time()
        self.members[name].kill()
        return at

    async def stop(self, name: str, timeout_s: float) -> int:
        self.send(name, signal.SIGTERM)
        return await self.members[name].wait(timeout_s)

    async def stop_all(self, timeout_s: float) -> dict[str, int]:
        names = self.alive()
        for name in names:
            self.send(name, signal.SIGTERM)
        return {name: await self.members[name].wait(timeout_s) for name in names}

    def close(self) -> None:
        for member in self.members.values():
            with contextlib.suppress(ProcessLookupError):
                member.process.send_signal(signal.SIGCONT)  # a frozen one cannot die otherwise
            member.kill()


def applied_events(sim: Simulator, leads: Sequence[str]) -> set[Event]:
    return {(lead, str(u.body.get("Seq"))) for lead in leads for u in sim.state.applied(lead)}


async def until_applied(
    sim: Simulator, load: Load, *, count: int | None = None, timeout_s: float
) -> None:
    """Until ``count`` distinct events (default: all of them) were applied."""
    want = len(load.events()) if count is None else count
    await wait_until(
        lambda: len(applied_events(sim, load.leads)) >= want,
        timeout_s=timeout_s,
        what=f"{want} distinct events applied",
        interval_s=0.2,
    )


async def until_committed(bootstrap: str, group: str, load: Load, *, timeout_s: float) -> None:
    """Until the group's committed offsets reach the log end (every re-send finished)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        committed = await committed_offsets(bootstrap, group, load.topic, load.log_end)
        if committed == load.log_end:
            return
        if loop.time() > deadline:
            raise AssertionError(f"committed {committed} never reached the log end {load.log_end}")
        await asyncio.sleep(0.5)


async def judge(
    bootstrap: str,
    sim: Simulator,
    load: Load,
    group: str,
    *,
    dead_letters: int = 0,
    allow_duplicates: bool = False,
    dlq_topic: str | None = None,
) -> Verdict:
    """The one oracle: all applied or dead-lettered, in order, no overlap, commits at log end."""
    dlq = dlq_topic or f"{load.topic}.dlq"
    dead = await read_topic(bootstrap, dlq, expect=dead_letters, timeout_s=10)
    committed = await committed_offsets(bootstrap, group, load.topic, load.log_end)
    return verify(
        load.values,
        applied_histories(sim.state, load.leads),
        dead,
        allow_duplicates=allow_duplicates,
        overlaps=sim.state.overlaps(),
        committed=committed,
        log_end=load.log_end,
    )


@dataclass
class Stage:
    """One scenario's world: broker, PBX, the produced load, settings and the fleet."""

    bootstrap: str
    sim: Simulator
    load: Load
    settings: Settings
    fleet: Fleet

    @property
    def group(self) -> str:
        return self.settings.group_id

    async def judge(self, **options: Any) -> Verdict:
        return await judge(self.bootstrap, self.sim, self.load, self.group, **options)

    async def until_committed(self, timeout_s: float = 60) -> None:
        await until_committed(self.bootstrap, self.group, self.load, timeout_s=timeout_s)

    async def committed(self) -> dict[int, int | None]:
        return await committed_offsets(
            self.bootstrap, self.group, self.load.topic, self.load.log_end
        )

    def calls(self) -> list[Any]:
        return [call for lead in self.load.leads for call in self.sim.state.calls(lead)]

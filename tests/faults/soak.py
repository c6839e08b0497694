"""A randomized soak: PBX outages, SIGKILLs, scaling, a frozen broker and a slow PBX, mixed.

    python -m tests.faults.soak --minutes 20 [--seed 7]

Runs its own broker and simulated PBX, feeds events continuously to a fleet of
``leadsync run`` processes, and injects one fault after another (scenarios 1,
2, 4, 7 and 8 of the fault suite, with random durations). Then it stops
feeding, lifts every fault, waits for the backlog and judges the whole run with
the suite's oracle. Exit status 0 when the verdict is clean. Not part of the
test suite (``make soak``).

Re-sends (an event applied again) are charged to the faults that moved
partitions (a SIGKILL, a scaling, a frozen broker) within ``HANDOVER_EFFECT_S``
before them, since such a fault's re-sends come only once the group has moved
its partitions (faults whose effects overlap share their bounds), else to the
last fault before them. A fault's bound: the calls executing as it began and
what finished in the ``PROGRESS_WINDOW_S`` before it (what the progress topic
may not hold yet), and for a graceful one (a scaling) no more than the fleet's
calls at once on top.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from consumer.sandbox.broker import EmbeddedBroker, start_broker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import Simulator, run_simulator
from tests.faults.harness import Fleet, Load, judge, lead_events, until_applied, until_committed
from tests.kafka_helpers import create_topics, service_topics, unique_topic
from tests.service_helpers import service_settings

PARTITIONS = 8
LEADS = 500
BATCH = 40
"""Events produced each second: well under the fleet's 200/s, so backlogs drain."""
CONCURRENCY = 8
NORMAL_SERVICE_MS: dict[str, Any] = {"min_service_ms": 10, "max_service_ms": 30}

PROGRESS_WINDOW_S = 0.2
"""LEADSYNC_PROGRESS_INTERVAL_MS, and as much again for the write's acknowledgement."""

HANDOVER_FAULTS = frozenset({"2 sigkill", "4 scale", "7 broker freeze"})
"""The faults that move partitions, and so may cause re-sends."""
HANDOVER_EFFECT_S = 60.0
"""How long after such a fault began its re-sends may still come: a killed member's
partitions move only once its session times out (10 s), then the broker's join hold
(5 s), the replacement's start-up and the handover wait; a frozen broker first
thaws (up to 35 s)."""
STARTING = "consumer.service: leadsync"
"""The service's first log line."""

Fault = Callable[["Soak"], Coroutine[Any, Any, str]]


class Soak:
    def __init__(self, broker: EmbeddedBroker, sim: Simulator, fleet: Fleet, load: Load) -> None:
        self.broker, self.sim, self.fleet, self.load = broker, sim, fleet, load
        self.rng = random.Random()
        self.problems: list[str] = []
        self.injected: Counter[str] = Counter()
        self.timeline: list[tuple[float, str]] = []
        """(epoch seconds, fault name) of each fault as it began."""
        self.broker_frozen = False

    def start(self) -> str:
        return self.fleet.start(noojee_allocation_id=100 + len(self.fleet.members))

    async def stop(self, name: str) -> None:
        code = await self.fleet.stop(name, timeout_s=120)
        if code == -signal.SIGTERM and STARTING not in self.fleet.log(name):
            # Stopped while Python was still importing (a member started a moment
            # before): the default action ends it, having done nothing at all. From
            # its first log line on, the service handles SIGTERM and exits 0.
            print(f"  {name} was stopped before it began (SIGTERM while importing)")
            return
        if code != 0:
            self.problems.append(f"{name} exited {code} after SIGTERM")

    def check_alive(self) -> None:
        for name, member in self.fleet.members.items():
            code = member.process.poll()
            if code not in (None, 0, -signal.SIGKILL):
                self.problems.append(f"{name} died by itself with exit code {code}")


async def pbx_outage(s: Soak) -> str:
    mode = s.rng.choice(["refuse", "503"])
    seconds = s.rng.uniform(5, 40)
    await s.sim.set_outage(mode)
    await asyncio.sleep(seconds)
    await s.sim.set_outage(None)
    return f"PBX outage ({mode}) for {seconds:.0f} s"


async def sigkill(s: Soak) -> str:
    victim = s.rng.choice(s.fleet.alive())
    s.fleet.kill(victim)
    await asyncio.sleep(s.rng.uniform(0, 5))
    return f"SIGKILL {victim}, restarted as {s.start()}"


async def scale(s: Soak) -> str:
    alive = s.fleet.alive()
    if len(alive) == 1:
        added = [s.start() for _ in range(s.rng.randint(1, 2))]
        return f"scaled 1 -> {1 + len(added)}"
    for name in alive[1:]:
        await s.stop(name)
    return f"scaled {len(alive)} -> 1"


async def broker_freeze(s: Soak) -> str:
    seconds = s.rng.uniform(5, 35)
    s.broker_frozen = True
    s.broker.process.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        s.broker.process.send_signal(signal.SIGCONT)
        s.broker_frozen = False
    return f"broker frozen {seconds:.0f} s"


async def slow_pbx(s: Soak) -> str:
    seconds = s.rng.uniform(10, 30)
    s.sim.state.update_config({"min_service_ms": 2000, "max_service_ms": 20_000})
    await asyncio.sleep(seconds)
    s.sim.state.update_config(NORMAL_SERVICE_MS)
    return f"slow PBX (2-20 s calls) for {seconds:.0f} s"


FAULTS: dict[str, Fault] = {
    "1 outage": pbx_outage,
    "2 sigkill": sigkill,
    "4 scale": scale,
    "7 broker freeze": broker_freeze,
    "8 slow PBX": slow_pbx,
}


async def feed(s: Soak, until: float) -> None:
    rng = random.Random(s.rng.random())
    while time.monotonic() < until:
        # The CRM's producer would wait out a frozen broker too; ours must not half-write.
        if not s.broker_frozen:
            first = len(s.load.records)
            await s.load.add(s.broker.bootstrap, lead_events(BATCH, s.load.leads, rng, first))
        await asyncio.sleep(1)


async def soak(minutes: float, seed: int, log_dir: Path) -> int:
    broker = start_broker()
    fleet: Fleet | None = None
    try:
        topic = unique_topic("soak")
        await create_topics(broker.bootstrap, service_topics(topic, PARTITIONS))
        key = secrets.token_hex(8)
        config = SimulatorConfig(api_key=key, threads=32, seed=seed, **NORMAL_SERVICE_MS)
        async with run_simulator(config) as sim:
            settings = service_settings(
                broker.bootstrap, topic, sim.url, key,
                max_concurrency=CONCURRENCY, rate_limit=200, health_port=0,
            )  # fmt: skip
            fleet = Fleet(settings, log_dir)
            load = Load(topic, [f"L{i:05d}" for i in range(LEADS)])
            s = Soak(broker, sim, fleet, load)
            s.rng.seed(seed)
            s.start()
            s.start()
            until = time.monotonic() + minutes * 60
            feeder = asyncio.create_task(feed(s, until))
            while time.monotonic() < until:
                await asyncio.sleep(s.rng.uniform(10, 40))
                name = s.rng.choice(sorted(FAULTS))
                s.timeline.append((time.time(), name))
                what = await FAULTS[name](s)
                s.injected[name] += 1
                s.check_alive()
                print(f"[{time.strftime('%H:%M:%S')}] {what}", flush=True)
            await feeder
            if not fleet.alive():
                s.start()
            await until_applied(sim, load, timeout_s=900)
            await until_committed(broker.bootstrap, settings.group_id, load, timeout_s=120)
            s.check_alive()
            for name in fleet.alive():
                await s.stop(name)
            verdict = await judge(
                broker.bootstrap, sim, load, settings.group_id, allow_duplicates=True
            )
            stats = sim.state.stats_json()
            resends = resends_per_fault(sim, load, s.timeline)
    finally:
        if fleet is not None:
            fleet.close()
        broker.stop()
    problems = s.problems + verdict.problems
    if stats["max_concurrency"] > CONCURRENCY:
        problems.append(f"{stats['max_concurrency']} calls at once, over the fleet's {CONCURRENCY}")
    print(
        f"soak: {minutes:g} min, seed {seed}, faults {dict(s.injected)}; "
        f"{len(load.records)} events, {verdict.applied} applications, "
        f"{verdict.duplicates} duplicates, {stats['requests']} PBX requests, "
        f"max {stats['max_concurrency']} calls at once; logs in {log_dir}"
    )
    for (at, name), (count, bound) in resends.items():
        verdict_of = "ok" if count <= bound else "OVER"
        print(f"  re-sent after {name} at {time.strftime('%H:%M:%S', time.localtime(at))}: "
              f"{count} (bound {bound}) {verdict_of}")  # fmt: skip
        if count > bound:
            problems.append(f"{count} re-sent after {name}, over its bound of {bound}")
    for problem in problems[:30]:
        print(f"  PROBLEM: {problem}")
    print("soak: PASS" if not problems else f"soak: FAIL ({len(problems)} problems)")
    return 0 if not problems else 1


def resends_per_fault(
    sim: Simulator, load: Load, timeline: list[tuple[float, str]]
) -> dict[tuple[float, str], tuple[int, int]]:
    """Per fault (time, name): the events applied again before the next fault, and the
    bound: the calls executing as it began and what finished just before it; a graceful
    handover (a scaling) may add the fleet's calls on the wire."""
    calls = [call for lead in load.leads for call in sim.state.calls(lead)]
    applied = [u for lead in load.leads for u in sim.state.applied(lead)]
    counted: dict[tuple[float, str], tuple[int, int]] = {(0.0, "no fault"): (0, 0)}
    for at, name in timeline:
        executing = sum(
            1 for c in calls if c.started_at <= at and (c.finished_at is None or c.finished_at > at)
        )
        recent = sum(1 for u in applied if at - PROGRESS_WINDOW_S < u.finished_at <= at)
        extra = CONCURRENCY if name == "4 scale" else 0
        counted[(at, name)] = (0, executing + recent + extra)
    seen: set[tuple[str, str]] = set()
    resent: list[float] = []
    for lead in load.leads:
        for u in sim.state.applied(lead):
            event = (lead, str(u.body.get("Seq")))
            if event in seen:
                resent.append(u.started_at)
            seen.add(event)
    for at in sorted(resent):
        key = charge(counted, at)
        if key is not None:
            count, bound = counted[key]
            counted[key] = (count + 1, bound)
    return counted


def causes(faults: list[tuple[float, str]], at: float) -> list[tuple[float, str]]:
    """The faults a re-send at ``at`` may come from, latest first: those that moved
    partitions and whose effects may still be arriving, else the last fault before it."""
    before = sorted((fault for fault in faults if fault[0] <= at), reverse=True)
    moving = [
        fault for fault in before
        if fault[1] in HANDOVER_FAULTS and at - fault[0] <= HANDOVER_EFFECT_S
    ]  # fmt: skip
    return moving or before[:1]


def charge(
    counted: dict[tuple[float, str], tuple[int, int]], at: float
) -> tuple[float, str] | None:
    """The fault a re-send at ``at`` is charged to: the latest possible cause with room
    left under its bound (faults whose effects overlap share their bounds), else the
    latest one, which then goes over."""
    possible = causes(list(counted), at)
    for fault in possible:
        count, bound = counted[fault]
        if count < bound:
            return fault
    return possible[0] if possible else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 10_000)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="leadsync-soak-"))
    return asyncio.run(soak(args.minutes, args.seed, log_dir))


if __name__ == "__main__":
    sys.exit(main())

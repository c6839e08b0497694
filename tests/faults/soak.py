"""A randomized soak: PBX outages, SIGKILLs, scaling, a frozen broker and a slow PBX, mixed.

    python -m tests.faults.soak --minutes 20 [--seed 7]

Runs its own broker and simulated PBX, feeds events continuously to a fleet of
``leadsync run`` processes, and injects one fault after another (scenarios 1,
2, 4, 7 and 8 of the fault suite, with random durations). Then it stops
feeding, lifts every fault, waits for the backlog and judges the whole run with
the suite's oracle. Exit status 0 when the verdict is clean. Not part of the
test suite (``make soak``).
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
from tests.kafka_helpers import create_topics, unique_topic
from tests.service_helpers import service_settings

PARTITIONS = 8
LEADS = 500
BATCH = 40
"""Events produced each second: well under the fleet's 200/s, so backlogs drain."""
CONCURRENCY = 8
NORMAL_SERVICE_MS: dict[str, Any] = {"min_service_ms": 10, "max_service_ms": 30}

Fault = Callable[["Soak"], Coroutine[Any, Any, str]]


class Soak:
    def __init__(self, broker: EmbeddedBroker, sim: Simulator, fleet: Fleet, load: Load) -> None:
        self.broker, self.sim, self.fleet, self.load = broker, sim, fleet, load
        self.rng = random.Random()
        self.problems: list[str] = []
        self.injected: Counter[str] = Counter()
        self.broker_frozen = False

    def start(self) -> str:
        return self.fleet.start(noojee_allocation_id=100 + len(self.fleet.members))

    async def stop(self, name: str) -> None:
        code = await self.fleet.stop(name, timeout_s=120)
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
        await create_topics(broker.bootstrap, {topic: PARTITIONS, f"{topic}.dlq": 1})
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
    for problem in problems[:30]:
        print(f"  PROBLEM: {problem}")
    print("soak: PASS" if not problems else f"soak: FAIL ({len(problems)} problems)")
    return 0 if not problems else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 10_000)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="leadsync-soak-"))
    return asyncio.run(soak(args.minutes, args.seed, log_dir))


if __name__ == "__main__":
    sys.exit(main())

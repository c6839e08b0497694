"""Scenarios 9 and 10: how soon work begins after a start, and after a rebalance.

Start-up is the time from the process's start to the first call at the PBX,
with events waiting. A rebalance's cost is the time a partition stands
unprocessed: the longest pause between two calls of one partition around a
member joining or leaving, measured at the PBX while events arrive steadily.
Both are measured against the FastStream peer and the naive consumer on the
same broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.capacity import PBX
from benchmarks.flows import Mode, StartProcs, faststream_peer, leadsync, naive_consumer
from benchmarks.harness import Proc, Watch, World, until_assigned, world
from benchmarks.load import create_topic, produce
from benchmarks.measures import AppliedCall, partition_pauses
from benchmarks.report import Figure, ScenarioResult
from benchmarks.startup_log import describe, rejoins, steps
from consumer.ownership.handover import HANDOVER_S

STARTUP_EVENTS = 200
PARTITIONS = 4
REBALANCE_RATE = 8.0
"""Events per second while members join and leave: a call every 0.5 s per partition, and
what arrives during a pause is drained soon after it (the PBX takes 32 a second)."""
SETTLE_S = 5.0
"""Steady work before a member joins, and between the join and the leave."""
REBALANCE_TARGET_S = 3.0
PREFIX = "R"


async def first_call(
    world: World, start: StartProcs, timeout_s: float = 60.0
) -> tuple[Proc, float] | None:
    """A process started with events waiting, and the moment its first call began at the
    PBX; None if it made none in ``timeout_s``."""
    pbx = world.pbxs[0]
    topic = await create_topic(world.bootstrap, PARTITIONS)
    await produce(world.bootstrap, topic, "S", range(STARTUP_EVENTS))
    await pbx.quiet()
    await pbx.reset()
    procs = start(topic)
    try:
        async with Watch(pbx, procs) as watch:
            if not await watch.until_applied(1, timeout_s):
                return None
        # A process killed before may have left calls that ended after the reset.
        starts = [c.started_at for c in await pbx.applied() if c.started_at >= procs[0].spawned_at]
        return (procs[0], min(starts)) if starts else None
    finally:
        for proc in procs:
            proc.kill()


async def startup(mode: Mode, workdir: Path) -> ScenarioResult:
    repeats = mode.pick(1, 3)
    times: dict[str, list[float]] = {"leadsync": [], "faststream": [], "naive": []}
    parts: list[dict[str, float]] = []
    async with world(workdir) as w:
        pbx = await w.pbx(**PBX)
        starts = {
            "leadsync": leadsync(w, pbx),
            "faststream": faststream_peer(w, pbx, pbx.capacity),
            "naive": naive_consumer(w, pbx),
        }
        for _ in range(repeats):  # alternating, so a busy spell on the machine hits all
            for name, start in starts.items():
                began = await first_call(w, start)
                if began is None:
                    continue
                proc, at = began
                times[name].append(at - proc.spawned_at)
                if name == "leadsync" and (found := steps(proc.spawned_at, proc.log(), at)):
                    parts.append(found)
    ours, peer, naive = (_median(times[name]) for name in ("leadsync", "faststream", "naive"))
    result = ScenarioResult(
        "startup",
        "9. Start-up",
        f"{STARTUP_EVENTS} events waiting in {PARTITIONS} partitions; each process starts on"
        " a topic of its own (a new consumer group, nothing committed); PBX --threads 8;"
        " default settings. Time from the process's start (spawned by the harness) to the"
        " start of its first call at the PBX"
        + (f"; each ran {repeats} times, alternating, the median shown." if repeats > 1 else "."),
        "the naive consumer (an aiokafka loop). FastStream: the peer of scenario 1.",
    )
    result.figures = [
        Figure(
            "process start to first call",
            ours,
            "s",
            naive,
            "no slower than FastStream",
            ours is not None and peer is not None and ours <= peer,
            compare=True,
            peer=peer,
        ),
    ]
    result.limits = (
        "Every process imports its libraries, connects to the broker, joins its group"
        " (the broker's join and sync), fetches its committed offsets and then records,"
        " and only then calls the PBX. Where leadsync's time went, from its own log"
        f" (median of the runs): {describe(parts)}."
    )
    return result


@dataclass(frozen=True, slots=True)
class Rebalanced:
    joined: float
    """Longest pause of one partition's calls around the second member's join."""
    left: float
    """The same around its leave (SIGTERM)."""


async def two_members(world: World, start: StartProcs, settle_s: float) -> Rebalanced:
    """A member alone, a second joins, then leaves, while events arrive steadily."""
    pbx = world.pbxs[0]
    topic = await create_topic(world.bootstrap, PARTITIONS)
    await pbx.quiet()
    await pbx.reset()
    first = start(topic)
    events = int(REBALANCE_RATE * 600)  # more than the run needs: stopped once measured
    async with Watch(pbx, first) as watch:
        await until_assigned(first, PARTITIONS)
        producing = asyncio.create_task(
            produce(
                world.bootstrap,
                topic,
                PREFIX,
                range(events),
                rate=REBALANCE_RATE,
                spread_over=PARTITIONS,
            )
        )
        await asyncio.sleep(settle_s)
        joined_at = time.time()
        second = start(topic)
        watch.procs += second
        await until_assigned([*first, *second], PARTITIONS, timeout_s=60)
        await asyncio.sleep(settle_s)
        left_at = time.time()
        for proc in second:
            await proc.stop()
        await asyncio.sleep(2 * settle_s + REBALANCE_TARGET_S)
        producing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producing
        await asyncio.sleep(1.0)  # the calls of the last events end
    for proc in first:
        await proc.stop()
    calls = await pbx.applied()
    return Rebalanced(
        joined=_pause(calls, joined_at, left_at), left=_pause(calls, left_at, time.time())
    )


def _pause(calls: Sequence[AppliedCall], begin: float, end: float) -> float:
    return max(partition_pauses(calls, PARTITIONS, begin, end, prefix=PREFIX), default=0.0)


async def rebalance(mode: Mode, workdir: Path) -> ScenarioResult:
    runs: dict[str, Rebalanced] = {}
    async with world(workdir) as w:
        pbx = await w.pbx(**PBX)
        runs["leadsync"] = await two_members(w, leadsync(w, pbx), SETTLE_S)
        leadsync_procs = list(w.procs)
        runs["faststream"] = await two_members(w, faststream_peer(w, pbx, 2), SETTLE_S)
    ours, peer = runs["leadsync"], runs["faststream"]
    spacing = PARTITIONS / REBALANCE_RATE
    result = ScenarioResult(
        "rebalance",
        "10. Rebalance",
        f"{PARTITIONS} partitions, {REBALANCE_RATE:g} events/s dealt out over them in turn"
        f" (a call every {spacing:.1f} s per partition); PBX --threads 8; one member, a"
        f" second joins {SETTLE_S:g} s later, leaves (SIGTERM) once both own partitions and"
        f" {SETTLE_S:g} s more passed. Default settings. The figure is the longest pause"
        " between two calls of one partition after the join (and after the leave): the"
        " time the partition stood unprocessed, plus one spacing.",
        "none (the FastStream column: two FastStream peers, max_workers=2 each).",
    )
    worst = max(ours.joined, ours.left)
    result.figures = [
        Figure(
            "partition unprocessed, a member joins",
            ours.joined,
            "s",
            target=f"≤ {REBALANCE_TARGET_S:g} s",
            met=ours.joined <= REBALANCE_TARGET_S,
            peer=peer.joined,
        ),
        Figure(
            "partition unprocessed, a member leaves",
            ours.left,
            "s",
            target=f"≤ {REBALANCE_TARGET_S:g} s",
            met=ours.left <= REBALANCE_TARGET_S,
            peer=peer.left,
        ),
    ]
    joins = [took for proc in leadsync_procs for took in rejoins(proc.log())]
    result.limits = (
        f"The longest a partition stood still was {worst:.1f} s. A rebalance costs"
        " the heartbeat at which the former owner hears of it (every 0.5 s), the drain of"
        " what it had begun (the calls on the wire), the broker's join and sync (from a"
        " revoke to the next assignment, leadsync's members saw"
        f" {_seconds(joins)}: the test broker holds every JoinGroup for half the session"
        " timeout, 5 of its 10 s, whatever the members), the new owner's handover wait"
        f" ({HANDOVER_S:g} s, consumer/ownership/handover.py), its first fetch, and then"
        " the calls of what arrived meanwhile, which queue behind the other partitions'"
        " (the figure counts a partition until its own first call)."
    )
    return result


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{value:.1f} s" for value in values) or "nothing (not logged)"

"""Scenario 11: how many call times adaptive concurrency takes to fill a slow PBX.

Adaptive concurrency learns the PBX's capacity from its calls, so its climb is
counted in calls: on a PBX whose calls take 20 s a climb of many rounds would
take minutes. Measured with the real service against a PBX of capacity 4 whose
calls all take the same time, ``MAX_CONCURRENCY`` twice the capacity.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from benchmarks.flows import Mode, leadsync
from benchmarks.harness import Watch, world
from benchmarks.load import create_topic, produce
from benchmarks.report import TIMES, Figure, ScenarioResult

CAPACITY = 4
CALL_TIMES_TARGET = 5.0
SAMPLE_S = 0.1


def to_capacity(executing: list[tuple[float, int]], capacity: int) -> float | None:
    """Seconds from the first sample with a call running to the first with ``capacity``."""
    first = next((t for t, n in executing if n > 0), None)
    full = next((t for t, n in executing if n >= capacity), None)
    return None if first is None or full is None else full - first


async def slow_pbx(mode: Mode, workdir: Path) -> ScenarioResult:
    call_s = mode.pick(2.0, 20.0)
    events, ceiling = 6 * CAPACITY, 2 * CAPACITY
    async with world(workdir) as w:
        service_ms = call_s * 1000
        pbx = await w.pbx(
            threads=2 * CAPACITY, min_service_ms=service_ms, max_service_ms=service_ms
        )
        topic = await create_topic(w.bootstrap, 4)
        await produce(w.bootstrap, topic, "W", range(events))
        await pbx.reset()
        procs = leadsync(w, pbx, {"max_concurrency": ceiling})(topic)
        async with Watch(pbx, procs, SAMPLE_S) as watch:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10 * call_s + 60
            took = None
            while took is None and loop.time() < deadline:
                await asyncio.sleep(SAMPLE_S)
                took = to_capacity(watch.executing, CAPACITY)
        for proc in procs:
            proc.kill()
    rounds = took / call_s if took is not None else None
    result = ScenarioResult(
        "slow-pbx",
        "11. Slow PBX",
        f"PBX --threads {2 * CAPACITY} (capacity {CAPACITY}), every call {call_s:g} s;"
        f" {events} events waiting; MAX_CONCURRENCY={ceiling}, adaptive concurrency on"
        " (the default). Time from the first call's start to the first moment the PBX"
        f" ran {CAPACITY} calls at once, sampled every {SAMPLE_S:g} s, in call times.",
        "none.",
    )
    result.figures = [
        Figure(
            "call times to reach the capacity",
            rounds,
            TIMES,
            target=f"≤ {CALL_TIMES_TARGET:g}",
            met=rounds is not None and rounds <= CALL_TIMES_TARGET,
        ),
    ]
    result.limits = (
        f"The PBX ran {CAPACITY} calls at once {took or 0:.1f} s after the first call began:"
        f" {rounds or 0:.2f} call times. Slow start doubles the limit once per round of"
        " calls, so the climb is counted in calls, not seconds"
        " (docs/adaptive-concurrency.md)."
        if took is not None
        else f"The PBX never ran {CAPACITY} calls at once within the time limit."
    )
    return result

"""Scenario 3: SIGTERM under load, with a slow call in flight and events in retry."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.faults.conftest import MakeStage
from tests.faults.harness import applied_events, until_applied
from tests.kafka_helpers import event_record
from tests.service_helpers import wait_until

DRAIN_S = 10.0
SLOW = "SLOW-1"
"""Every call for this lead takes 3 s: one is in flight when SIGTERM arrives."""


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_sigterm_under_load_exits_within_the_drain_deadline_no_loss_no_duplicates(
    stage: MakeStage,
) -> None:
    slow = [(i, event_record(SLOW, disposition="Sale", fields={"Seq": f"s{i}"})) for i in (5, 900)]
    st = await stage(
        events=2500,
        leads=250,
        partitions=4,
        seed=3,
        extra=slow,
        # 3% of calls fail with 103: some events are in retry when the signal comes.
        sim={
            "min_service_ms": 10,
            "max_service_ms": 30,
            "error_ratio": 0.03,
            "hold_leads": {SLOW: 3.0},
        },
        max_concurrency=8,
        rate_limit=400,
        drain_timeout_s=DRAIN_S,
    )
    sim, fleet, load = st.sim, st.fleet, st.load
    first = fleet.start()
    await until_applied(sim, load, count=500, timeout_s=60)
    await wait_until(
        lambda: any(c.finished_at is None for c in sim.state.calls(SLOW)),
        timeout_s=60,
        what="the slow call in flight",
    )
    loop = asyncio.get_running_loop()
    signalled = loop.time()
    fleet.send(first, signal.SIGTERM)
    code = await fleet.members[first].wait(timeout_s=DRAIN_S + 30)
    took = loop.time() - signalled
    applied_by_first = len(applied_events(sim, load.leads))
    aborted = sim.state.stats.aborted

    second = fleet.start()
    await until_applied(sim, load, timeout_s=120)
    await st.until_committed()
    assert await fleet.stop(second, timeout_s=40) == 0, fleet.log(second)[-3000:]
    verdict = await st.judge()
    print(
        f"scenario 3: exit {code} {took:.1f} s after SIGTERM (drain deadline {DRAIN_S:.0f} s); "
        f"{applied_by_first} applied before, {verdict.duplicates} duplicates after the restart"
    )
    assert code == 0, fleet.log(first)[-3000:]
    assert took < DRAIN_S, fleet.log(first)[-3000:]
    assert applied_by_first < len(load.events()), "the load ended before the signal"
    assert aborted == 0, "a call was cut off instead of drained"
    assert [c.code for c in sim.state.calls(SLOW)][:1] == [0], "the slow call was not waited for"
    verdict.assert_ok()
    assert verdict.duplicates == 0

"""Scenario 6: a process frozen (SIGSTOP) past the session timeout, then resumed (SIGCONT)."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.faults.conftest import MakeStage
from tests.faults.figures import KillFigures, kill_figures, went_backwards
from tests.faults.harness import applied_events, assignments, until_applied
from tests.faults.watch import committed_watch
from tests.service_helpers import wait_until

FROZEN_ALLOCATION = 101
"""The frozen process sends fAllocationId=101, the other 102: the PBX's log tells them apart."""
PROGRESS_WINDOW_S = 0.1 + 0.1
"""LEADSYNC_PROGRESS_INTERVAL_MS, and as much again for the write's acknowledgement."""
WATCH_AFTER_THAW_S = 12.0
"""Long enough for the thawed process to heartbeat, learn it lost its partitions, rejoin."""


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_process_frozen_past_session_timeout_applies_and_commits_nothing_it_lost(
    stage: MakeStage,
) -> None:
    st = await stage(
        events=1500,
        leads=150,
        partitions=4,
        seed=6,
        sim={"min_service_ms": 10, "max_service_ms": 20},
        max_concurrency=4,
        rate_limit=100,
    )
    sim, fleet, load = st.sim, st.fleet, st.load
    frozen = fleet.start(noojee_allocation_id=FROZEN_ALLOCATION)
    other = fleet.start(noojee_allocation_id=FROZEN_ALLOCATION + 1)
    await wait_until(
        lambda: all(a and a[-1] for a in (assignments(fleet.log(n)) for n in (frozen, other))),
        timeout_s=60,
        what="both processes assigned partitions",
    )
    await until_applied(sim, load, count=len(applied_events(sim, load.leads)) + 150, timeout_s=60)
    lost = assignments(fleet.log(frozen))[-1]

    fleet.send(frozen, signal.SIGSTOP)
    stopped = time.time()
    committed_at_freeze = await st.committed()
    await wait_until(
        lambda: assignments(fleet.log(other))[-1] == set(range(4)),
        timeout_s=60,
        what="the other process owning every partition",
    )
    reassigned = time.time()
    await until_applied(sim, load, timeout_s=90)
    async with committed_watch(st.bootstrap, st.group, load.topic, 4) as watch:
        await wait_until(
            lambda: bool(watch.samples) and watch.samples[-1][1] == load.log_end,
            timeout_s=30,
            what="everything committed by the other process",
        )
        fleet.send(frozen, signal.SIGCONT)
        thawed = time.time()
        await asyncio.sleep(WATCH_AFTER_THAW_S)
    frozen_log = fleet.log(frozen)
    codes = await fleet.stop_all(timeout_s=40)

    verdict = await st.judge(allow_duplicates=True)
    by_frozen_after = [
        (lead, u.body.get("Seq"))
        for lead in load.leads
        for u in sim.state.applied(lead)
        if u.started_at > thawed and u.query.get("fAllocationId") == str(FROZEN_ALLOCATION)
    ]
    calls, places = st.calls(), load.places()
    applied = {lead: sim.state.applied(lead) for lead in load.leads}

    def figures(at: float, partitions: set[int], silent_until: float) -> KillFigures:
        [found] = kill_figures(
            [at],
            calls,
            applied,
            places,
            [committed_at_freeze],
            incarnation=lambda update: int(update.query["fAllocationId"]) - FROZEN_ALLOCATION,
            partitions=partitions,
            silent_until=[silent_until],
            recent_window_s=PROGRESS_WINDOW_S,
        )
        return found

    takeover = figures(stopped, lost, silent_until=thawed)
    # The survivor's own partitions are handed over too (every handover is fenced):
    # it writes their progress before it lets them go, and skips it once they are
    # its own again, so at most its calls on the wire then are sent twice.
    fence = figures(reassigned, set(range(4)) - lost, silent_until=reassigned)
    print(
        f"scenario 6: frozen process owned {sorted(lost)}; {verdict.duplicates} re-sent "
        f"(bound {takeover.progress_bound} + {fence.progress_bound}: {takeover.in_flight} "
        f"in flight + {takeover.finished_recently} finished in the last "
        f"{PROGRESS_WINDOW_S:.1f} s on its partitions, {fence.in_flight} + "
        f"{fence.finished_recently} on the survivor's; without progress up to "
        f"{takeover.bound + fence.bound}); {len(by_frozen_after)} applied by it after SIGCONT"
    )
    assert codes == {frozen: 0, other: 0}, frozen_log[-3000:]
    assert by_frozen_after == [], frozen_log[-3000:]
    assert went_backwards(watch.samples) == [], frozen_log[-3000:]
    verdict.assert_ok()
    assert verdict.duplicates <= takeover.progress_bound + fence.progress_bound

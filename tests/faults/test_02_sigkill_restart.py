"""Scenario 2: SIGKILL with calls in flight, restart; three times over.

With the progress topic (the default) a restarted process skips every event the
killed one finished, but for those finished since its last progress write: it
sends again at most the calls that were on the wire and what finished in the
last ``PROGRESS_WINDOW_S``.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import MakeStage
from tests.faults.figures import kill_figures
from tests.faults.harness import applied_events, until_applied
from tests.kafka_helpers import event_record
from tests.service_helpers import wait_until

KILLS = 3
STUCK = "STUCK-1"
"""A lead whose every call takes 1.5 s: its partition's work runs ahead of the commit."""
FIRST_ALLOCATION = 100
"""Process k sends fAllocationId=100+k, so the PBX's history says who applied what."""
MAX_AHEAD = 100
MAX_IN_FLIGHT = 200
PARTITIONS = 4
PROGRESS_WINDOW_S = 0.1 + 0.1
"""LEADSYNC_PROGRESS_INTERVAL_MS (100 ms), and as much again for what a write takes to
be acknowledged and for an answer to travel from the PBX to the process."""


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sigkill_with_calls_in_flight_three_times_loses_nothing_duplicates_bounded(
    stage: MakeStage,
) -> None:
    stuck = [
        (350 * (i + 1), event_record(STUCK, disposition="Sale", fields={"Seq": f"s{i}"}))
        for i in range(6)
    ]
    st = await stage(
        events=2400,
        leads=300,
        partitions=PARTITIONS,
        seed=2,
        extra=stuck,
        sim={"min_service_ms": 10, "max_service_ms": 20, "hold_leads": {STUCK: 1.5}},
        max_concurrency=8,
        rate_limit=300,
        max_ahead_per_partition=MAX_AHEAD,
        max_in_flight=MAX_IN_FLIGHT,
    )
    sim, fleet, load = st.sim, st.fleet, st.load
    kills: list[float] = []
    committed = []
    for k in range(KILLS):
        name = fleet.start(noojee_allocation_id=FIRST_ALLOCATION + k)
        target = len(applied_events(sim, load.leads)) + 400
        await until_applied(sim, load, count=target, timeout_s=90)
        await wait_until(lambda: sim.state.stats.executing > 0, timeout_s=10, what="calls")
        kills.append(fleet.kill(name))
        committed.append(await st.committed())
    assert len(applied_events(sim, load.leads)) < len(load.events()), "nothing left to restart"
    last = fleet.start(noojee_allocation_id=FIRST_ALLOCATION + KILLS)
    await until_applied(sim, load, timeout_s=120)
    await st.until_committed()
    assert await fleet.stop(last, timeout_s=40) == 0, fleet.log(last)[-3000:]

    verdict = await st.judge(allow_duplicates=True)
    figures = kill_figures(
        kills,
        st.calls(),
        {lead: sim.state.applied(lead) for lead in load.leads},
        load.places(),
        committed,
        incarnation=lambda update: int(update.query["fAllocationId"]) - FIRST_ALLOCATION,
        recent_window_s=PROGRESS_WINDOW_S,
    )
    for k, f in enumerate(figures, 1):
        print(
            f"scenario 2, kill {k}: {f.duplicates} re-sent <= {f.in_flight} calls in flight "
            f"+ {f.finished_recently} finished in the last {PROGRESS_WINDOW_S:.1f} s "
            f"(without progress: up to {f.finished_after_commit} finished above the commit)"
        )
    verdict.assert_ok()
    assert verdict.duplicates == sum(f.duplicates for f in figures)
    for f in figures:
        assert f.in_flight > 0, "a kill found no call in flight"
        assert f.duplicates <= f.progress_bound
        # LEADSYNC_MAX_AHEAD_PER_PARTITION: a process never holds more than that many
        # events of a partition taken and not committed, finished or in flight. Each
        # process takes a partition's events in order from its commit, so whatever
        # any of them applied above the last commit lies within MAX_AHEAD events of it.
        assert f.finished_after_commit <= PARTITIONS * MAX_AHEAD
        assert f.duplicates <= PARTITIONS * MAX_AHEAD

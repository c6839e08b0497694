"""Scenario 4: scale 1 → 3 → 1 processes under load.

Every handover here is graceful (a rebalance, a SIGTERM): with the progress topic
nothing that finished is sent again, so re-sends are at most the calls on the wire
at a handover, fewer than ``CONCURRENCY`` per revoke.
"""

from __future__ import annotations

import re

import pytest

from tests.faults.conftest import MakeStage
from tests.faults.harness import REVOKED, applied_events, assignments, until_applied
from tests.service_helpers import wait_until
from tests.windows import busiest_window, call_starts, most_per_second

RATE = 150
CONCURRENCY = 4
MOST_REPLICAS = 3


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_scale_1_3_1_under_load_loses_nothing_and_fleet_limits_hold(
    stage: MakeStage,
) -> None:
    st = await stage(
        events=3000,
        leads=400,
        partitions=8,
        seed=4,
        sim={"threads": 64, "min_service_ms": 10, "max_service_ms": 20},
        max_concurrency=CONCURRENCY,
        rate_limit=RATE,
    )
    sim, fleet, load = st.sim, st.fleet, st.load

    def progress(more: int) -> int:
        return len(applied_events(sim, load.leads)) + more

    first = fleet.start()
    await until_applied(sim, load, count=progress(450), timeout_s=60)
    added = [fleet.start(), fleet.start()]
    await wait_until(
        lambda: all(assignments(fleet.log(n)) and assignments(fleet.log(n))[-1] for n in added),
        timeout_s=90,
        what="three processes sharing the partitions",
    )
    shared = {n: assignments(fleet.log(n))[-1] for n in (first, *added)}
    await until_applied(sim, load, count=progress(450), timeout_s=60)
    codes = {n: await fleet.stop(n, timeout_s=60) for n in added}
    applied_at_scale_down = len(applied_events(sim, load.leads))
    await until_applied(sim, load, timeout_s=150)
    await st.until_committed()
    logs = {n: fleet.log(n) for n in fleet.members}
    codes[first] = await fleet.stop(first, timeout_s=60)

    verdict = await st.judge(allow_duplicates=True)
    stats = sim.state.stats_json()
    busiest = busiest_window(call_starts(sim.state, load.leads))
    revokes = sum(len(re.findall(REVOKED, log)) for log in logs.values())
    print(
        f"scenario 4: {verdict.applied} applied, {verdict.duplicates} re-sent over "
        f"{revokes} revokes (bound: {CONCURRENCY} calls on the wire per revoke), "
        f"{len(re.findall(REVOKED, logs[first]))} revokes in the first process, at most "
        f"{stats['max_concurrency']} calls at once (limit {CONCURRENCY}), busiest second "
        f"{busiest} calls (limit {RATE}); partitions at 3 replicas: {shared}"
    )
    assert codes == dict.fromkeys(codes, 0), logs
    assert applied_at_scale_down < len(load.events()), "the load ended before scaling down"
    assert sorted(p for ps in shared.values() for p in ps) == list(range(8)), shared
    # Includes: no lead ever had two calls executing at once, and no lead's history
    # interleaves two senders (an older update applied after a newer one).
    verdict.assert_ok()
    assert stats["max_concurrency"] <= CONCURRENCY
    assert busiest <= most_per_second(RATE, CONCURRENCY, MOST_REPLICAS)
    assert verdict.duplicates <= CONCURRENCY * revokes

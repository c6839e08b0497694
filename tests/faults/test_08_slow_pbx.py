"""Scenario 8: a slow PBX, every call taking 2 to 20 s."""

from __future__ import annotations

import re

import pytest

from tests.faults.conftest import MakeStage
from tests.faults.harness import REVOKED, until_applied
from tests.kafka_helpers import event_record

SLOWEST = "SLOWEST-1"
"""Held the full 20 s, so the upper end of the range is certainly exercised."""


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_slow_pbx_no_early_client_timeout_no_duplicates_no_rebalance(
    stage: MakeStage,
) -> None:
    slowest = event_record(SLOWEST, disposition="Sale", fields={"Seq": "z1"})
    st = await stage(
        events=20,
        leads=40,
        partitions=4,
        seed=8,
        extra=[(3, slowest)],
        sim={
            "threads": 32,
            "min_service_ms": 2000,
            "max_service_ms": 20_000,
            "hold_leads": {SLOWEST: 20.0},
        },
        # Adaptive concurrency on (the default): its slow start counts calls, not
        # seconds, so at 2-20 s calls it fills the PBX within a few call times.
        max_concurrency=12,
    )
    sim = st.sim
    name = st.fleet.start()
    await until_applied(sim, st.load, timeout_s=200)
    await st.until_committed()
    log = st.fleet.log(name)
    assert await st.fleet.stop(name, timeout_s=60) == 0, log[-3000:]

    verdict = await st.judge()
    calls = st.calls()
    durations = [c.finished_at - c.started_at for c in calls if c.finished_at is not None]
    stats = sim.state.stats_json()
    print(
        f"scenario 8: {len(calls)} calls of {min(durations):.1f}-{max(durations):.1f} s, "
        f"{stats['requests']} requests for {verdict.applied} applied, {verdict.duplicates} "
        f"duplicates, {len(re.findall(REVOKED, log))} revokes"
    )
    verdict.assert_ok()
    assert verdict.duplicates == 0
    assert max(durations) >= 20.0
    # A client timeout below the configured 75 s would have cut a call short and sent it again.
    assert stats["aborted"] == 0
    assert stats["requests"] == len(st.load.events()) == verdict.applied
    assert "timed out" not in log
    assert "did not answer in time" not in log
    assert log.count("partitions assigned") == 1
    assert not re.search(REVOKED, log)

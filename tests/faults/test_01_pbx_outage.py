"""Scenario 1: the PBX is gone for 60 s mid-load (connections refused, then 503s)."""

from __future__ import annotations

import asyncio
import itertools
import re
import time

import pytest

from tests.faults.conftest import MakeStage
from tests.faults.figures import increments, max_overlap
from tests.faults.harness import REVOKED, until_applied
from tests.faults.watch import Sampler

REFUSE_S = 30.0
ANSWER_503_S = 30.0
CONCURRENCY = 8


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_pbx_outage_of_60_s_pauses_probes_and_drains_at_full_speed(stage: MakeStage) -> None:
    st = await stage(
        events=2000,
        leads=200,
        partitions=4,
        seed=1,
        sim={"threads": 2 * CONCURRENCY + 8, "min_service_ms": 20, "max_service_ms": 30},
        max_concurrency=CONCURRENCY,
    )
    sim = st.sim
    name = st.fleet.start()
    await until_applied(sim, st.load, count=400, timeout_s=60)

    async with Sampler(lambda: sim.state.stats.http_statuses["503"]) as answers_503:
        began = time.time()
        await sim.set_outage("refuse")
        await asyncio.sleep(REFUSE_S)
        switched = time.time()
        await sim.set_outage("503")
        await asyncio.sleep(ANSWER_503_S)
        await sim.set_outage(None)
        ended = time.time()
    applied_at_end = sim.state.stats.applied
    await until_applied(sim, st.load, timeout_s=120)
    drained = time.time()
    log = st.fleet.log(name)
    assert await st.fleet.stop(name, timeout_s=40) == 0

    verdict = await st.judge(allow_duplicates=True)
    calls = st.calls()
    during = [c for c in calls if began < c.started_at < ended and c.code == 0]
    probes = [t for t in increments(answers_503.samples) if switched < t <= ended]
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    after = [c.started_at for c in calls if c.started_at > ended]
    speed = max_overlap(calls, started_after=ended)
    print(
        f"scenario 1: {verdict.applied} applied, {verdict.duplicates} duplicates, "
        f"{len(probes)} probes in {ANSWER_503_S:.0f} s of 503 (min gap {min(gaps):.2f} s), "
        f"first call {min(after) - ended:.2f} s after the PBX returned, backlog of "
        f"{2000 - applied_at_end} drained in {drained - ended:.1f} s at {speed} calls at once"
    )
    verdict.assert_ok()
    assert verdict.dead_lettered == 0
    # A call the PBX finished just as it closed its port lost its answer: ambiguous, so
    # sent again. Only calls in flight at that moment can be.
    assert verdict.duplicates <= CONCURRENCY
    assert applied_at_end < 2000, "the load ended before the outage did: nothing was tested"
    assert during == [], "calls were applied while the PBX was down"
    assert "PBX unavailable" in log, log[-3000:]
    assert "pausing intake" in log
    assert probes, "no probe reached the PBX while it answered 503"
    assert len(probes) <= ANSWER_503_S + 1
    assert min(gaps) >= 0.9, gaps  # one probe at a time, at most one a second
    assert speed == CONCURRENCY, "sending did not resume at full concurrency"
    assert log.count("partitions assigned") == 1, log
    assert not re.search(REVOKED, log), log

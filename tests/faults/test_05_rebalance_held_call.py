"""Scenario 5: a rebalance while the PBX holds one call for 30 s."""

from __future__ import annotations

import re

import pytest

from tests.faults.conftest import MakeStage
from tests.faults.harness import REVOKED, assignments, until_applied
from tests.kafka_helpers import event_record
from tests.service_helpers import wait_until

HOLD_S = 30.0
HELD = "HELD-1"


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_rebalance_while_a_call_is_held_waits_for_it_and_applies_it_once(
    stage: MakeStage,
) -> None:
    """The drain deadline (45 s) exceeds the hold, as the default (90 s) exceeds any call
    the PBX answers: the revoke waits for the held call, commits, and hands over."""
    held_event = event_record(
        HELD, disposition="Sale", fields={"Seq": "h1"}, phones={"FirstPhone": "0383218199"}
    )
    st = await stage(
        events=1500,
        leads=150,
        partitions=4,
        seed=5,
        extra=[(100, held_event)],
        sim={"min_service_ms": 10, "max_service_ms": 20, "hold_leads": {HELD: HOLD_S}},
        max_concurrency=4,
        rate_limit=60,
        drain_timeout_s=45,
    )
    sim = st.sim
    first = st.fleet.start()
    await wait_until(
        lambda: any(c.finished_at is None for c in sim.state.calls(HELD)),
        timeout_s=60,
        what="the held call executing",
    )
    second = st.fleet.start()
    await wait_until(
        lambda: bool(re.search(REVOKED, st.fleet.log(first))),
        timeout_s=60,
        what="the first process's revoke",
    )
    await until_applied(sim, st.load, timeout_s=150)
    await st.until_committed()
    logs = {name: st.fleet.log(name) for name in (first, second)}
    shares = [assignments(logs[name])[-1] for name in (first, second)]
    codes = await st.fleet.stop_all(timeout_s=60)

    verdict = await st.judge()
    held_calls = sim.state.calls(HELD)
    abandoned = "drain deadline" in logs[first]
    print(
        f"scenario 5: {verdict.applied} applied, {verdict.duplicates} duplicates, "
        f"held event called {len(held_calls)}x, drain {'abandoned' if abandoned else 'waited'}; "
        f"partitions after: {shares}"
    )
    assert codes == {first: 0, second: 0}, logs
    assert all(shares), f"the rebalance did not split the partitions: {shares}"
    verdict.assert_ok()
    assert verdict.duplicates == 0
    assert [c.code for c in held_calls] == [0], "the held event was not applied exactly once"
    assert not abandoned, logs[first]

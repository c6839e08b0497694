"""Scenario 13: a second replica joins under load while slow calls hold commits back.

A held lead's call (2 s at the PBX) keeps its partition's commit behind while
hundreds of later events of that partition finish. When the second replica joins,
the first hands partitions over: before the progress topic, the new owner sent
every one of those finished events again. Now it skips them: re-sends are at most
the calls on the wire at the handover.
"""

from __future__ import annotations

import re

import pytest

from tests.faults.conftest import MakeStage
from tests.faults.harness import REVOKED, applied_events, assignments, until_applied
from tests.kafka_helpers import event_record
from tests.service_helpers import wait_until

CONCURRENCY = 8
HELD = "HELD-1"


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_replica_joining_while_commits_are_held_back_resends_at_most_the_calls_on_the_wire(
    stage: MakeStage,
) -> None:
    held = [
        (150 * (i + 1), event_record(HELD, disposition="Sale", fields={"Seq": f"h{i}"}))
        for i in range(8)
    ]
    st = await stage(
        events=2000,
        leads=200,
        partitions=4,
        seed=13,
        extra=held,
        sim={"min_service_ms": 10, "max_service_ms": 20, "hold_leads": {HELD: 2.0}},
        max_concurrency=CONCURRENCY,
        rate_limit=400,
    )
    sim, fleet, load = st.sim, st.fleet, st.load
    first = fleet.start()
    await until_applied(sim, load, count=500, timeout_s=60)
    before_join = len(applied_events(sim, load.leads))
    second = fleet.start()
    await wait_until(
        lambda: bool(assignments(fleet.log(second))) and bool(assignments(fleet.log(second))[-1]),
        timeout_s=60,
        what="the second replica owning partitions",
    )
    await until_applied(sim, load, timeout_s=120)
    await st.until_committed()
    logs = {name: fleet.log(name) for name in (first, second)}
    codes = await fleet.stop_all(timeout_s=60)

    verdict = await st.judge(allow_duplicates=True)
    revokes = sum(len(re.findall(REVOKED, log)) for log in logs.values())
    resumed = sum(int(n) for log in logs.values() for n in re.findall(r"(\d+) finished above", log))
    print(
        f"scenario 13: {before_join} applied before the join; {verdict.duplicates} re-sent "
        f"over {revokes} revokes (bound {CONCURRENCY} calls on the wire per revoke); "
        f"the new owners read {resumed} finished offsets above the commits from the progress topic"
    )
    assert codes == dict.fromkeys(codes, 0), logs
    verdict.assert_ok()
    assert revokes >= 1
    assert verdict.duplicates <= CONCURRENCY * revokes

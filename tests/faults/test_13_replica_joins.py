"""Scenario 13: a replica joins under load while slow calls hold commits back.

Held leads' calls (2 s at the PBX) keep their partitions' commits behind while
hundreds of later events finish. When a third replica joins, the two running
ones hand partitions over; the one that does not lead the group could not wait
for what it began (the test broker has no rebalance barrier), so before the
progress topic its partitions' next owner sent every event it had finished above
the held one again. Now the new owner skips them: re-sends are at most the calls
on the wire at the handover.
"""

from __future__ import annotations

import re

import pytest

from tests.faults.conftest import MakeStage
from tests.faults.harness import REVOKED, applied_events, assignments, until_applied
from tests.kafka_helpers import event_record
from tests.service_helpers import wait_until

CONCURRENCY = 8
HELD = "HELD-"


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_replica_joining_while_commits_are_held_back_resends_at_most_the_calls_on_the_wire(
    stage: MakeStage,
) -> None:
    held = [
        (100 * (i + 1), event_record(f"{HELD}{i % 4}", disposition="Sale", fields={"Seq": f"h{i}"}))
        for i in range(16)
    ]
    st = await stage(
        events=2000,
        leads=200,
        partitions=4,
        seed=13,
        extra=held,
        sim={
            "min_service_ms": 10,
            "max_service_ms": 20,
            "hold_leads": {f"{HELD}{n}": 2.0 for n in range(4)},
        },
        max_concurrency=CONCURRENCY,
        rate_limit=400,
    )
    sim, fleet, load = st.sim, st.fleet, st.load
    running = [fleet.start(), fleet.start()]
    await wait_until(
        lambda: all(assignments(fleet.log(n)) and assignments(fleet.log(n))[-1] for n in running),
        timeout_s=60,
        what="two replicas sharing the partitions",
    )
    await until_applied(sim, load, count=500, timeout_s=60)
    before_join = len(applied_events(sim, load.leads))
    joining = fleet.start()
    await wait_until(
        lambda: len(assignments(fleet.log(joining))) > 0,
        timeout_s=60,
        what="the third replica joining",
    )
    await until_applied(sim, load, timeout_s=120)
    await st.until_committed()
    logs = {name: fleet.log(name) for name in (*running, joining)}
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

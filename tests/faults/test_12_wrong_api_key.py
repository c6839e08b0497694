"""Scenario 12: a wrong API key stops the service at once instead of dead-lettering everything."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from consumer.errors import EXIT_UNAUTHORIZED
from tests.faults.conftest import MakeStage
from tests.faults.figures import increments
from tests.faults.watch import Sampler
from tests.kafka_helpers import read_topic

STOP_WITHIN_S = 15.0
"""The issue's "stops within seconds", from the PBX's first refusal to the exit."""


@pytest.mark.timeout(120)
async def test_wrong_api_key_stops_within_seconds_non_zero_and_dead_letters_nothing(
    stage: MakeStage,
) -> None:
    st = await stage(events=400, leads=40, partitions=2, seed=12)
    wrong = "not-the-key-" + st.settings.noojee_api_key.get_secret_value()[:4]
    refusals = st.sim.state.stats.http_statuses
    async with Sampler(lambda: refusals["401"]) as sampler:
        name = st.fleet.start(noojee_api_key=SecretStr(wrong))
        code = await st.fleet.members[name].wait(timeout_s=90)
        exited = time.time()
    log = st.fleet.log(name)

    assert code == EXIT_UNAUTHORIZED, log
    first_refusal = increments(sampler.samples)[0]
    took = exited - first_refusal
    print(f"scenario 12: exit {code} {took:.1f} s after the first 401; {refusals['401']} refused")
    assert took < STOP_WITHIN_S, log
    assert "the PBX refused the API key" in log
    assert wrong not in log
    assert st.sim.state.stats.applied == 0
    dead = await read_topic(st.bootstrap, f"{st.load.topic}.dlq", expect=0, timeout_s=1)
    assert dead == []
    assert set((await st.committed()).values()) == {None}, "committed after the key was refused"

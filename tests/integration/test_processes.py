"""The service as real processes: SIGTERM under load, and two replicas in one group."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from tests.integration.test_pipeline import lead_events
from tests.kafka_helpers import (
    committed_offsets,
    create_topics,
    produce,
    service_topics,
    unique_topic,
)
from tests.oracle import applied_histories, verify
from tests.process_helpers import ServiceProcess
from tests.service_helpers import service_settings, wait_until
from tests.windows import busiest_window, call_starts, most_per_second


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_sigterm_under_load_drains_commits_and_a_restart_applies_the_rest_once(
    kafka_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 4))
    records, leads = lead_events(300, 3000, seed=5)
    produced = await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    config = SimulatorConfig(api_key=key, threads=16, min_service_ms=15, max_service_ms=25)
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap,
            topic,
            sim.url,
            key,
            max_concurrency=8,
            rate_limit=10_000,
            drain_timeout_s=15,
        )
        first = ServiceProcess(settings, tmp_path / "first.log")
        try:
            await wait_until(
                lambda: sim.state.stats.applied >= 800, timeout_s=60, what="800 applied"
            )
            first.signal()
            loop = asyncio.get_running_loop()
            signalled = loop.time()
            assert await first.wait(timeout_s=settings.drain_timeout_s + 10) == 0, first.log()
            exit_took = loop.time() - signalled
        finally:
            first.kill()
        applied_by_first = sim.state.stats.applied
        assert applied_by_first < 3000, "the load ended before the signal: nothing was tested"
        committed = await committed_offsets(
            kafka_broker.bootstrap, settings.group_id, topic, range(4)
        )
        # The drain fences (what finished survives in the progress topic): the commit
        # covers what finished below each partition's first unfinished event, the
        # progress record the rest. The restart below must send none of it again.
        assert sum(o or 0 for o in committed.values()) <= applied_by_first

        second = ServiceProcess(settings, tmp_path / "second.log")
        try:
            await wait_until(
                lambda: sim.state.stats.applied >= 3000, timeout_s=120, what="all applied"
            )
            await asyncio.sleep(0.5)  # a duplicate would arrive now
            second.signal()
            assert await second.wait(timeout_s=settings.drain_timeout_s + 10) == 0, second.log()
        finally:
            second.kill()
        verdict = verify([r.value for r in records], applied_histories(sim.state, leads), [])
    verdict.assert_ok()
    assert verdict.duplicates == 0
    assert exit_took < settings.drain_timeout_s
    committed = await committed_offsets(kafka_broker.bootstrap, settings.group_id, topic, range(4))
    assert committed == produced.log_end


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_two_processes_split_partitions_respect_fleet_limits_and_lose_nothing(
    kafka_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 8))
    records, leads = lead_events(200, 1600, seed=6)
    produced = await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    config = SimulatorConfig(api_key=key, threads=64, min_service_ms=10, max_service_ms=20)
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap, topic, sim.url, key, max_concurrency=4, rate_limit=150
        )
        replicas = [ServiceProcess(settings, tmp_path / f"replica{i}.log") for i in range(2)]
        try:
            await wait_until(
                lambda: sim.state.stats.applied >= 1600, timeout_s=120, what="all applied"
            )
            committed: dict[int, int | None] = {}

            async def refresh() -> None:
                committed.update(
                    await committed_offsets(
                        kafka_broker.bootstrap, settings.group_id, topic, range(8)
                    )
                )

            for _ in range(50):
                await refresh()
                if committed == produced.log_end:
                    break
                await asyncio.sleep(0.2)
            logs = [r.log() for r in replicas]
            for replica in replicas:
                replica.signal()
            for replica in replicas:
                assert await replica.wait(timeout_s=40) == 0, replica.log()
        finally:
            for replica in replicas:
                replica.kill()
        verdict = verify(
            [r.value for r in records],
            applied_histories(sim.state, leads),
            [],
            allow_duplicates=True,
        )
        stats = sim.state.stats_json()
        busiest = busiest_window(call_starts(sim.state, leads))
    verdict.assert_ok()
    assert committed == produced.log_end
    assert stats["max_concurrency"] <= 4
    assert busiest <= most_per_second(150, 4, replicas=2)
    assert all("partitions assigned" in log for log in logs), logs
    assert sim.state.overlaps() == []

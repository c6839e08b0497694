"""The pipeline end to end: real Tansu broker on loopback, real simulator over HTTP."""

from __future__ import annotations

import asyncio
import json
import random
import secrets

import pytest

from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from tests.kafka_helpers import (
    Outgoing,
    committed_offsets,
    create_topics,
    event_record,
    produce,
    read_topic,
    service_topics,
    unique_topic,
)
from tests.oracle import applied_histories, verify
from tests.service_helpers import running_service, service_settings, wait_until
from tests.windows import busiest_window, call_starts, most_per_second


def lead_events(leads: int, events: int, seed: int = 1) -> tuple[list[Outgoing], list[str]]:
    rng = random.Random(seed)
    names = [f"L{i:05d}" for i in range(leads)]
    records = [
        event_record(
            rng.choice(names),
            disposition=rng.choice(["Callback", "Sale", "No Answer"]),
            fields={"Seq": str(n)},
            phones={"FirstPhone": f"03{n:08d}"},
        )
        for n in range(events)
    ]
    return records, names


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_ten_thousand_events_over_eight_partitions_all_applied_in_order(
    kafka_broker: EmbeddedBroker,
) -> None:
    """10,000 events, 8 partitions, 1,000 leads: every event applied in order per lead,
    committed offsets reach the log end, the PBX never over its limit."""
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 8))
    records, leads = lead_events(1000, 10_000)
    produced = await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    config = SimulatorConfig(api_key=key, threads=64, min_service_ms=2, max_service_ms=6)
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap, topic, sim.url, key, max_concurrency=24, rate_limit=100_000
        )
        async with running_service(settings) as pipeline:
            await wait_until(
                lambda: pipeline.counts.finished >= 10_000, timeout_s=240, what="10,000 events"
            )
            await wait_until(lambda: pipeline.in_flight == 0, timeout_s=10, what="idle")
        stats = sim.state.stats_json()
        verdict = verify(
            [r.value for r in records], applied_histories(sim.state, leads), dead_letters=[]
        )
    verdict.assert_ok()
    assert verdict.applied == 10_000
    assert verdict.duplicates == 0
    assert stats["max_concurrency"] <= 24
    assert sim.state.overlaps() == []
    committed = await committed_offsets(kafka_broker.bootstrap, settings.group_id, topic, range(8))
    assert committed == produced.log_end


async def test_transient_103s_and_109s_are_retried_in_order_and_nothing_dead_lettered(
    kafka_broker: EmbeddedBroker,
) -> None:
    """5% injected 103s, and a burst of 109s from a PBX with a short queue that is sent
    more calls than it runs: all applied, order per lead kept, no dead letter."""
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 4))
    records, leads = lead_events(100, 1500, seed=2)
    await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    config = SimulatorConfig(
        api_key=key, threads=8, min_service_ms=10, queue_timeout_s=0.015, error_ratio=0.05, seed=3
    )
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap,
            topic,
            sim.url,
            key,
            max_concurrency=16,
            rate_limit=100_000,
            # Pinned above the PBX's capacity, so its queue overflows into 109s.
            adaptive_concurrency=False,
        )
        async with running_service(settings) as pipeline:
            await wait_until(
                lambda: pipeline.counts.finished >= 1500, timeout_s=120, what="1,500 events"
            )
        codes = sim.state.stats_json()["codes"]
        verdict = verify([r.value for r in records], applied_histories(sim.state, leads), [])
    verdict.assert_ok()
    assert pipeline.counts.dead_lettered.total() == 0
    assert codes.get("103", 0) > 0, codes
    assert codes.get("109", 0) > 0, codes
    dead = await read_topic(kafka_broker.bootstrap, f"{topic}.dlq", expect=0, timeout_s=0.5)
    assert dead == []


async def test_bounded_buffer_with_a_large_backlog_and_slow_pbx(
    kafka_broker: EmbeddedBroker,
) -> None:
    """200,000 events waiting, a slow PBX: the process never holds more than MAX_IN_FLIGHT."""
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 4))
    value = json.dumps(
        {"event_id": "e", "lead_id": "X", "occurred_at": "2026-11-26T10:15:00Z"}
    ).encode()
    backlog = (Outgoing(key=f"L{n % 5000}".encode(), value=value) for n in range(200_000))
    await produce(kafka_broker.bootstrap, topic, backlog)
    key = secrets.token_hex(8)
    config = SimulatorConfig(api_key=key, threads=8, min_service_ms=200)
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap, topic, sim.url, key, max_in_flight=300, max_concurrency=4
        )
        async with running_service(settings) as pipeline:
            await wait_until(lambda: pipeline.in_flight >= 250, timeout_s=60, what="a full buffer")
            seen = []
            for _ in range(200):  # sample while intake keeps polling a paused backlog
                seen.append(pipeline.in_flight)
                await asyncio.sleep(0.01)
        assert max(seen) <= 300
        assert pipeline.counts.taken <= 300 + pipeline.counts.finished
        assert sim.state.stats_json()["applied"] < 200_000


async def test_rate_and_concurrency_limits_hold_in_every_window(
    kafka_broker: EmbeddedBroker,
) -> None:
    """RATE_LIMIT=50 against a PBX answering in 5 ms, far under the vendor's 100 ms:
    no one-second window of calls exceeds 50 plus the stated burst (a token per slot,
    since 3 slots at 100 ms could not outrun 50/s) and the send jitter's one, and
    never more than MAX_CONCURRENCY calls at once."""
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 4))
    records, leads = lead_events(100, 250, seed=4)
    await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    config = SimulatorConfig(api_key=key, threads=64, min_service_ms=5)
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap, topic, sim.url, key, max_concurrency=3, rate_limit=50
        )
        async with running_service(settings) as pipeline:
            await wait_until(lambda: pipeline.counts.finished >= 250, timeout_s=60, what="all")
        starts = call_starts(sim.state, leads)
        stats = sim.state.stats_json()
    assert len(starts) == 250
    assert busiest_window(starts) <= most_per_second(50, 3, replicas=1)
    assert stats["max_concurrency"] <= 3

"""Scenario 11: the broker refuses the dead-letter write (Tansu cannot lack a topic).

Tansu creates a topic as soon as a client names it, so a "missing" dead-letter
topic cannot be staged against it; a broker whose schema registry refuses every
write to the dead-letter topic is the same fault to the service: the write
fails until an operator fixes it. Here the fix is a dead-letter topic that
exists and accepts (``LEADSYNC_DLQ_TOPIC``) and a restart.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from pathlib import Path

import pytest

from consumer.errors import EXIT_OK
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from contracts import deadletter as h
from contracts.deadletter import parse_dead_letter_headers
from tests.faults.brokers import broker_refusing
from tests.faults.harness import (
    Fleet,
    Load,
    judge,
    lead_events,
    until_applied,
    until_committed,
)
from tests.kafka_helpers import (
    Outgoing,
    committed_offsets,
    create_topics,
    read_topic,
    unique_topic,
)
from tests.service_helpers import service_settings, wait_until

POISON = [(60, Outgoing(b"POISON-1", b"{not json")), (200, Outgoing(b"POISON-1", b"[1, 2]"))]
REPORTED = "could not write dead letter"
MAX_AHEAD = 50
MAX_IN_FLIGHT = 100


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_refused_dead_letter_write_holds_the_offset_retries_and_loses_nothing(
    tmp_path: Path,
) -> None:
    topic = unique_topic()
    refused, accepting = f"{topic}.dlq", f"{topic}.dlq-ok"
    broker = broker_refusing([refused], tmp_path / "registry")
    fleet: Fleet | None = None
    try:
        bootstrap = broker.bootstrap
        await create_topics(bootstrap, {topic: 2, refused: 1, accepting: 1, f"{topic}.progress": 2})
        leads = [f"L{i:05d}" for i in range(60)]
        records = lead_events(600, leads, random.Random(11))
        for position, record in POISON:  # ascending: positions are final indices
            records.insert(position, record)
        load = Load(topic, leads)
        await load.add(bootstrap, records)
        assert load.produced is not None
        poison_at = [load.produced.placements[i] for i, _ in POISON]
        [partition] = {p for p, _ in poison_at}
        first_poison = min(o for _, o in poison_at)
        key = secrets.token_hex(8)
        config = SimulatorConfig(api_key=key, threads=32, min_service_ms=5, max_service_ms=10)
        async with run_simulator(config) as sim:
            settings = service_settings(
                bootstrap,
                topic,
                sim.url,
                key,
                max_concurrency=8,
                rate_limit=10_000,
                drain_timeout_s=5,
                max_ahead_per_partition=MAX_AHEAD,
                max_in_flight=MAX_IN_FLIGHT,
                health_port=0,
            )
            fleet = Fleet(settings, tmp_path)
            first = fleet.start()
            await wait_until(
                lambda: fleet.count(first, REPORTED) >= 3, timeout_s=90, what="retries reported"
            )
            held: dict[int, int | None] = {}

            async def other_partition_done() -> bool:
                held.update(await committed_offsets(bootstrap, settings.group_id, topic, range(2)))
                return held[1 - partition] == load.log_end[1 - partition]

            for _ in range(120):
                if await other_partition_done():
                    break
                await asyncio.sleep(0.5)
            first_log = fleet.log(first)
            assert await fleet.stop(first, timeout_s=40) == EXIT_OK, first_log[-3000:]
            after_stop = await committed_offsets(bootstrap, settings.group_id, topic, range(2))

            second = fleet.start(dlq_topic=accepting)
            await until_applied(sim, load, timeout_s=90)
            await until_committed(bootstrap, settings.group_id, load, timeout_s=60)
            assert await fleet.stop(second, timeout_s=40) == EXIT_OK, fleet.log(second)[-3000:]
            verdict = await judge(
                bootstrap,
                sim,
                load,
                settings.group_id,
                dead_letters=2,
                dlq_topic=accepting,
                allow_duplicates=True,
            )
        dead = await read_topic(bootstrap, accepting, expect=len(POISON))
        refused_letters = await read_topic(bootstrap, refused, expect=0, timeout_s=1)
    finally:
        if fleet is not None:
            fleet.close()
        broker.stop()

    sources = sorted(
        (int(headers[h.SOURCE_PARTITION]), int(headers[h.SOURCE_OFFSET]))
        for headers in (parse_dead_letter_headers(r.headers) for r in dead)
    )
    reports = first_log.count(REPORTED)
    print(
        f"scenario 11: refused write reported {reports}x; committed held at {held[partition]} "
        f"and {after_stop[partition]} after SIGTERM (first poison at {first_poison}); "
        f"{verdict.duplicates} events re-sent after the restart (bound {MAX_AHEAD})"
    )
    verdict.assert_ok()
    assert (held[partition] or 0) <= first_poison
    assert (after_stop[partition] or 0) <= first_poison
    assert held[1 - partition] == load.log_end[1 - partition]
    assert refused_letters == []
    assert sources == sorted(poison_at)
    assert {parse_dead_letter_headers(r.headers)[h.REASON] for r in dead} == {"INVALID_EVENT"}
    # Only work past the poison is sent twice: LEADSYNC_MAX_AHEAD_PER_PARTITION stops the
    # partition's intake once that many of its events are taken and not committed.
    assert verdict.duplicates <= MAX_AHEAD

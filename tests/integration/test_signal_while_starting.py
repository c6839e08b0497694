"""A SIGTERM while the service is still starting stops it cleanly: exit 0, nothing taken.

Kubernetes may stop a pod it has just started (a scale-up undone at once). Before
the fix the service's signal handlers went in only once Kafka's clients had
started, so such a SIGTERM killed the process by the signal, its consumer still a
member of the group until the session timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from types import FrameType

import pytest

from consumer.errors import EXIT_OK
from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from consumer.service import run_service
from tests.integration.test_pipeline import lead_events
from tests.kafka_helpers import (
    committed_offsets,
    create_topics,
    produce,
    service_topics,
    unique_topic,
)
from tests.service_helpers import service_settings


async def test_a_sigterm_while_kafka_starts_stops_the_service_before_it_takes_anything(
    kafka_broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 2))
    records, leads = lead_events(20, 50, seed=3)
    await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    # Should the service not handle the signal, this keeps the test's own process alive
    # (the service then runs on, and the wait below fails the test).
    unhandled: list[int] = []

    def keep(signum: int, _frame: FrameType | None) -> None:
        unhandled.append(signum)

    previous = signal.signal(signal.SIGTERM, keep)
    try:
        async with run_simulator(SimulatorConfig(api_key=key)) as sim:
            settings = service_settings(kafka_broker.bootstrap, topic, sim.url, key)
            with caplog.at_level(logging.INFO):
                task = asyncio.create_task(run_service(settings, handle_signals=True))
                await asyncio.sleep(0)  # the service runs up to its first wait: Kafka not started
                os.kill(os.getpid(), signal.SIGTERM)
                code = await asyncio.wait_for(task, 30)
            applied = sum(len(sim.state.applied(lead)) for lead in leads)
    finally:
        signal.signal(signal.SIGTERM, previous)
    messages = [record.getMessage() for record in caplog.records]
    assert code == EXIT_OK
    assert not unhandled
    assert "SIGTERM received while starting: stopping before taking any event" in messages
    assert "stopped cleanly" in messages
    assert applied == 0
    committed = await committed_offsets(kafka_broker.bootstrap, settings.group_id, topic, [0, 1])
    assert set(committed.values()) <= {None, 0}

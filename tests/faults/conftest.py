"""Fixtures of the fault suite: ``stage`` builds one scenario's world and tears it down."""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

import pytest

from consumer.sandbox.broker import EmbeddedBroker, start_broker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from tests.faults.harness import Fleet, Load, Stage, lead_events
from tests.kafka_helpers import Outgoing, create_topics, service_topics, unique_topic
from tests.oracle import seq_of
from tests.service_helpers import service_settings


class MakeStage(Protocol):
    async def __call__(
        self,
        *,
        events: int,
        leads: int,
        partitions: int,
        seed: int,
        sim: dict[str, Any] | None = None,
        broker: EmbeddedBroker | None = None,
        extra: Sequence[tuple[int, Outgoing]] = (),
        **settings: Any,
    ) -> Stage:
        """Topics created, the load produced, the PBX up; the fleet not started yet.

        ``extra``: (position, record) pairs inserted into the load; ``sim``:
        ``SimulatorConfig`` options; ``settings``: ``service_settings`` overrides.
        """
        ...


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of the test's own, for faults that must not touch the session broker."""
    broker = start_broker()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def stage(kafka_broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[MakeStage]:
    async with AsyncExitStack() as stack:

        async def make(
            *,
            events: int,
            leads: int,
            partitions: int,
            seed: int,
            sim: dict[str, Any] | None = None,
            broker: EmbeddedBroker | None = None,
            extra: Sequence[tuple[int, Outgoing]] = (),
            **settings: Any,
        ) -> Stage:
            bootstrap = (broker or kafka_broker).bootstrap
            topic = unique_topic()
            await create_topics(bootstrap, service_topics(topic, partitions))
            names = [f"L{i:05d}" for i in range(leads)]
            records = lead_events(events, names, random.Random(seed))
            for position, record in sorted(extra, key=lambda pair: pair[0]):  # final indices
                records.insert(position, record)
                ident = seq_of(record.value)
                if ident is not None and ident[0] not in names:
                    names.append(ident[0])
            load = Load(topic, names)
            await load.add(bootstrap, records)
            key = secrets.token_hex(8)
            options: dict[str, Any] = {"threads": 32, "min_service_ms": 5, "seed": seed}
            options |= sim or {}
            simulator = await stack.enter_async_context(
                run_simulator(SimulatorConfig(api_key=key, **options))
            )
            # Port 0: several processes of a fleet must not fight over one health port.
            values: dict[str, Any] = {"max_concurrency": 8, "rate_limit": 10_000, "health_port": 0}
            values |= settings
            config = service_settings(bootstrap, topic, simulator.url, key, **values)
            fleet = Fleet(config, tmp_path)
            stack.callback(fleet.close)
            return Stage(bootstrap, simulator, load, config, fleet)

        yield make

"""Shared fixtures: one real Kafka-protocol broker (Tansu) for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from consumer.sandbox.broker import EmbeddedBroker, start_broker


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[EmbeddedBroker]:
    broker = start_broker()
    try:
        yield broker
    finally:
        broker.stop()

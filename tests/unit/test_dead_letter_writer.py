"""consumer.deadletters.writer: a dead letter too large for its topic goes out smaller, never loops.

The producer is a seam here (the real broker's answer is tested in
tests/integration/test_poison_proof.py): it refuses records over a size.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from consumer.deadletters.writer import DeadLetterWriter
from contracts import deadletter as dl
from contracts.deadletter import Failure
from tests.telemetry_helpers import record


class SizedProducer:
    """Acknowledges records up to ``limit`` bytes (key, value and headers); the first
    ``outages`` sends fail as if the broker were away."""

    def __init__(self, limit: int, outages: int = 0) -> None:
        self.limit = limit
        self.outages = outages
        self.sent: list[dict[str, Any]] = []
        self.attempts = 0

    async def send_and_wait(self, topic: str, **record: Any) -> None:
        self.attempts += 1
        if self.outages:
            self.outages -= 1
            raise KafkaConnectionError("broker away")
        size = len(record["key"] or b"") + len(record["value"] or b"")
        size += sum(len(name) + len(value) for name, value in record["headers"])
        if size > self.limit:
            raise MessageSizeTooLargeError(f"The message is {size} bytes")
        self.sent.append(record)


async def write(producer: SizedProducer, **fields: Any) -> tuple[bool, int]:
    omitted: list[None] = []
    writer = DeadLetterWriter(
        producer,
        "leads.dlq",
        "leadsync",
        "1.0",
        on_omitted=lambda: omitted.append(None),
    )
    source = record(**fields)
    report = writer.report(source, Failure("INVALID_EVENT", "too big"), traceparent=None)
    ok = await asyncio.wait_for(writer.write(source, report, asyncio.Event()), timeout=10)
    return ok, len(omitted)


async def test_a_value_too_large_is_left_out_and_said_so() -> None:
    producer = SizedProducer(limit=5_000)
    ok, omitted = await write(producer, value=b"x" * 10_000, key=b"CRM-1")
    assert (ok, omitted) == (True, 1)
    [sent] = producer.sent
    assert sent["value"] is None
    assert sent["key"] == b"CRM-1"
    headers = dict(sent["headers"])
    assert headers[dl.VALUE_OMITTED] == b"10000"
    assert dl.KEY_OMITTED not in headers
    assert producer.attempts == 2  # whole, then without the value: no loop


async def test_then_the_key_then_the_records_own_headers() -> None:
    producer = SizedProducer(limit=3_000)
    huge_header = [("x-crm", b"h" * 4_000)]
    ok, omitted = await write(producer, value=b"x" * 10, key=b"k" * 4_000, headers=huge_header)
    assert (ok, omitted) == (True, 1)
    [sent] = producer.sent
    assert (sent["key"], sent["value"]) == (None, None)
    headers = dict(sent["headers"])
    assert headers[dl.KEY_OMITTED] == b"4000"
    assert headers[dl.HEADERS_OMITTED] == b"1"
    assert "x-crm" not in headers
    assert producer.attempts == 4


async def test_a_broker_away_is_waited_out_and_a_record_that_fits_goes_whole() -> None:
    producer = SizedProducer(limit=100_000, outages=2)
    ok, omitted = await write(producer, value=b"x" * 10)
    assert (ok, omitted) == (True, 0)
    assert producer.sent[0]["value"] == b"x" * 10
    assert producer.attempts == 3

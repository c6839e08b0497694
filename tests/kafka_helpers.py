"""Talking to the real test broker from tests: create topics, produce, read back, offsets.

Tansu's ListOffsets answers the last batch's base offset + 1, not the log end,
so log end offsets come from the producer's own acknowledgements instead.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.producer import message_accumulator
from aiokafka.producer import producer as producer_module
from aiokafka.record import default_records
from aiokafka.structs import ConsumerRecord

Header = tuple[str, bytes]


@dataclass(frozen=True)
class Outgoing:
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header] = ()
    partition: int | None = None


@dataclass
class Produced:
    """Where each produced record landed, in production order."""

    topic: str
    placements: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset)

    @property
    def log_end(self) -> dict[int, int]:
        ends: dict[int, int] = {}
        for partition, offset in self.placements:
            ends[partition] = max(ends.get(partition, 0), offset + 1)
        return ends


async def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in topics.items()])
    finally:
        await admin.close()


def service_topics(topic: str, partitions: int, *, dlq_partitions: int = 1) -> dict[str, int]:
    """The topics a service of ``topic`` needs: the source, its dead letters, and its
    progress topic (as many partitions as the source: one record per partition)."""
    return {topic: partitions, f"{topic}.dlq": dlq_partitions, f"{topic}.progress": partitions}


def unique_topic(prefix: str = "leads") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def produce(bootstrap: str, topic: str, records: Iterable[Outgoing]) -> Produced:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    produced = Produced(topic)
    try:
        futures = [
            await producer.send(
                topic,
                value=r.value,
                key=r.key,
                headers=list(r.headers),
                partition=r.partition,
            )
            for r in records
        ]
        for metadata in await asyncio.gather(*futures):
            produced.placements.append((metadata.partition, metadata.offset))
    finally:
        await producer.stop()
    return produced


def event_record(lead_id: str, **event: Any) -> Outgoing:
    body = {
        "event_id": event.pop("event_id", uuid.uuid4().hex),
        "lead_id": lead_id,
        "occurred_at": event.pop("occurred_at", "2026-11-26T10:15:00Z"),
        **event,
    }
    return Outgoing(key=lead_id.encode(), value=json.dumps(body).encode())


async def committed_offsets(
    bootstrap: str, group: str, topic: str, partitions: Iterable[int]
) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in partitions}
    finally:
        await consumer.stop()


async def read_topic(
    bootstrap: str, topic: str, *, expect: int, timeout_s: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the beginning; waits until ``expect`` arrived."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        await consumer.topics()  # loads metadata, so partitions_for_topic knows the topic
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(records) < expect and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
        # a short extra poll shows records beyond what was expected
        for messages in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(messages)
    finally:
        await consumer.stop()
    return records


class RawHeaderName(bytes):
    """A header name produced as these very bytes, which need not be UTF-8: what clients
    that take header names as bytes can send, and aiokafka's producer cannot."""

    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        return bytes(self)


@contextmanager
def raw_header_names() -> Iterator[None]:
    """Producers started inside write ``RawHeaderName`` names as they are (aiokafka's
    Python batch builder writes ``name.encode()``; its C builder insists on ``str``)."""
    saved = message_accumulator.DefaultRecordBatchBuilder, producer_module.DefaultRecordBatchBuilder
    builder = default_records._DefaultRecordBatchBuilderPy
    message_accumulator.DefaultRecordBatchBuilder = builder
    producer_module.DefaultRecordBatchBuilder = builder
    try:
        yield
    finally:
        message_accumulator.DefaultRecordBatchBuilder, producer_module.DefaultRecordBatchBuilder = (
            saved
        )

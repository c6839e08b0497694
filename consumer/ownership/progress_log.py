"""The progress topic: each partition's resume point, written as work finishes, read on takeover.

One record per source partition and consumer group (keyed so that compaction
keeps the newest), on the progress partition of the same number (modulo the
progress topic's partition count). The owner writes the partitions whose
progress moved every ``LEADSYNC_PROGRESS_INTERVAL_MS`` (100 ms by default) and
once more before it lets a partition go; a new owner reads the newest record of
each partition it takes over before it takes any of its records.

Why a topic and not commit metadata (Parallel Consumer's choice): it works on any
Kafka-compatible broker, the test broker included (Tansu drops commit metadata,
so the property could not be proven here); it is not bounded by the broker's
``offset.metadata.max.bytes`` (4 KiB by default); and it is written within 100 ms
of an event finishing, independently of the commit interval. What it costs: a
topic to create, and one small record per changed partition per flush.

A failed write is logged and retried at the next flush: the commit does not
wait for it, and a lost record only means the next owner sends again what it
would have skipped. A read that does not finish within ``LOAD_TIMEOUT_S`` goes on
without: the same fallback, never a stall.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from consumer.errors import SettingsError
from consumer.kafka.failures import KAFKA_ERRORS, describe
from consumer.ownership.owned_partition import Partition
from consumer.ownership.partition_table import PartitionTable, names
from consumer.ownership.resume_point import ResumePoint, decode, encode, newer

log = logging.getLogger(__name__)

TAIL_RECORDS: Final = 20_000
"""Records read back from each progress partition's end on a takeover. Compaction
keeps far fewer; without it (the test broker) a record older than this is not found,
and the new owner sends again what it would have skipped."""
LOAD_TIMEOUT_S: Final = 10.0
WRITE_TIMEOUT_S: Final = 10.0
POLL_MS: Final = 100


class ProgressObserver(Protocol):
    """Telemetry's hooks (``consumer.observability.telemetry``)."""

    def progress_written(self, duration_s: float, size_bytes: int, omitted: int) -> None: ...
    def progress_write_failed(self) -> None: ...


async def open_reader(reader: AIOKafkaConsumer, topic: str) -> int:
    """Start ``reader`` (a consumer without a group) and return ``topic``'s partition
    count; ``SettingsError`` naming the variable when the topic does not exist."""
    await asyncio.wait_for(reader.start(), timeout=LOAD_TIMEOUT_S)
    partitions = (await asyncio.wait_for(reader.topics(), timeout=LOAD_TIMEOUT_S)) and (
        reader.partitions_for_topic(topic)
    )
    if not partitions:
        raise SettingsError(
            f"LEADSYNC_PROGRESS_TOPIC: topic {topic!r} does not exist: create it "
            "(`leadsync topics create` does; compacted, as many partitions as the source "
            "topic) or set "
            "LEADSYNC_PROGRESS=false to run without it (every handover then sends again "
            "what finished above its commit)"
        )
    return len(partitions)


class ProgressLog:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        reader: AIOKafkaConsumer,
        *,
        topic: str,
        group: str,
        partitions: int,
        max_bytes: int,
        generation: Callable[[], int],
        observer: ProgressObserver,
        committed: Callable[[TopicPartition], Awaitable[int | None]],
    ) -> None:
        """``reader``: a started consumer without a group; ``partitions``: the progress
        topic's partition count; ``generation``: the group generation now;
        ``committed``: the group's committed offset of a source partition now."""
        self._producer = producer
        self._reader = reader
        self.topic = topic
        self._group = group
        self._partitions = max(1, partitions)
        self._max_bytes = max_bytes
        self._generation = generation
        self._observer = observer
        self._committed = committed

    def _home(self, tp: TopicPartition) -> TopicPartition:
        return TopicPartition(self.topic, tp.partition % self._partitions)

    # -- reading on takeover -----------------------------------------------------

    async def load(self, partitions: Sequence[Partition]) -> None:
        """Give each partition the newest resume point an earlier owner left, then mark it
        loaded (also when there is none, or the read failed: it then resumes as before)."""
        try:
            found = await asyncio.wait_for(self._read(partitions), timeout=LOAD_TIMEOUT_S)
        except (*KAFKA_ERRORS, AssertionError) as exc:
            log.warning(
                "could not read %s for %s (%s): taking them over without their progress; "
                "events finished above their commits are sent again",
                self.topic,
                names(p.tp for p in partitions),
                describe(exc),
            )
            found = {}
        for partition in partitions:
            point = found.get(partition.tp)
            if point is not None and not point.applies_after(await self._commit_of(partition)):
                log.warning(
                    "%s[%d]: ignoring the progress record (written at commit %d): the "
                    "group's offsets were reset behind it, so its events are read again",
                    partition.tp.topic,
                    partition.tp.partition,
                    point.committed,
                )
                point = None
            partition.resumed_from = point
            partition.loaded = True
            if point is not None:
                log.info(
                    "%s[%d]: resuming after the earlier owner's progress (done below %d, "
                    "%d finished above; generation %d)",
                    partition.tp.topic,
                    partition.tp.partition,
                    point.done_below,
                    len(point.finished),
                    point.generation,
                )

    async def _commit_of(self, partition: Partition) -> int | None:
        try:
            return await asyncio.wait_for(self._committed(partition.tp), LOAD_TIMEOUT_S)
        except (*KAFKA_ERRORS, AssertionError):
            return None  # unknown: the record is not trusted

    async def _read(self, partitions: Sequence[Partition]) -> dict[TopicPartition, ResumePoint]:
        wanted = {p.tp: p for p in partitions}
        homes = sorted({self._home(tp) for tp in wanted}, key=lambda tp: tp.partition)
        reader = self._reader
        reader.assign(homes)
        begins = await reader.beginning_offsets(homes)
        ends = await reader.end_offsets(homes)
        for home in homes:
            reader.seek(home, max(begins[home], ends[home] - TAIL_RECORDS))
        best: dict[TopicPartition, ResumePoint] = {}
        while not await self._read_to_end(homes):
            batch = await reader.getmany(*homes, timeout_ms=POLL_MS)
            for records in batch.values():
                for record in records:
                    point = decode(record.value) if record.value else None
                    if point is None or point.group != self._group:
                        continue
                    tp = TopicPartition(point.topic, point.partition)
                    if tp in wanted and newer(best.get(tp), point):
                        best[tp] = point
        return best

    async def _read_to_end(self, homes: Iterable[TopicPartition]) -> bool:
        """Every home partition read up to the end its last fetch reported."""
        for home in homes:
            end = self._reader.highwater(home)
            if end is None or await self._reader.position(home) < end:
                return False
        return True

    # -- writing as work finishes ---------------------------------------------------

    async def run(self, table: PartitionTable, interval_s: float) -> None:
        """For the service's life: persist every partition whose progress moved."""
        while True:
            await asyncio.sleep(interval_s)
            moved = [p for p in table if p.loaded and p.changes != p.written]
            if moved:
                await self.write(moved)

    async def write(self, partitions: Iterable[Partition]) -> bool:
        """Persist these partitions' resume points; True once the broker acknowledged all."""
        generation = self._generation()
        began = time.monotonic()
        sent = []
        acks: list[asyncio.Future[object]] = []
        try:
            for partition in partitions:
                point = partition.resume_point(self._group, generation)
                if point is None:
                    continue
                value, omitted = encode(point, self._max_bytes)
                home = self._home(partition.tp).partition
                acks.append(
                    await self._producer.send(
                        self.topic, value=value, key=point.key, partition=home
                    )
                )
                sent.append((partition, partition.changes, len(value), omitted))
            await asyncio.wait_for(asyncio.gather(*acks), timeout=WRITE_TIMEOUT_S)
        except KAFKA_ERRORS as exc:
            self._observer.progress_write_failed()
            log.warning("could not write progress to %s (%s); retrying", self.topic, describe(exc))
            return False
        elapsed = time.monotonic() - began
        for partition, changes, size, omitted in sent:
            partition.written = changes
            self._observer.progress_written(elapsed, size, omitted)
        return True

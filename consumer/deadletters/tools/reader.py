"""Reading a topic as it stood when the read began: the DLQ, the source topic, one record.

A read stops at each partition's high watermark as the first fetch reported
it, so records appended meanwhile (a replay that fails again lands back in the
DLQ) are not read in the same run. The watermark comes from fetch responses,
not ``end_offsets()``: the Tansu test broker answers ListOffsets with the last
batch's base offset + 1, and fetch responses are right on every broker.
Readers have no consumer group: nothing they do can move a committed offset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumer.deadletters.tools.filters import Selection
from consumer.deadletters.tools.letters import DeadLetter, dead_letter_of
from consumer.deadletters.tools.progress import Progress, Silent
from consumer.errors import DlqError
from consumer.kafka import lenient_records
from consumer.kafka.clients import STOP_TIMEOUT_S, connection_options, stop_bounded
from consumer.settings import Settings

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"

START_TIMEOUT_S = 30.0
STALL_TIMEOUT_S = 30.0
POLL_MS = 50
FETCH_WAIT_MS = 50
FETCH_BYTES_PER_PARTITION = 4 * 1024 * 1024


async def scan(
    settings: Settings,
    topic: str,
    visit: Callable[[Record], None],
    *,
    partitions: Collection[int] | None = None,
    starts: Mapping[int, int] | None = None,
    first: int | None = None,
    stop: int | None = None,
    progress: Progress | None = None,
    label: str = "reading",
) -> dict[int, int]:
    """Call ``visit`` for every record, in offset order per partition, of ``partitions``
    (default: all) from ``starts[partition]``, else ``first``, else the beginning, up to
    the snapshot end or ``stop`` (exclusive), whichever comes first.

    Returns the end offset each partition was read to.
    """
    progress = progress or Silent()
    starts = starts or {}
    consumer = await _started(
        AIOKafkaConsumer(
            **connection_options(settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=FETCH_BYTES_PER_PARTITION,
            # An empty or fully read partition answers only after this wait; the
            # read ends once every partition answered, so keep it short.
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
    )
    try:
        tps = await _assign(consumer, topic, partitions)
        for partition, tp in tps.items():
            start = starts.get(partition, first)
            if start is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        firsts = {partition: await consumer.position(tp) for partition, tp in tps.items()}
        progress.start(label, None if tps else 0)
        ends = await _read(consumer, tps, firsts, stop=stop, visit=visit, progress=progress)
        progress.finish()
        return ends
    finally:
        await stop_bounded(consumer, STOP_TIMEOUT_S)


async def fetch_one(settings: Settings, topic: str, partition: int, offset: int) -> Record | None:
    """The record at ``partition``:``offset``, or None when there is none (yet, or any more)."""
    found: list[Record] = []

    def keep(record: Record) -> None:
        if record.offset == offset:
            found.append(record)

    await scan(settings, topic, keep, partitions=[partition], first=offset, stop=offset + 1)
    return found[0] if found else None


async def committed_offsets(
    settings: Settings, topic: str, partitions: Collection[int]
) -> dict[int, int | None]:
    """The service group's committed offsets (read only: this consumer never joins the group).

    Read through a consumer because the Tansu test broker's OffsetFetch reply is
    one aiokafka's admin client cannot decode.
    """
    consumer = await _started(
        AIOKafkaConsumer(
            **connection_options(settings), group_id=settings.group_id, enable_auto_commit=False
        )
    )
    try:
        return {
            partition: await asyncio.wait_for(
                consumer.committed(TopicPartition(topic, partition)), timeout=START_TIMEOUT_S
            )
            for partition in partitions
        }
    finally:
        await stop_bounded(consumer, STOP_TIMEOUT_S)


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()  # refreshes metadata; partitions_for_topic only reads the cache
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise DlqError(f"topic {topic!r} does not exist")
    return set(partitions)


async def _started(consumer: AIOKafkaConsumer) -> AIOKafkaConsumer:
    lenient_records.install()  # the source topic may hold a header name that is not UTF-8
    try:
        await asyncio.wait_for(consumer.start(), timeout=START_TIMEOUT_S)
    except BaseException:
        await stop_bounded(consumer, STOP_TIMEOUT_S)
        raise
    return consumer


async def _assign(
    consumer: AIOKafkaConsumer, topic: str, partitions: Collection[int] | None
) -> dict[int, TopicPartition]:
    available = await topic_partitions(consumer, topic)
    wanted = available if partitions is None else set(partitions)
    missing = sorted(wanted - available)
    if missing:
        raise DlqError(f"topic {topic!r} has no partition {missing[0]} (it has {len(available)})")
    tps = {partition: TopicPartition(topic, partition) for partition in sorted(wanted)}
    consumer.assign(list(tps.values()))
    return tps


async def _read(
    consumer: AIOKafkaConsumer,
    tps: dict[int, TopicPartition],
    firsts: Mapping[int, int],
    *,
    stop: int | None,
    visit: Callable[[Record], None],
    progress: Progress,
) -> dict[int, int]:
    loop = asyncio.get_running_loop()
    ends: dict[int, int] = {}
    remaining = set(tps)
    heard_at = loop.time()
    while remaining:
        batch: dict[TopicPartition, list[Record]] = await consumer.getmany(timeout_ms=POLL_MS)
        for partition in remaining - ends.keys():
            highwater = consumer.highwater(tps[partition])
            if highwater is not None:
                ends[partition] = highwater if stop is None else min(highwater, stop)
                heard_at = loop.time()
                if len(ends) == len(tps):
                    progress.total(sum(max(0, ends[p] - firsts[p]) for p in tps))
        for tp, records in batch.items():
            end = ends.get(tp.partition)
            # The fetch that brought records also brought the watermark; None is defensive.
            taken = [r for r in records if end is None or r.offset < end]
            for record in taken:
                visit(record)
            progress.advance(len(taken))
            heard_at = loop.time()
        for partition in sorted(remaining & ends.keys()):
            if await consumer.position(tps[partition]) >= ends[partition]:
                remaining.discard(partition)
                consumer.pause(tps[partition])
        if remaining and loop.time() - heard_at > STALL_TIMEOUT_S:
            names = ", ".join(f"{tps[p].topic}[{p}]" for p in sorted(remaining))
            raise DlqError(f"no answer for {names} in {STALL_TIMEOUT_S:.0f} s; is the broker up?")
    return ends


async def read_letters(
    settings: Settings,
    visit: Callable[[DeadLetter], None],
    *,
    within: Selection | None = None,
    progress: Progress | None = None,
) -> None:
    """Every dead letter of the DLQ to ``visit``; ``within`` narrows the read to its DLQ
    partitions and offset range (the other filters are the caller's)."""
    within = within or Selection()

    def convert(r: Record) -> None:
        visit(dead_letter_of(r.partition, r.offset, r.key, r.value, r.headers))

    await scan(
        settings,
        settings.dead_letter_topic,
        convert,
        partitions=within.dlq_partitions or None,
        first=within.from_offset,
        stop=None if within.to_offset is None else within.to_offset + 1,
        progress=progress,
        label=f"reading {settings.dead_letter_topic}",
    )

"""The intake loop: poll the consumer, take each record into its lead's lane.

One task calls ``getmany`` for the life of the service. Before each poll it
pauses what must wait (``backpressure``: memory and re-sends bounded; an open
breaker; a new owner's handover wait) and keeps polling, so the consumer stays
in its group. Each record taken becomes ready work, a skip, or a dead-letter
verdict in one step (``preparing``). A record is never skipped silently:
records fetched before a pause took effect, or for a partition fenced after a
freeze, are fetched again (a seek back) rather than dropped.

After a freeze (``consumer.ownership.freeze_watch``) this process fences itself;
if it is still a member a session later, ``resume_after_freeze`` takes the same
partitions up at their first unfinished offset, committed or not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumer.delivery.breaker import Breaker
from consumer.delivery.lanes import Lanes
from consumer.delivery.work import Ready, Work
from consumer.intake.backpressure import FlowControl
from consumer.intake.preparing import RecordPreparer
from consumer.observability.counts import Counts
from consumer.ownership.owned_partition import Partition
from consumer.ownership.partition_table import PartitionTable, names
from contracts.formats import Skip

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS: Final = 100


class Intake:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        table: PartitionTable,
        lanes: Lanes[Work],
        *,
        prepare: RecordPreparer,
        flow: FlowControl,
        breaker: Breaker,
        counts: Counts,
        source_topic: str,
        abandon: Callable[[Iterable[Partition]], None],
        load: Callable[[Sequence[Partition]], Awaitable[None]] | None = None,
        resumed: Callable[[], None] = lambda: None,
        maintenance: Callable[[], bool] = lambda: False,
    ) -> None:
        """``abandon``: end all work of partitions fenced after a freeze (the handover's);
        ``load``: read the earlier owners' progress into partitions about to be taken
        (``consumer.ownership.progress_log``); ``resumed``: counts an event skipped
        because an earlier owner finished it; ``maintenance``: True while a maintenance
        window holds every partition."""
        self._consumer = consumer
        self._table = table
        self._lanes = lanes
        self._prepare = prepare
        self.flow = flow
        self._breaker = breaker
        self._counts = counts
        self._source_topic = source_topic
        self._abandon = abandon
        self._load = load
        self._resumed = resumed
        self._maintenance = maintenance
        self._resume_at: dict[TopicPartition, int] = {}
        """Where fetching resumes if this process keeps its partitions after a freeze."""

    async def run(self, stopping: asyncio.Event) -> None:
        consumer, table, flow = self._consumer, self._table, self.flow
        while not stopping.is_set():
            # While the PBX is down or a maintenance window is open, the backlog waits
            # in Kafka, not in memory; a new owner waits out the handover before it
            # takes anything.
            now = time.monotonic()
            owned = {partition.tp: partition for partition in table}
            if self._load is not None:
                # Before a partition's first record: what its earlier owners finished.
                due = [p for p in owned.values() if not p.loaded and p.handed_over(now)]
                if due:
                    await self._load(due)
            window = self._maintenance()
            flow.held = {
                tp
                for tp, partition in owned.items()
                if window
                or self._breaker.is_open
                or not partition.handed_over(now)
                or not partition.loaded
            }
            room = flow.apply(consumer, owned, table)
            batch = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=max(1, room))
            now = time.monotonic()
            for tp, records in batch.items():
                partition = table.get(tp)
                if partition is None:
                    # Not ours to take now (fenced after a freeze): never skipped, so
                    # fetched again if the partition is kept.
                    if records and tp in consumer.assignment():
                        consumer.seek(tp, records[0].offset)
                    continue
                for record in records:
                    if not partition.taking:
                        break
                    if window or not (
                        partition.handed_over(now) and partition.loaded and flow.may_take(table, tp)
                    ):
                        # Fetched before the pause took effect: fetched again on resume.
                        consumer.seek(tp, record.offset)
                        break
                    self._take(partition, record)

    def _take(self, partition: Partition, record: ConsumerRecord[bytes, bytes]) -> None:
        partition.take(record.offset, record.timestamp)
        self._counts.taken += 1
        if partition.already_finished(record.offset):
            # An earlier owner applied or dead-lettered it: sending it again would run a
            # disposition's actions twice.
            self._counts.resumed += 1
            self._resumed()
            self._table.done(partition, record.offset)
            return
        prepared = self._prepare(record)
        if isinstance(prepared, Ready):
            self._lanes.submit(prepared.event.lead_id, Work(partition, record, ready=prepared))
        elif isinstance(prepared, Skip):
            self._counts.skipped += 1
            self._table.done(partition, record.offset)
        else:
            # Its own lane: a record that became no event holds no lead back.
            self._lanes.submit(
                (partition.tp, record.offset), Work(partition, record, failure=prepared)
            )

    # -- after a freeze ----------------------------------------------------------

    def fence_after_freeze(self, why: str) -> None:
        """Abandon every partition (another member may own it by now), keeping where
        each would resume if it turns out to be ours still."""
        partitions = list(self._table)
        if not partitions:
            return
        log.warning(
            "%s: abandoning %s uncommitted; the group's new owners resume them",
            why,
            names(p.tp for p in partitions),
        )
        for partition in partitions:
            # The first unfinished offset, or the first not taken: nothing fetched while
            # fenced is skipped, whether or not a commit exists.
            resume = partition.first_unfinished()
            if resume is None:
                resume = partition.next_offset
            if resume is not None:
                self._resume_at[partition.tp] = resume
        self._consumer.pause(*({p.tp for p in partitions} & self._consumer.assignment()))
        self._abandon(partitions)
        self._table.release_all()
        self.flow.reset()

    def resume_after_freeze(self) -> list[TopicPartition]:
        """Still a member a session after the fence: seek each partition kept to where it
        stopped and resume it; returns them (to be assigned again)."""
        owned = [tp for tp in self._consumer.assignment() if tp.topic == self._source_topic]
        resume, self._resume_at = self._resume_at, {}
        for tp in owned:
            if tp in resume:
                self._consumer.seek(tp, resume[tp])
        if owned:
            self._consumer.resume(*owned)
        return owned

    def new_generation(self) -> None:
        """A rebalance assigned partitions: they resume from the commits, not from here."""
        self._resume_at.clear()
        self.flow.reset()

    # -- reading -------------------------------------------------------------------

    def lag(self) -> dict[TopicPartition, int]:
        """Per owned partition: records from the first unfinished one to the end.

        Partitions whose end or position is not known yet (nothing fetched since
        the assignment) are left out rather than reported as 0.
        """
        lags = {}
        for partition in self._table:
            end = self._consumer.highwater(partition.tp)
            first = partition.first_unfinished()
            position = first if first is not None else partition.next_offset
            if end is not None and position is not None:
                lags[partition.tp] = max(0, end - position)
        return lags

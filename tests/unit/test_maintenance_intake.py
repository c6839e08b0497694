"""A maintenance window holds intake: every partition pauses while polling goes on, records
fetched before the pause are fetched again rather than taken, and all is taken after the
window. The schedule logs each opening and closing once."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumer.delivery.breaker import Breaker
from consumer.delivery.lanes import Lanes
from consumer.delivery.work import Work
from consumer.intake.backpressure import FlowControl
from consumer.intake.loop import Intake
from consumer.intake.pause_schedule import PauseSchedule
from consumer.intake.preparing import RecordPreparer
from consumer.observability.counts import Counts
from consumer.ownership.partition_table import PartitionTable
from consumer.pause_windows import parse_pause_windows
from contracts.events import EXAMPLE_EVENT
from contracts.formats import DecoderConfig
from contracts.request import RequestDefaults
from tests.telemetry_helpers import record

TOPIC = "lead-changes"
TPS = (TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1))
PER_PARTITION = 5


def records(tp: TopicPartition) -> list[ConsumerRecord[bytes, bytes]]:
    values = [
        json.dumps({**EXAMPLE_EVENT, "lead_id": f"L{tp.partition}-{n}", "event_id": str(n)})
        for n in range(PER_PARTITION)
    ]
    return [
        record(offset=n, partition=tp.partition, key=None, value=v.encode(), headers=())
        for n, v in enumerate(values)
    ]


class Consumer:
    """Just enough of ``AIOKafkaConsumer``: fetches what is not paused, from its position."""

    def __init__(self, polls: int, stopping: asyncio.Event) -> None:
        self.log = {tp: records(tp) for tp in TPS}
        self.position = dict.fromkeys(TPS, 0)
        self.paused: set[TopicPartition] = set()
        self.deliver_paused_once = False
        """One fetch answered after a pause took effect (its records arrive anyway)."""
        self.polls = 0
        self._budget = polls
        self._stopping = stopping

    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        await asyncio.sleep(0)
        self.polls += 1
        if self.polls >= self._budget:
            self._stopping.set()
        stale, self.deliver_paused_once = self.deliver_paused_once, False
        batch = {}
        for tp in TPS:
            if tp in self.paused and not stale:
                continue
            batch[tp] = self.log[tp][self.position[tp] :]
            self.position[tp] += len(batch[tp])
        return {tp: got for tp, got in batch.items() if got}

    def pause(self, *tps: TopicPartition) -> None:
        self.paused |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused -= set(tps)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position[tp] = offset

    def assignment(self) -> set[TopicPartition]:
        return set(TPS)

    def highwater(self, tp: TopicPartition) -> int:
        return PER_PARTITION


class Rig:
    """An intake over the fake consumer, a window flag, and what the lanes processed."""

    def __init__(self) -> None:
        self.window = True
        self.stopping = asyncio.Event()
        self.consumer = Consumer(polls=0, stopping=self.stopping)
        self.table = PartitionTable()
        self.table.assign(TPS)
        self.processed: list[tuple[int, int]] = []
        self.counts = Counts()
        self.lanes: Lanes[Work] = Lanes(self._process)
        defaults = RequestDefaults(
            template_id=1,
            campaign_id=2,
            allocation_id=3,
            timezone=ZoneInfo("UTC"),
            phone_fields=("FirstPhone",),
        )
        decoder = DecoderConfig("auto", frozenset({"lead.changed"}), None)
        self.intake = Intake(
            self.consumer,
            self.table,
            self.lanes,
            prepare=RecordPreparer(decoder, defaults),
            flow=FlowControl(max_in_flight=100, max_ahead=100),
            breaker=Breaker(),
            counts=self.counts,
            source_topic=TOPIC,
            abandon=lambda partitions: None,
            maintenance=lambda: self.window,
        )

    async def _process(self, work: Work, waiting: deque[Work]) -> None:
        self.processed.append((work.record.partition, work.offset))
        self.table.done(work.partition, work.offset)  # type: ignore[arg-type]

    async def polls(self, count: int) -> None:
        self.stopping.clear()
        self.consumer.polls, self.consumer._budget = 0, count
        await self.intake.run(self.stopping)
        await self.lanes.wait_idle()


async def test_a_window_pauses_every_partition_and_takes_nothing_until_it_closes() -> None:
    rig = Rig()
    await rig.polls(3)
    assert rig.consumer.paused == set(TPS)
    assert rig.counts.taken == 0
    assert rig.processed == []

    rig.window = False
    await rig.polls(3)
    assert rig.consumer.paused == set()
    assert rig.counts.taken == 2 * PER_PARTITION
    assert sorted(rig.processed) == [(tp.partition, n) for tp in TPS for n in range(PER_PARTITION)]


async def test_records_fetched_as_a_window_opens_are_fetched_again_not_taken() -> None:
    rig = Rig()
    rig.consumer.deliver_paused_once = True  # the fetch was under way when the pause came
    await rig.polls(2)
    assert rig.counts.taken == 0
    assert rig.consumer.position == dict.fromkeys(TPS, 0)  # sought back to the first record

    rig.window = False
    await rig.polls(3)
    assert rig.counts.taken == 2 * PER_PARTITION


def test_the_schedule_says_when_a_window_holds_and_logs_each_change_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [datetime(2026, 11, 1, 1, 59, tzinfo=UTC)]  # a Sunday
    schedule = PauseSchedule(parse_pause_windows("Sun 02:00-04:00 UTC"), clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="consumer.intake.pause_schedule")
    assert not schedule.holds_now()
    assert not schedule.paused
    now[0] = now[0].replace(hour=2, minute=0)
    assert schedule.holds_now()
    assert schedule.holds_now()
    assert schedule.paused
    now[0] = now[0].replace(hour=4)
    assert not schedule.holds_now()
    assert not schedule.paused
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "'Sun 02:00-04:00 UTC' open" in messages[0]
    assert "'Sun 02:00-04:00 UTC' over" in messages[1]


def test_no_windows_never_hold() -> None:
    schedule = PauseSchedule(())
    assert not schedule.holds_now()
    assert not schedule.paused

"""The progress topic on the real broker: written, read back, stale records ignored, required."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest
from aiokafka import TopicPartition

from consumer.errors import EXIT_CONFIG
from consumer.kafka.clients import build_producer, build_reader, stop_bounded
from consumer.ownership.owned_partition import Partition
from consumer.ownership.progress_log import ProgressLog, open_reader
from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from consumer.service import run_service
from tests.kafka_helpers import create_topics, event_record, produce, service_topics, unique_topic
from tests.service_helpers import running_service, service_settings, wait_until


class Written:
    """ProgressLog's observer: what it reported."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.failures = 0

    def progress_written(self, duration_s: float, size_bytes: int, omitted: int) -> None:
        self.sizes.append(size_bytes)

    def progress_write_failed(self) -> None:
        self.failures += 1


def finished(tp: TopicPartition, done: list[int], taken: int) -> Partition:
    """A partition that took offsets 0..taken-1 and finished ``done`` of them."""
    partition = Partition(tp)
    for offset in range(taken):
        partition.take(offset)
    for offset in done:
        assert partition.offsets is not None
        partition.offsets.done(offset)
        partition.changes += 1
    return partition


async def test_the_newest_record_of_the_highest_generation_wins(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 2))
    settings = service_settings(kafka_broker.bootstrap, topic, "http://pbx.invalid", "k")
    producer, reader = build_producer(settings), build_reader(settings)
    await producer.start()
    partitions = await open_reader(reader, settings.resume_topic)
    try:
        generation = [5]
        commits: dict[TopicPartition, int | None] = {}

        async def committed(tp: TopicPartition) -> int | None:
            return commits.get(tp)

        observer = Written()
        log = ProgressLog(
            producer,
            reader,
            topic=settings.resume_topic,
            group=settings.group_id,
            partitions=partitions,
            max_bytes=settings.progress_max_bytes,
            generation=lambda: generation[0],
            observer=observer,
            committed=committed,
        )
        tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
        # The owner of generation 5 finished 0-2 and 5 of partition 0, 0-9 of partition 1.
        assert await log.write([finished(tp0, [0, 1, 2, 5], 8), finished(tp1, list(range(10)), 10)])
        # A fenced owner of generation 4, still flushing after the group moved on, writes
        # less: it must not hide generation 5's record.
        generation[0] = 4
        assert await log.write([finished(tp0, [0], 8)])
        fresh = [Partition(tp0, loaded=False), Partition(tp1, loaded=False)]
        await log.load(fresh)
        assert all(p.loaded for p in fresh)
        first, second = fresh
        assert [o for o in range(8) if first.already_finished(o)] == [0, 1, 2, 5]
        assert [o for o in range(12) if second.already_finished(o)] == list(range(10))
        # The same generation writing again supersedes (it is newer).
        generation[0] = 5
        assert await log.write([finished(tp0, [0, 1, 2, 3, 4, 5], 8)])
        again = [Partition(tp0, loaded=False)]
        await log.load(again)
        assert [o for o in range(8) if again[0].already_finished(o)] == [0, 1, 2, 3, 4, 5]
        # Commits never move back: a record written when the group had committed 4 does
        # not hold once an operator reset the group's offsets to 2 (to read them again).
        reprocessing = finished(tp0, [0, 1, 2, 3, 4, 5], 8)
        assert reprocessing.offsets is not None
        reprocessing.offsets.mark_committed(4)
        assert await log.write([reprocessing])
        commits[tp0] = 2
        reset = [Partition(tp0, loaded=False)]
        await log.load(reset)
        assert reset[0].loaded
        assert reset[0].resumed_from is None
        commits[tp0] = 4  # the commit as written: the record holds
        kept = [Partition(tp0, loaded=False)]
        await log.load(kept)
        assert kept[0].resumed_from is not None
        assert observer.failures == 0
        assert max(observer.sizes) < 300
    finally:
        await stop_bounded(reader, 10)
        await stop_bounded(producer, 10)


async def test_a_restarted_service_skips_what_the_last_one_finished_above_its_commit(
    kafka_broker: EmbeddedBroker,
) -> None:
    # A held call keeps partition 0's commit at offset 0 while 29 later events of other
    # leads finish; a SIGTERM drain gives up on it after a second. The next process must
    # send none of the 29 again (before the progress topic it sent them all), and only
    # the held one, which was on the wire, once more.
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 1))
    held = event_record("HELD", fields={"Seq": "0"}, phones={"FirstPhone": "1"})
    others = [
        event_record(f"L{n}", fields={"Seq": str(n)}, phones={"FirstPhone": "1"})
        for n in range(1, 30)
    ]
    await produce(kafka_broker.bootstrap, topic, [held, *others])
    key = secrets.token_hex(8)
    config = SimulatorConfig(api_key=key, threads=16, min_service_ms=1, hold_leads={"HELD": 4})
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap,
            topic,
            sim.url,
            key,
            drain_timeout_s=1,
            max_concurrency=8,
            adaptive_concurrency=False,
        )
        async with running_service(settings) as pipeline:
            await wait_until(lambda: pipeline.counts.applied >= 29, timeout_s=30, what="29")
        sim.state.update_config({"hold_leads": {}})
        async with running_service(settings) as second:
            await wait_until(lambda: second.counts.finished >= 30, timeout_s=30, what="all")
            assert second.counts.resumed == 29
            assert second.counts.applied == 1
        calls = sum(len(sim.state.calls(f"L{n}")) for n in range(1, 30))
        assert calls == 29  # not one of them sent twice
        assert len(sim.state.calls("HELD")) == 2  # on the wire at the handover: sent again


async def test_without_the_progress_topic_the_service_does_not_start(
    kafka_broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, {topic: 1, f"{topic}.dlq": 1})
    settings = service_settings(kafka_broker.bootstrap, topic, "http://pbx.invalid", "k")
    assert await asyncio.wait_for(run_service(settings, handle_signals=False), 60) == EXIT_CONFIG
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert line.startswith(f"LEADSYNC_PROGRESS_TOPIC: topic '{topic}.progress' does not exist")
    assert "leadsync topics create" in line
    off = service_settings(kafka_broker.bootstrap, topic, "http://pbx.invalid", "k", progress=False)
    async with running_service(off):  # starts and stops cleanly without it
        pass

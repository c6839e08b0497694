"""How fresh the dialler's data is: the freshness histogram, the oldest unfinished record of a
partition, the last commit, and the maintenance gauge."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest
from aiokafka import TopicPartition
from opentelemetry.sdk.metrics.export import HistogramDataPoint

from consumer.intake.committer import Committer
from consumer.observability.freshness import FRESHNESS_BUCKETS_S, age_s, partition_ages
from consumer.ownership.owned_partition import Partition
from consumer.ownership.partition_table import PartitionTable
from tests.telemetry_helpers import Recorded, recorded

TP = TopicPartition("lead-changes", 3)


def freshness_point(rec: Recorded) -> HistogramDataPoint:
    data = rec.reader.get_metrics_data()
    assert data is not None
    (point,) = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "leadsync.event.freshness"
        for point in metric.data.data_points
        if isinstance(point, HistogramDataPoint)
    ]
    return point


def test_an_applied_event_records_its_age_from_its_own_time() -> None:
    rec = recorded()
    now = time.time()
    rec.telemetry.event_applied(now - 40.0)  # 40 s after it happened: the (30, 60] bucket
    rec.telemetry.event_applied(now + 5.0)  # a clock ahead of ours: counts as 0
    rec.telemetry.event_applied()  # no time given: counted as applied, not as an age
    point = freshness_point(rec)
    assert point.count == 2
    assert tuple(point.explicit_bounds) == FRESHNESS_BUCKETS_S
    assert point.bucket_counts[FRESHNESS_BUCKETS_S.index(60.0)] == 1
    assert point.bucket_counts[0] == 1
    assert point.sum == pytest.approx(40.0, abs=1.0)
    assert sum(rec.values("leadsync.events").values()) == 3


def test_ages_never_go_negative() -> None:
    assert age_s(100.0, 160.5) == 60.5
    assert age_s(100.0, 90.0) == 0.0


def test_partition_ages_are_zero_where_nothing_is_unfinished() -> None:
    ages = {
        (point.attributes or {})["partition"]: point.value
        for point in partition_ages({("t", 0): 1_000_000, ("t", 1): None}, now_s=1_060.0)
    }
    assert ages == {"0": 60.0, "1": 0.0}


def test_a_partition_knows_the_timestamp_of_its_first_unfinished_record() -> None:
    table = PartitionTable()
    (partition,) = table.assign([TP])
    assert partition.oldest_unfinished_timestamp() is None
    for offset in range(5):
        partition.take(offset, 1_000 + offset)
    assert partition.oldest_unfinished_timestamp() == 1_000
    table.done(partition, 1)  # finished out of order: 0 still holds the commit back
    table.done(partition, 2)
    assert partition.oldest_unfinished_timestamp() == 1_000
    table.done(partition, 0)
    assert partition.oldest_unfinished_timestamp() == 1_003
    table.done(partition, 3)
    table.done(partition, 4)
    assert partition.oldest_unfinished_timestamp() is None


def test_a_record_without_a_timestamp_has_none_and_the_deque_stays_short() -> None:
    partition = Partition(TP)
    partition.take(7, -1)  # Kafka's "no timestamp"
    assert partition.oldest_unfinished_timestamp() is None
    assert partition.offsets is not None
    for offset in range(8, 5_000):
        partition.offsets.done(offset - 1)
        partition.take(offset, offset)
    # Only the unfinished record is remembered, however many went through.
    assert partition.oldest_unfinished_timestamp() == 4_999
    assert len(partition._times) == 1


class Consumer:
    def __init__(self, *, fails: bool) -> None:
        self.fails = fails

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fails:
            raise TimeoutError


async def test_the_last_commit_moves_only_when_offsets_were_stored() -> None:
    table = PartitionTable()
    (partition,) = table.assign([TP])
    partition.take(0, 0)
    consumer = Consumer(fails=True)
    committer = Committer(consumer, table, interval_s=1.0, stopped=lambda: False, timeout_s=1.0)
    started = committer.last_commit_at
    assert started == pytest.approx(time.time(), abs=5)
    assert await committer.commit()  # nothing finished: nothing to store
    assert committer.last_commit_at == started
    table.done(partition, 0)
    assert not await committer.commit()  # the broker failed
    assert committer.last_commit_at == started
    consumer.fails = False
    committer.last_commit_at = 0.0  # as if it were long ago
    assert await committer.commit()
    assert committer.last_commit_at == pytest.approx(time.time(), abs=5)


def test_the_gauges_read_ages_the_last_commit_and_the_pause() -> None:
    rec = recorded()
    stamps: Mapping[tuple[str, int], int | None] = {
        ("lead-changes", 0): int((time.time() - 90) * 1000),
        ("lead-changes", 1): None,
    }
    rec.telemetry.metrics.observe_gauges(
        oldest_unfinished=lambda: stamps, last_commit=lambda: 1_700_000_000.5, paused=lambda: 1
    )
    ages = {
        dict(k)["partition"]: v for k, v in rec.values("leadsync.oldest_unfinished.age").items()
    }
    assert ages["0"] == pytest.approx(90, abs=5)
    assert ages["1"] == 0
    assert rec.values("leadsync.last_commit.timestamp") == {frozenset(): 1_700_000_000.5}
    assert rec.values("leadsync.maintenance.paused") == {frozenset(): 1}

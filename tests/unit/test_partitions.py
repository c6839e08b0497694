"""The partition table: one partition's state, which offsets may still begin, the table."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from consumer.delivery.work import Work
from consumer.ownership.owned_partition import Partition, PartitionState
from consumer.ownership.partition_table import PartitionTable
from contracts.deadletter import Failure
from tests.telemetry_helpers import record as consumer_record

TP = TopicPartition("lead-changes", 3)
OTHER = TopicPartition("lead-changes", 4)


def test_a_new_partition_takes_and_begins_anything() -> None:
    partition = Partition(TP)
    assert partition.state is PartitionState.TAKING
    assert partition.taking
    assert partition.highest_begun == -1
    assert partition.next_offset is None
    assert partition.may_begin(0)
    assert partition.may_begin(10**9)


def test_begin_keeps_the_highest_offset_begun() -> None:
    partition = Partition(TP)
    assert partition.begin(5)
    assert partition.highest_begun == 5
    assert partition.begin(3)  # lanes finish out of offset order across leads
    assert partition.highest_begun == 5
    assert partition.begin(9)
    assert partition.highest_begun == 9


def test_draining_lets_only_offsets_up_to_the_highest_begun_start() -> None:
    partition = Partition(TP)
    partition.begin(10)
    partition.drain()
    assert partition.state is PartitionState.DRAINING
    assert not partition.taking
    assert partition.may_begin(4)  # an earlier event must finish for the commit to cover 10
    assert partition.may_begin(10)
    assert not partition.may_begin(11)  # left for the next owner
    assert partition.begin(7)
    assert not partition.begin(11)
    assert partition.highest_begun == 10  # a refused begin claims nothing


def test_draining_before_anything_began_lets_nothing_start() -> None:
    partition = Partition(TP)
    partition.drain()
    assert not partition.may_begin(0)
    assert not partition.begin(0)
    assert partition.highest_begun == -1


def test_a_fence_ends_everything_even_below_the_highest_begun() -> None:
    partition = Partition(TP)
    partition.begin(10)
    assert partition.fence()
    assert not partition.fence()  # once
    assert partition.state is PartitionState.FENCED
    assert partition.stop.is_set()
    assert not partition.may_begin(3)
    assert not partition.begin(3)
    partition.drain()  # a later drain does not reopen it
    assert partition.state is PartitionState.FENCED
    assert partition.highest_begun == 10


def test_a_process_that_may_have_lost_its_membership_begins_nothing() -> None:
    alive = [True]
    partition = Partition(TP, alive=lambda: alive[0])
    assert partition.begin(1)
    alive[0] = False
    assert not partition.begin(2)


def test_sending_counts_the_block_as_on_the_wire() -> None:
    partition = Partition(TP)
    with partition.sending():
        with partition.sending():
            assert partition.on_the_wire == 2
        assert partition.on_the_wire == 1
    assert partition.on_the_wire == 0


@given(
    begun=st.lists(st.integers(min_value=0, max_value=1000), max_size=20),
    later=st.integers(min_value=0, max_value=1000),
)
def test_a_drain_admits_exactly_the_offsets_at_or_below_the_highest_begun(
    begun: list[int], later: int
) -> None:
    partition = Partition(TP)
    for offset in begun:
        assert partition.begin(offset)
    partition.drain()
    highest = max(begun, default=-1)
    assert partition.highest_begun == highest
    assert partition.begin(later) == (later <= highest)
    assert partition.highest_begun == highest


def test_assignments_of_the_same_partition_are_distinct_and_the_old_one_is_released() -> None:
    # Work taken under an earlier assignment must never count under a later one.
    table = PartitionTable()
    [first] = table.assign([TP])
    first.take(0)
    [second] = table.assign([TP])
    assert first is not second
    assert first.state is PartitionState.RELEASED
    assert first.stop.is_set()
    assert second.taking
    table.done(first, 0)  # work of the old assignment marks nothing
    assert second.first_unfinished() is None
    assert table.commit_offsets() == {}


def test_the_table_keeps_offsets_per_partition_and_commits_only_what_moved() -> None:
    table = PartitionTable()
    tp, other = table.assign([TP, OTHER])
    tp.take(0)
    other.take(100)
    other.take(101)
    assert table.pending_total == 3
    table.done(other, 101)
    assert table.ahead(OTHER) == 1
    assert table.pending(OTHER) == 1
    assert other.first_unfinished() == 100
    assert table.commit_offsets() == {}
    table.done(tp, 0)
    assert table.commit_offsets() == {TP: 1}  # only what changed
    table.done(other, 100)
    assert table.commit_offsets() == {TP: 1, OTHER: 102}
    table.mark_committed({TP: 1})
    assert table.commit_offsets() == {OTHER: 102}
    assert tp.next_offset == 1


def test_release_forgets_only_the_current_assignment() -> None:
    table = PartitionTable()
    [old] = table.assign([TP])
    [new] = table.assign([TP])
    assert not table.release(old)
    assert TP in table
    assert table.release(new)
    assert TP not in table
    assert new.state is PartitionState.RELEASED
    table.mark_committed({TP: 5})  # released meanwhile: ignored


def test_work_carries_the_record_offset() -> None:
    record = consumer_record(offset=17, partition=TP.partition, topic=TP.topic)
    work = Work(Partition(TP), record, failure=Failure("INVALID_EVENT", "not JSON"))
    assert work.offset == 17
    assert isinstance(work.offset, int)
    with pytest.raises(ValueError, match="offset 17 became no event"):
        _ = work.event

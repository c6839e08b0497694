"""One partition's assignment: which offsets may still begin, and what a drain waits for."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from consumer.ownership.partitions import Assignment, Work
from contracts.deadletter import Failure
from tests.telemetry_helpers import record as consumer_record

TP = TopicPartition("lead-changes", 3)


def test_a_new_assignment_takes_and_begins_anything() -> None:
    assignment = Assignment(TP)
    assert assignment.taking
    assert assignment.highest_begun == -1
    assert assignment.next_offset is None
    assert assignment.may_begin(0)
    assert assignment.may_begin(10**9)


def test_begin_keeps_the_highest_offset_begun() -> None:
    assignment = Assignment(TP)
    assert assignment.begin(5)
    assert assignment.highest_begun == 5
    assert assignment.begin(3)  # lanes finish out of offset order across leads
    assert assignment.highest_begun == 5
    assert assignment.begin(9)
    assert assignment.highest_begun == 9


def test_draining_lets_only_offsets_up_to_the_highest_begun_start() -> None:
    assignment = Assignment(TP)
    assignment.begin(10)
    assignment.draining = True
    assert not assignment.taking
    assert assignment.may_begin(4)  # an earlier event must finish for the commit to cover 10
    assert assignment.may_begin(10)
    assert not assignment.may_begin(11)  # left for the next owner
    assert assignment.begin(7)
    assert not assignment.begin(11)
    assert assignment.highest_begun == 10  # a refused begin claims nothing


def test_draining_before_anything_began_lets_nothing_start() -> None:
    assignment = Assignment(TP)
    assignment.draining = True
    assert not assignment.may_begin(0)
    assert not assignment.begin(0)
    assert assignment.highest_begun == -1


def test_stop_ends_everything_even_below_the_highest_begun() -> None:
    assignment = Assignment(TP)
    assignment.begin(10)
    assignment.stop.set()
    assert not assignment.taking
    assert not assignment.may_begin(3)
    assert not assignment.begin(3)
    assignment.draining = True
    assert not assignment.may_begin(3)
    assert assignment.highest_begun == 10


def test_assignments_of_the_same_partition_are_distinct() -> None:
    # Work taken under an earlier assignment must never count under a later one.
    first, second = Assignment(TP), Assignment(TP)
    assert first != second
    assert len({first, second}) == 2
    first.stop.set()
    assert second.taking


@given(
    begun=st.lists(st.integers(min_value=0, max_value=1000), max_size=20),
    later=st.integers(min_value=0, max_value=1000),
)
def test_a_drain_admits_exactly_the_offsets_at_or_below_the_highest_begun(
    begun: list[int], later: int
) -> None:
    assignment = Assignment(TP)
    for offset in begun:
        assert assignment.begin(offset)
    assignment.draining = True
    highest = max(begun, default=-1)
    assert assignment.highest_begun == highest
    assert assignment.begin(later) == (later <= highest)
    assert assignment.highest_begun == highest


def test_work_carries_the_record_offset() -> None:
    record = consumer_record(offset=17, partition=TP.partition, topic=TP.topic)
    work = Work(Assignment(TP), record, failure=Failure("INVALID_EVENT", "not JSON"))
    assert work.offset == 17
    assert isinstance(work.offset, int)
    with pytest.raises(ValueError, match="offset 17 became no event"):
        _ = work.event

"""Back-pressure: the pure pause table, and how FlowControl carries it out on a consumer."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from aiokafka import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.intake.backpressure import FlowControl, FlowDecision, decide, may_take
from consumer.ownership.offsets import PartitionOffsets
from consumer.ownership.owned_partition import Partition

P0 = TopicPartition("lead-changes", 0)
P1 = TopicPartition("lead-changes", 1)
P2 = TopicPartition("lead-changes", 2)
ALL = frozenset({P0, P1, P2})


@pytest.mark.parametrize(
    ("pending", "was_all_paused", "all_paused", "room"),
    [
        (0, False, False, 10),
        (9, False, False, 1),
        (10, False, True, 0),  # the bound itself pauses everything
        (14, False, True, 0),  # room never goes negative
        (10, True, True, 0),
        (6, True, True, 4),  # still above half: stays paused (hysteresis)
        (5, True, False, 5),  # at half: resumes
        (0, True, False, 10),
        (6, False, False, 4),  # the same pending level without a prior pause takes records
    ],
)
def test_all_partitions_pause_at_the_bound_and_resume_at_half(
    pending: int, was_all_paused: bool, all_paused: bool, room: int
) -> None:
    decision = decide(
        max_in_flight=10,
        max_ahead=100,
        pending=pending,
        uncommitted={},
        assigned=ALL,
        all_paused=was_all_paused,
    )
    assert decision == FlowDecision(all_paused, ALL if all_paused else frozenset(), room)


@pytest.mark.parametrize(
    ("uncommitted", "held", "paused"),
    [
        ({}, frozenset(), frozenset()),
        ({P0: 4}, frozenset(), frozenset()),
        ({P0: 5}, frozenset(), frozenset({P0})),  # max_ahead itself pauses
        ({P0: 7, P1: 5, P2: 4}, frozenset(), frozenset({P0, P1})),
        ({}, frozenset({P2}), frozenset({P2})),  # held for another reason (a breaker)
        ({P0: 9}, frozenset({P2}), frozenset({P0, P2})),
    ],
)
def test_single_partitions_pause_when_too_far_ahead_or_held(
    uncommitted: Mapping[TopicPartition, int],
    held: frozenset[TopicPartition],
    paused: frozenset[TopicPartition],
) -> None:
    decision = decide(
        max_in_flight=10,
        max_ahead=5,
        pending=1,
        uncommitted=uncommitted,
        assigned=ALL,
        all_paused=False,
        held=held,
    )
    assert decision == FlowDecision(False, paused, 9)


def test_only_assigned_partitions_are_paused() -> None:
    stray = TopicPartition("lead-changes", 9)
    decision = decide(
        max_in_flight=10,
        max_ahead=5,
        pending=1,
        uncommitted={stray: 50},
        assigned={P0},
        all_paused=False,
        held={stray},
    )
    assert decision.paused == frozenset()
    everything = decide(
        max_in_flight=10, max_ahead=5, pending=10, uncommitted={}, assigned={P0}, all_paused=False
    )
    assert everything.paused == frozenset({P0})


class RecordingConsumer:
    """The consumer methods FlowControl uses, recording each change in order."""

    def __init__(self, assigned: frozenset[TopicPartition] = ALL) -> None:
        self.calls: list[tuple[str, object]] = []
        self.assigned = assigned

    def assignment(self) -> frozenset[TopicPartition]:
        return self.assigned

    def pause(self, *partitions: TopicPartition) -> None:
        self.calls.append(("pause", frozenset(partitions)))

    def resume(self, *partitions: TopicPartition) -> None:
        self.calls.append(("resume", frozenset(partitions)))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.calls.append(("seek", (partition, offset)))


class Tracker:
    def __init__(self) -> None:
        self.pending_total = 0
        self.ahead_of: dict[TopicPartition, int] = {}
        self.pending_of: dict[TopicPartition, int] = {}

    def ahead(self, key: TopicPartition) -> int:
        return self.ahead_of.get(key, 0)

    def pending(self, key: TopicPartition) -> int:
        return self.pending_of.get(key, 0)


def assignments(*tps: TopicPartition) -> dict[TopicPartition, Partition]:
    return {tp: Partition(tp) for tp in tps}


def test_apply_pauses_only_partitions_not_already_paused() -> None:
    flow = FlowControl(max_in_flight=10, max_ahead=5)
    consumer, tracker = RecordingConsumer(), Tracker()
    held = assignments(P0, P1, P2)

    tracker.ahead_of = {P0: 5}
    assert flow.apply(consumer, held, tracker) == 10
    assert consumer.calls == [("pause", frozenset({P0}))]
    assert flow.paused == frozenset({P0})

    consumer.calls.clear()
    assert flow.apply(consumer, held, tracker) == 10
    assert consumer.calls == []  # nothing changed: no calls at all

    tracker.pending_total = 10  # everything pauses; P0 already was
    assert flow.apply(consumer, held, tracker) == 0
    assert consumer.calls == [("pause", frozenset({P1, P2}))]
    assert flow.paused == ALL


def test_apply_resumes_with_a_seek_to_the_next_offset_not_taken() -> None:
    flow = FlowControl(max_in_flight=10, max_ahead=5)
    consumer, tracker = RecordingConsumer(), Tracker()
    held = assignments(P0, P1, P2)
    held[P0].next_offset = 42
    held[P1].next_offset = 7
    # P2 took nothing yet: nothing was fetched past a position to seek back to.

    tracker.pending_total = 10
    flow.apply(consumer, held, tracker)
    consumer.calls.clear()

    tracker.pending_total = 6  # above half: hysteresis holds the pause
    flow.apply(consumer, held, tracker)
    assert consumer.calls == []

    tracker.pending_total = 5
    assert flow.apply(consumer, held, tracker) == 5
    seeks = [call for call in consumer.calls if call[0] == "seek"]
    assert sorted(seeks, key=str) == sorted([("seek", (P0, 42)), ("seek", (P1, 7))], key=str)
    assert consumer.calls[-1] == ("resume", ALL)  # seeks first, so no stale fetch slips in
    assert flow.paused == frozenset()


def test_apply_resumes_a_partition_once_it_is_no_longer_held() -> None:
    flow = FlowControl(max_in_flight=10, max_ahead=5)
    consumer, tracker = RecordingConsumer(), Tracker()
    held = assignments(P0, P1)
    held[P1].next_offset = 3
    flow.held.add(P1)
    flow.apply(consumer, held, tracker)
    assert consumer.calls == [("pause", frozenset({P1}))]
    consumer.calls.clear()
    flow.held.discard(P1)
    flow.apply(consumer, held, tracker)
    assert consumer.calls == [("seek", (P1, 3)), ("resume", frozenset({P1}))]


def test_apply_never_resumes_a_partition_no_longer_assigned() -> None:
    flow = FlowControl(max_in_flight=10, max_ahead=5)
    consumer, tracker = RecordingConsumer(), Tracker()
    tracker.ahead_of = {P0: 5, P1: 5}
    flow.apply(consumer, assignments(P0, P1), tracker)
    consumer.calls.clear()
    tracker.ahead_of = {}
    flow.apply(consumer, assignments(P0), tracker)  # P1 was revoked meanwhile
    assert consumer.calls == [("resume", frozenset({P0}))]
    assert flow.paused == frozenset()


def test_reset_forgets_pauses_so_the_next_apply_pauses_again() -> None:
    # aiokafka drops pauses on a rebalance; FlowControl must not think they still hold.
    flow = FlowControl(max_in_flight=10, max_ahead=5)
    consumer, tracker = RecordingConsumer(), Tracker()
    tracker.ahead_of = {P0: 5}
    flow.apply(consumer, assignments(P0, P1), tracker)
    flow.reset()
    assert flow.paused == frozenset()
    consumer.calls.clear()
    fresh = assignments(P0, P1)
    flow.apply(consumer, fresh, tracker)
    assert consumer.calls == [("pause", frozenset({P0}))]


def test_reset_forgets_an_all_partition_pause() -> None:
    flow = FlowControl(max_in_flight=10, max_ahead=5)
    consumer, tracker = RecordingConsumer(), Tracker()
    tracker.pending_total = 10
    flow.apply(consumer, assignments(P0), tracker)
    flow.reset()
    consumer.calls.clear()
    tracker.pending_total = 10
    flow.apply(consumer, assignments(P0, P1), tracker)
    assert consumer.calls == [("pause", frozenset({P0, P1}))]


def test_unfinished_events_count_towards_the_bound_too() -> None:
    # A crash re-sends what finished since the last commit and what was in flight.
    flow = FlowControl(max_in_flight=100, max_ahead=5)
    consumer, tracker = RecordingConsumer(), Tracker()
    tracker.ahead_of = {P0: 2}
    tracker.pending_of = {P0: 2, P1: 5}
    tracker.pending_total = 7
    assert flow.may_take(tracker, P0)  # 4 taken and uncommitted: a fifth may come
    assert not flow.may_take(tracker, P1)
    assert flow.may_take(tracker, P2)
    flow.apply(consumer, assignments(P0, P1, P2), tracker)
    assert consumer.calls == [("pause", frozenset({P1}))]
    tracker.pending_of[P0] = 3
    assert not flow.may_take(tracker, P0)


@pytest.mark.parametrize(
    ("uncommitted", "max_ahead", "allowed"),
    [(0, 1, True), (1, 1, False), (4, 5, True), (5, 5, False), (9, 5, False)],
)
def test_may_take_keeps_the_uncommitted_events_within_the_bound(
    uncommitted: int, max_ahead: int, allowed: bool
) -> None:
    assert may_take(uncommitted, max_ahead) is allowed


@settings(max_examples=200, deadline=None)
@given(max_ahead=st.integers(min_value=1, max_value=6), data=st.data())
def test_the_per_partition_bound_never_deadlocks_and_always_holds(
    max_ahead: int, data: st.DataObject
) -> None:
    """Intake refused only while something else can move: an event in work finishes
    without more intake, and with none in work a commit covers every finished one."""
    events = 25
    partition = PartitionOffsets(0)
    taken = 0
    unfinished: list[int] = []
    while partition.committed < events:
        moves = []
        if taken < events and may_take(partition.ahead + partition.pending, max_ahead):
            moves.append("take")
        if unfinished:
            moves.append("finish")
        if partition.committable() is not None:
            moves.append("commit")
        assert moves, f"stuck: {partition!r}"
        move = data.draw(st.sampled_from(moves))
        if move == "take":
            partition.started(taken)
            unfinished.append(taken)
            taken += 1
        elif move == "finish":
            offset = unfinished.pop(data.draw(st.integers(0, len(unfinished) - 1)))
            partition.done(offset)
        else:
            partition.mark_committed(partition.committable() or 0)
        # What a crash now would send again: never more than the bound.
        assert partition.ahead + partition.pending <= max_ahead


def test_apply_touches_only_what_the_consumer_still_has_assigned() -> None:
    # The table may still list a partition the consumer's own assignment has dropped
    # (a rebalance under way): pausing it would raise IllegalStateError.
    consumer, tracker = RecordingConsumer(assigned=frozenset({P1})), Tracker()
    flow = FlowControl(max_in_flight=10, max_ahead=5)
    tracker.pending_total = 10
    flow.apply(consumer, assignments(P0, P1), tracker)
    assert consumer.calls == [("pause", frozenset({P1}))]

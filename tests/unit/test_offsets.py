"""The done-offset tracker: what may be committed, whatever order events finish in."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from consumer.ownership.offsets import PartitionOffsets

TP = ("lead-changes", 0)
OTHER = ("lead-changes", 1)


def run(start: int, started: list[int], done: list[int]) -> PartitionOffsets:
    partition = PartitionOffsets(start)
    for offset in started:
        partition.started(offset)
    for offset in done:
        assert partition.done(offset)
    return partition


@pytest.mark.parametrize(
    ("start", "started", "done", "committable", "pending", "ahead"),
    [
        # ahead: finished and not committed yet (nothing is, here), held back or not
        (0, [], [], None, 0, 0),  # nothing new since the committed start
        (5, [5], [], None, 1, 0),
        (5, [5], [5], 6, 0, 1),
        (0, [0, 1, 2], [1, 2], None, 1, 2),  # 0 holds back the finished 1 and 2
        (0, [0, 1, 2], [0, 2], 1, 1, 2),
        (0, [0, 1, 2], [2, 0, 1], 3, 0, 3),
        (10, [12, 15, 20], [12, 15, 20], 21, 0, 3),  # gaps (compaction) count as done
        (10, [12, 15, 20], [15, 20], 12, 1, 2),
        (10, [12, 15, 20], [12], 15, 2, 1),
        (10, [12, 15, 20], [12, 20], 15, 1, 2),
        (0, [3], [], 3, 1, 0),  # a gap before the first event: 0..2 need no commit
    ],
)
def test_committable_table(
    start: int,
    started: list[int],
    done: list[int],
    committable: int | None,
    pending: int,
    ahead: int,
) -> None:
    partition = run(start, started, done)
    assert partition.committable() == committable
    assert partition.pending == pending
    assert partition.ahead == ahead


def test_commit_reports_only_progress_since_the_last_commit() -> None:
    partition = run(0, [0, 1, 2], [0])
    assert partition.committable() == 1
    partition.mark_committed(1)
    assert partition.committable() is None
    assert partition.committed == 1
    partition.done(1)
    assert partition.committable() == 2
    partition.mark_committed(2)
    partition.done(2)
    assert partition.committable() == 3


def test_a_commit_takes_what_it_covers_out_of_ahead() -> None:
    partition = run(0, [0, 1, 2, 3], [0, 1, 3])
    assert (partition.ahead, partition.pending) == (3, 1)  # 0 and 1 await the commit
    partition.mark_committed(1)
    assert partition.ahead == 2
    partition.mark_committed(partition.committable() or 0)
    assert partition.ahead == 1  # 3 waits for 2, which no commit can pass
    partition.done(2)
    assert partition.ahead == 2
    partition.mark_committed(4)
    assert (partition.ahead, partition.pending) == (0, 0)


def test_mark_committed_never_moves_backwards() -> None:
    partition = run(0, [0, 1], [0, 1])
    partition.mark_committed(2)
    partition.mark_committed(1)  # a late acknowledgement of an older commit
    assert partition.committed == 2
    assert partition.committable() is None


def test_done_of_an_offset_not_pending_is_ignored() -> None:
    partition = run(0, [0, 2], [])
    assert not partition.done(1)  # a gap, never started
    assert not partition.done(7)  # not started yet
    assert partition.done(2)
    assert not partition.done(2)  # twice
    assert partition.pending == 1
    assert partition.first_unfinished() == 0


def test_first_unfinished() -> None:
    partition = run(4, [4, 6, 9], [4])
    assert partition.first_unfinished() == 6
    partition.done(9)
    assert partition.first_unfinished() == 6
    partition.done(6)
    assert partition.first_unfinished() is None
    assert partition.watermark == 10


@pytest.mark.parametrize(("start", "started", "offset"), [(5, [], 4), (0, [3], 3), (0, [3], 2)])
def test_started_offsets_must_increase(start: int, started: list[int], offset: int) -> None:
    partition = run(start, started, [])
    with pytest.raises(ValueError, match="rewind"):
        partition.started(offset)


def test_a_position_is_never_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        PartitionOffsets(-1)


def test_rewind_forgets_from_the_first_unfinished_offset() -> None:
    partition = run(0, [0, 1, 2, 3, 5], [0, 2, 5])
    assert partition.ahead == 3
    assert partition.rewind() == 1
    # 0 stays done and awaits its commit; 2 and 5 will be fetched and started again.
    assert (partition.pending, partition.ahead, partition.first_unfinished()) == (0, 1, None)
    assert partition.committable() == 1  # what finished below the seek point stays done
    assert not partition.done(2)  # forgotten: it will be fetched and started again
    for offset in (1, 2, 3, 5):
        partition.started(offset)
    with pytest.raises(ValueError, match="rewind"):
        partition.started(0)


def test_rewind_with_nothing_unfinished_seeks_to_the_next_offset() -> None:
    partition = run(0, [0, 4], [0, 4])
    assert partition.rewind() == 5


def test_repr_shows_the_state() -> None:
    assert (
        repr(run(0, [0, 1], [1]))
        == "PartitionOffsets(watermark=0, committed=0, pending=1, ahead=1)"
    )


def test_many_events_finishing_in_reverse_order() -> None:
    # A rescan per done() would be quadratic here: 10^10 steps, far past the test timeout.
    n = 200_000
    partition = PartitionOffsets(0)
    for offset in range(n):
        partition.started(offset)
    for offset in range(n - 1, 0, -1):
        partition.done(offset)
    assert (partition.committable(), partition.ahead, partition.pending) == (None, n - 1, 1)
    partition.done(0)
    assert (partition.committable(), partition.ahead, partition.pending) == (n, n, 0)
    partition.mark_committed(n)
    assert (partition.committable(), partition.ahead, partition.pending) == (None, 0, 0)


def test_rewind_forgets_from_the_first_unfinished_offset_on() -> None:
    offsets = PartitionOffsets(0)
    for offset in range(4):
        offsets.started(offset)
    offsets.done(0)
    offsets.done(2)
    assert offsets.rewind() == 1
    assert offsets.pending == 0
    assert offsets.committable() == 1
    offsets.started(1)  # fetched again from there


# -- properties ------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, list[int], list[int]]:
    """A start, increasing started offsets with gaps, and some of them done in any order."""
    start = draw(st.integers(min_value=0, max_value=10**6))
    gaps = draw(st.lists(st.integers(min_value=0, max_value=3), max_size=60))
    started, offset = [], start
    for gap in gaps:
        offset += gap
        started.append(offset)
        offset += 1
    done = draw(st.permutations(started))[: draw(st.integers(0, len(started)))]
    return start, started, done


@given(histories())
def test_committable_is_the_lowest_unfinished_or_one_past_the_last(
    history: tuple[int, list[int], list[int]],
) -> None:
    start, started, done = history
    partition = run(start, started, done)
    unfinished = set(started) - set(done)
    expected = min(unfinished) if unfinished else (started[-1] + 1 if started else start)
    assert partition.watermark == expected
    assert partition.committable() == (expected if expected > start else None)
    assert partition.pending == len(unfinished)
    assert partition.ahead == len(done)  # nothing committed: every finished one counts


@given(histories(), st.randoms(use_true_random=False))
def test_watermark_never_decreases_nor_passes_an_unfinished_offset(
    history: tuple[int, list[int], list[int]], rng: random.Random
) -> None:
    start, started, done = history
    partition = PartitionOffsets(start)
    events = [("start", o) for o in started]
    # Interleave: each done() comes somewhere after its started().
    for offset in done:
        at = started.index(offset)
        events.insert(rng.randint(events.index(("start", offset)) + 1, len(events)), ("done", at))
    unfinished: set[int] = set()
    last = partition.watermark
    for kind, value in events:
        if kind == "start":
            partition.started(value)
            unfinished.add(value)
        else:
            assert partition.done(started[value])
            unfinished.discard(started[value])
        assert partition.watermark >= last
        assert all(partition.watermark <= offset for offset in unfinished)
        last = partition.watermark


class PartitionMachine(RuleBasedStateMachine):
    """Random started/done/commit/rewind sequences checked against a plain model."""

    def __init__(self) -> None:
        super().__init__()
        self.partition = PartitionOffsets(0)
        self.live: list[int] = []  # started since the last rewind
        self.unfinished: set[int] = set()
        self.finished: set[int] = set()  # done and not forgotten by a rewind
        self.next_min = 0  # the lowest offset that may start next
        self.committed = 0
        self.last_watermark = 0

    @initialize(start=st.integers(min_value=0, max_value=1000))
    def begin(self, start: int) -> None:
        self.partition = PartitionOffsets(start)
        self.next_min = self.committed = self.last_watermark = start

    @rule(gap=st.integers(min_value=0, max_value=4))
    def start_next(self, gap: int) -> None:
        offset = self.next_min + gap
        self.partition.started(offset)
        self.live.append(offset)
        self.unfinished.add(offset)
        self.next_min = offset + 1

    @precondition(lambda self: self.unfinished)
    @rule(data=st.data())
    def finish_one(self, data: st.DataObject) -> None:
        offset = data.draw(st.sampled_from(sorted(self.unfinished)))
        assert self.partition.done(offset)
        self.unfinished.remove(offset)
        self.finished.add(offset)

    @rule(offset=st.integers(min_value=0, max_value=2000))
    def finish_something_not_pending(self, offset: int) -> None:
        if offset not in self.unfinished:
            assert not self.partition.done(offset)

    @rule()
    def commit(self) -> None:
        offset = self.partition.committable()
        if offset is not None:
            self.partition.mark_committed(offset)
            self.committed = offset

    @rule()
    def rewind(self) -> None:
        seek_to = self.partition.rewind()
        assert seek_to == self.expected_watermark()
        self.next_min = seek_to
        self.live.clear()
        self.unfinished.clear()
        self.finished = {o for o in self.finished if o < seek_to}

    def expected_watermark(self) -> int:
        return min(self.unfinished) if self.unfinished else self.next_min

    @invariant()
    def matches_the_model(self) -> None:
        watermark = self.expected_watermark()
        partition = self.partition
        assert partition.watermark == watermark
        assert partition.committable() == (watermark if watermark > self.committed else None)
        assert partition.pending == len(self.unfinished)
        assert partition.first_unfinished() == (min(self.unfinished) if self.unfinished else None)
        assert partition.ahead == sum(1 for o in self.finished if o >= self.committed)

    @invariant()
    def commit_point_only_moves_forward(self) -> None:
        assert self.partition.watermark >= self.last_watermark
        assert all(self.partition.watermark <= o for o in self.unfinished)
        self.last_watermark = self.partition.watermark


TestPartitionMachine = PartitionMachine.TestCase
TestPartitionMachine.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)

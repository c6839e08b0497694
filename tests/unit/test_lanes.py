"""Per-lead lanes: strict order per key, keys side by side, and the ways work is let go.

The processing function is driven by asyncio events, never by sleeps: each item
waits for its own gate, so a test decides exactly when an item finishes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.delivery.lanes import Lanes

Item = tuple[str, int]
"""(key, sequence number within the key)"""


class Gated:
    """A process function whose items each wait for a gate the test opens."""

    def __init__(self) -> None:
        self.started: list[Item] = []
        self.finished: list[Item] = []
        self.cancelled: list[Item] = []
        self._gates: dict[Item, asyncio.Event] = defaultdict(asyncio.Event)
        self._started: dict[Item, asyncio.Event] = defaultdict(asyncio.Event)
        self._active: dict[str, Item] = {}
        self.overlaps: list[tuple[Item, Item]] = []

    async def __call__(self, item: Item, waiting: object = None) -> None:
        key = item[0]
        if key in self._active:  # recorded, not raised: the lane would swallow it
            self.overlaps.append((self._active[key], item))
        self._active[key] = item
        self.started.append(item)
        self._started[item].set()
        try:
            await self._gates[item].wait()
        except asyncio.CancelledError:
            self.cancelled.append(item)
            raise
        finally:
            self._active.pop(key, None)
        self.finished.append(item)

    def release(self, item: Item) -> None:
        self._gates[item].set()

    async def until_started(self, item: Item) -> None:
        await self._started[item].wait()


async def settle() -> None:
    """Let every ready task run until none is left runnable (no timers involved)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_one_key_runs_in_submission_order_one_at_a_time() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    items = [("a", n) for n in range(3)]
    for item in items:
        lanes.submit("a", item)
    await settle()
    assert process.started == [items[0]]  # the rest wait behind the head
    assert list(lanes.waiting("a") or []) == items[1:]
    process.release(items[1])  # opening a later gate first changes nothing
    await settle()
    assert process.started == [items[0]]
    process.release(items[0])
    process.release(items[2])
    await lanes.wait_idle()
    assert process.finished == items
    assert process.overlaps == []


async def test_different_keys_run_concurrently() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    lanes.submit("a", ("a", 0))
    lanes.submit("b", ("b", 0))
    await process.until_started(("a", 0))
    await process.until_started(("b", 0))
    assert lanes.active_leads == 2
    assert sorted(lanes.running()) == [("a", 0), ("b", 0)]
    process.release(("b", 0))  # b finishes while a is still held
    await settle()
    assert process.finished == [("b", 0)]
    assert lanes.active_leads == 1
    process.release(("a", 0))
    await lanes.wait_idle()


async def test_idle_lanes_are_forgotten() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    lanes.submit("a", ("a", 0))
    await process.until_started(("a", 0))
    assert lanes.waiting("a") is not None
    process.release(("a", 0))
    await lanes.wait_idle()
    assert lanes.waiting("a") is None
    assert lanes.active_leads == 0
    assert lanes.running() == []
    # A forgotten key starts a fresh lane.
    lanes.submit("a", ("a", 1))
    process.release(("a", 1))
    await lanes.wait_idle()
    assert process.finished == [("a", 0), ("a", 1)]


async def test_wait_idle_waits_for_every_lane() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    await lanes.wait_idle()  # nothing submitted: idle at once
    lanes.submit("a", ("a", 0))
    lanes.submit("b", ("b", 0))
    waiter = asyncio.create_task(lanes.wait_idle())
    process.release(("a", 0))
    await settle()
    assert not waiter.done()
    process.release(("b", 0))
    await waiter


async def test_drop_removes_only_waiting_items() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    for n in range(4):
        lanes.submit("a", ("a", n))
    lanes.submit("b", ("b", 0))
    await process.until_started(("a", 0))
    await process.until_started(("b", 0))

    dropped = lanes.drop(lambda item: item[1] in (0, 2))  # ("a", 0) and ("b", 0) are running
    assert dropped == [("a", 2)]
    assert list(lanes.waiting("a") or []) == [("a", 1), ("a", 3)]
    assert process.cancelled == []

    for item in [("a", 0), ("a", 1), ("a", 3), ("b", 0)]:
        process.release(item)
    await lanes.wait_idle()
    assert [item for item in process.finished if item[0] == "a"] == [("a", 0), ("a", 1), ("a", 3)]
    assert ("a", 2) not in process.started


async def test_drop_of_a_lane_with_only_waiting_items_keeps_its_worker_consistent() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    lanes.submit("a", ("a", 0))
    lanes.submit("a", ("a", 1))
    await process.until_started(("a", 0))
    assert lanes.drop(lambda item: item == ("a", 1)) == [("a", 1)]
    process.release(("a", 0))
    await lanes.wait_idle()
    assert process.started == [("a", 0)]
    assert lanes.waiting("a") is None
    lanes.submit("a", ("a", 2))  # the key still works afterwards
    process.release(("a", 2))
    await lanes.wait_idle()
    assert process.finished == [("a", 0), ("a", 2)]


async def test_abandon_running_cancels_only_the_running_item_and_the_lane_goes_on() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    for n in range(3):
        lanes.submit("a", ("a", n))
    lanes.submit("b", ("b", 0))
    await process.until_started(("a", 0))
    await process.until_started(("b", 0))

    assert lanes.abandon_running(lambda item: item[0] == "a") == 1
    # Asking twice before the cancellation lands must not cancel the next item too.
    assert lanes.abandon_running(lambda item: item[0] == "a") == 0
    await process.until_started(("a", 1))
    assert process.cancelled == [("a", 0)]
    assert list(lanes.waiting("a") or []) == [("a", 2)]
    assert ("b", 0) in lanes.running()  # the other lane was not touched

    for item in [("a", 1), ("a", 2), ("b", 0)]:
        process.release(item)
    await lanes.wait_idle()
    assert sorted(process.finished) == [("a", 1), ("a", 2), ("b", 0)]
    assert [item for item in process.finished if item[0] == "a"] == [("a", 1), ("a", 2)]
    assert process.cancelled == [("a", 0)]


async def test_abandoned_item_does_not_leave_the_worker_cancelled() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    lanes.submit("a", ("a", 0))
    lanes.submit("a", ("a", 1))
    await process.until_started(("a", 0))
    lanes.abandon_running(lambda item: True)
    await process.until_started(("a", 1))
    # A later, ordinary abandon of the next item works the same way.
    assert lanes.abandon_running(lambda item: True) == 1
    await lanes.wait_idle()
    assert process.cancelled == [("a", 0), ("a", 1)]
    assert process.finished == []


async def test_abandon_running_with_no_match_does_nothing() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    lanes.submit("a", ("a", 0))
    await process.until_started(("a", 0))
    assert lanes.abandon_running(lambda item: False) == 0
    process.release(("a", 0))
    await lanes.wait_idle()
    assert process.finished == [("a", 0)]


async def test_cancel_all_cancels_running_work_and_forgets_waiting_work() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    lanes.submit("a", ("a", 0))
    lanes.submit("a", ("a", 1))
    lanes.submit("b", ("b", 0))
    await process.until_started(("a", 0))
    await process.until_started(("b", 0))
    await lanes.cancel_all()
    assert sorted(process.cancelled) == [("a", 0), ("b", 0)]
    assert ("a", 1) not in process.started
    assert lanes.waiting("a") is None
    assert lanes.active_leads == 0
    await lanes.wait_idle()


async def test_cancel_all_right_after_abandon_running_still_cancels_the_lane() -> None:
    # Shutdown may follow a drain's abandon in the same tick: the lane must not
    # take cancel_all's cancellation for the abandon and go on with the next item.
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    lanes.submit("a", ("a", 0))
    lanes.submit("a", ("a", 1))
    await process.until_started(("a", 0))
    process.release(("a", 1))  # if the lane wrongly went on, this item would complete
    lanes.abandon_running(lambda item: True)
    await lanes.cancel_all()
    assert ("a", 1) not in process.started
    assert lanes.active_leads == 0


async def test_a_failing_item_does_not_strand_the_rest_of_its_lane(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An unexpected error in one item must not leave the items behind it queued
    # with no worker: they would never run, and wait_idle would report idle.
    done: list[int] = []
    errors: list[tuple[int, Exception]] = []
    boom = RuntimeError("boom")

    async def process(item: int, waiting: object) -> None:
        if item == 0:
            raise boom
        done.append(item)

    lanes: Lanes[int] = Lanes(process, on_error=lambda item, exc: errors.append((item, exc)))
    lanes.submit("a", 0)
    lanes.submit("a", 1)
    with caplog.at_level(logging.ERROR, logger="consumer.delivery.lanes"):
        await lanes.wait_idle()
    assert lanes.waiting("a") is None
    assert done == [1]
    assert errors == [(0, boom)]
    assert [record.exc_info[1] for record in caplog.records if record.exc_info] == [boom]


async def test_a_failing_item_without_an_error_hook_is_logged_and_the_lane_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[int] = []

    async def process(item: int, waiting: object) -> None:
        if item == 0:
            raise ValueError("bad item")
        done.append(item)

    lanes: Lanes[int] = Lanes(process)
    lanes.submit("a", 0)
    lanes.submit("a", 1)
    with caplog.at_level(logging.ERROR, logger="consumer.delivery.lanes"):
        await lanes.wait_idle()
    assert done == [1]
    assert any(record.levelno == logging.ERROR for record in caplog.records)


@settings(max_examples=60, deadline=None)
@given(
    script=st.lists(
        st.tuples(st.sampled_from("abc"), st.booleans(), st.integers(min_value=0, max_value=3)),
        max_size=30,
    )
)
def test_each_key_is_processed_in_submission_order(script: list[tuple[str, bool, int]]) -> None:
    """Random interleavings of submissions and partial completions over a few keys."""

    async def scenario() -> None:
        process = Gated()
        lanes: Lanes[Item] = Lanes(process)
        submitted: dict[str, list[Item]] = defaultdict(list)
        for counter, (key, release_some, yields) in enumerate(script):
            item = (key, counter)
            lanes.submit(key, item)
            submitted[key].append(item)
            if release_some:
                # Let an arbitrary, running item finish out of key order.
                for running in lanes.running():
                    process.release(running)
            for _ in range(yields):
                await asyncio.sleep(0)
        # Opened last-first: only the lane's own order can make them finish in order.
        for items in submitted.values():
            for item in reversed(items):
                process.release(item)
        await lanes.wait_idle()
        assert process.overlaps == []
        for key, items in submitted.items():
            assert [item for item in process.started if item[0] == key] == items
            assert [item for item in process.finished if item[0] == key] == items

    asyncio.run(scenario())


async def test_a_worker_whose_lane_ran_dry_takes_the_next_lane_instead_of_a_new_task() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process)
    lanes.submit("a", ("a", 0))
    process.release(("a", 0))
    await lanes.wait_idle()
    await settle()
    before = asyncio.all_tasks()
    lanes.submit("b", ("b", 0))
    lanes.submit("c", ("c", 0))  # no spare worker left for this one: a new task
    await settle()
    assert len(asyncio.all_tasks() - before) == 1
    assert process.started == [("a", 0), ("b", 0), ("c", 0)]
    process.release(("b", 0))
    process.release(("c", 0))
    await lanes.wait_idle()
    await lanes.cancel_all()  # spare workers end with it
    await settle()
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_beyond_the_spare_workers_a_worker_whose_lane_ran_dry_ends() -> None:
    process = Gated()
    lanes: Lanes[Item] = Lanes(process, spare_workers=0)
    lanes.submit("a", ("a", 0))
    process.release(("a", 0))
    await lanes.wait_idle()
    await settle()
    assert asyncio.all_tasks() == {asyncio.current_task()}

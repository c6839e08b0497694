"""Handing partitions over: the pure decisions, and the drain carried out on real lanes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumer.delivery.breaker import Breaker
from consumer.delivery.lanes import Lanes
from consumer.delivery.work import Ready, Work
from consumer.kafka.clients import HEARTBEAT_INTERVAL_MS
from consumer.ownership.handover import HANDOVER_S, Drainer, drained, fences
from consumer.ownership.owned_partition import Partition
from consumer.ownership.partition_table import PartitionTable
from contracts.events import EXAMPLE_EVENT, LeadChange
from contracts.noojee import UpdateLeadFast
from tests.telemetry_helpers import record as consumer_record

TP = TopicPartition("lead-changes", 0)


@pytest.mark.parametrize(
    ("rebalancing", "leads_group", "fenced"),
    [
        (False, False, False),  # SIGTERM, no rebalance: no one else can own them yet
        (False, True, False),
        (True, False, True),  # the leader may form the next generation without us
        (True, True, False),  # no generation forms before the leader rejoins
    ],
)
def test_only_a_rebalance_at_a_member_not_leading_fences(
    rebalancing: bool, leads_group: bool, fenced: bool
) -> None:
    assert fences(rebalancing=rebalancing, leads_group=leads_group) is fenced


@pytest.mark.parametrize(
    ("fenced", "sending", "first_unfinished", "highest_begun", "done"),
    [
        (False, 0, None, -1, True),  # nothing taken
        (False, 0, None, 9, True),  # everything finished
        (False, 0, 10, 9, True),  # unfinished above the highest begun: the next owner's
        (False, 0, 9, 9, False),  # the highest begun itself is unfinished
        (False, 0, 3, 9, False),  # an event below it must finish for the commit to pass 9
        (False, 1, None, 9, False),  # an answer is still being handled
        (True, 0, 3, 9, True),  # fenced: what never began is left for the next owner
        (True, 2, 3, 9, False),  # ... but calls on the wire finish
    ],
)
def test_when_a_drain_is_done(
    fenced: bool, sending: int, first_unfinished: int | None, highest_begun: int, done: bool
) -> None:
    assert (
        drained(
            fenced=fenced,
            sending=sending,
            first_unfinished=first_unfinished,
            highest_begun=highest_begun,
        )
        is done
    )


def test_a_new_owner_waits_longer_than_a_former_owner_takes_to_hear_of_the_rebalance() -> None:
    assert HANDOVER_S > HEARTBEAT_INTERVAL_MS / 1000


def test_a_partition_takes_nothing_before_its_handover() -> None:
    partition = Partition(TP, ready_at=100.0)
    assert not partition.handed_over(99.9)
    assert partition.handed_over(100.0)
    assert Partition(TP).handed_over(0.0)


# -- the drain on real lanes -------------------------------------------------------------


def record(offset: int) -> ConsumerRecord[bytes, bytes]:
    return consumer_record(offset=offset, partition=TP.partition, topic=TP.topic, headers=())


class World:
    """One partition, events 0..5 of leads X, Y, X, Z, W, V in lanes; each event waits
    for a throttle slot, then begins and waits for the PBX's answer (events the test
    opens by hand), then is done."""

    LEADS = ("X", "Y", "X", "Z", "W", "V")

    def __init__(self, *, leads_group: bool) -> None:
        self.table = PartitionTable()
        [self.partition] = self.table.assign([TP])
        self.slot = {o: asyncio.Event() for o in range(len(self.LEADS))}
        self.answer = {o: asyncio.Event() for o in range(len(self.LEADS))}
        self.begun: list[int] = []
        self.committed: list[dict[TopicPartition, int]] = []
        self.lanes: Lanes[Work] = Lanes(self._process)
        self.breaker = Breaker()
        self.cancelled: list[int] = []
        self.drainer = Drainer(
            table=self.table,
            lanes=self.lanes,
            breaker=self.breaker,
            commit=self._commit,
            timeout_s=30,
            failed=lambda: False,
            leads_group=lambda: leads_group,
        )
        for offset, lead in enumerate(self.LEADS):
            self.partition.take(offset)
            event = LeadChange.from_dict({**EXAMPLE_EVENT, "lead_id": lead})
            request = UpdateLeadFast(lead, {}, {"njExternalLeadId": lead})
            self.lanes.submit(lead, Work(self.partition, record(offset), Ready(event, request)))

    async def _process(self, work: Work, waiting: object) -> None:
        partition, offset = work.partition, work.offset
        if not partition.may_begin(offset):
            return
        await self.slot[offset].wait()
        if not partition.begin(offset):
            return  # fenced while waiting for the slot: never sent
        with partition.sending():
            self.begun.append(offset)
            try:
                await self.answer[offset].wait()
            except asyncio.CancelledError:
                self.cancelled.append(offset)
                raise
            self.table.done(self.partition, offset)

    async def _commit(self, tps: Iterable[TopicPartition]) -> None:
        wanted = set(tps)
        await asyncio.sleep(0)  # a commit is a request to the broker: others run meanwhile
        offsets = {tp: o for tp, o in self.table.commit_offsets().items() if tp in wanted}
        if offsets:  # as the pipeline: nothing to send when the commit point did not move
            self.committed.append(offsets)
            self.table.mark_committed(offsets)

    async def on_the_wire(self, *offsets: int) -> None:
        for offset in offsets:
            self.slot[offset].set()
        await settle()
        assert set(offsets) <= set(self.begun)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def answer_as_they_come(world: World, stop: asyncio.Event) -> None:
    """The PBX: answers every call that begins, and gives every waiting call its slot."""
    while not stop.is_set():
        for offset in range(len(World.LEADS)):
            world.slot[offset].set()
            if offset in world.begun:
                world.answer[offset].set()
        await asyncio.sleep(0.001)


async def test_a_fenced_revoke_lets_only_the_calls_on_the_wire_finish() -> None:
    world = World(leads_group=False)
    await world.on_the_wire(0, 1, 4)  # 2 waits behind 0 (lead X), 3 for a slot
    revoke = asyncio.create_task(world.drainer.revoke([TP]))
    await settle()
    assert not revoke.done()  # three calls are on the wire
    world.slot[3].set()  # a slot comes free: 3 must not begin now
    for offset in (0, 1, 4):
        world.answer[offset].set()
    await asyncio.wait_for(revoke, timeout=5)
    assert sorted(world.begun) == [0, 1, 4]
    assert world.committed == [{TP: 2}]  # 2 never began: the next owner resumes there
    assert TP not in world.table


async def test_the_leaders_revoke_finishes_everything_up_to_the_highest_begun() -> None:
    world = World(leads_group=True)
    await world.on_the_wire(0, 1, 4)
    stop = asyncio.Event()
    pbx = asyncio.create_task(answer_as_they_come(world, stop))
    await asyncio.wait_for(world.drainer.revoke([TP]), timeout=5)
    stop.set()
    await pbx
    assert sorted(world.begun) == [0, 1, 2, 3, 4]  # 5 is above the highest begun
    assert world.committed == [{TP: 5}]  # nothing that was applied is sent again


async def test_a_rebalance_during_a_shutdown_drain_fences_it() -> None:
    world = World(leads_group=False)
    await world.on_the_wire(0, 4)
    shutdown = asyncio.create_task(world.drainer.release([world.partition]))
    world.slot[1].set()
    await settle()
    assert 1 in world.begun  # below the highest begun: a shutdown drain finishes it
    revoke = asyncio.create_task(world.drainer.revoke([TP]))
    await settle()
    world.slot[3].set()  # after the fence nothing more begins
    for offset in (0, 1, 4):
        world.answer[offset].set()
    await asyncio.wait_for(asyncio.gather(shutdown, revoke), timeout=5)
    assert sorted(world.begun) == [0, 1, 4]
    assert world.committed == [{TP: 2}]  # committed once, by whichever finished first
    assert TP not in world.table


async def test_an_open_breaker_fences_the_drain_but_calls_on_the_wire_finish() -> None:
    # Issue 14: a streak of read timeouts opens the breaker while the PBX is only slow.
    # A drain that then abandoned the calls on the wire let the next owner send the
    # same leads while the PBX still worked on them: overlap, and reordering.
    world = World(leads_group=True)
    await world.on_the_wire(0, 1, 4)
    for _ in range(world.breaker.timeout_streak):
        world.breaker.timed_out(False)
    assert world.breaker.is_open
    release = asyncio.create_task(world.drainer.release([world.partition]))
    await asyncio.sleep(0.1)
    assert not release.done()  # three calls are still on the wire
    world.slot[2].set()
    world.slot[3].set()
    await settle()
    for offset in (0, 1, 4):
        world.answer[offset].set()
    await asyncio.wait_for(release, timeout=5)
    assert world.cancelled == []  # nothing on the wire was cut off
    assert sorted(world.begun) == [0, 1, 4]  # nothing new began once the breaker opened
    assert world.committed == [{TP: 2}]

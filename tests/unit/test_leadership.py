"""Leadership: learned from the assignor calls aiokafka makes during each join."""

from __future__ import annotations

from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

from consumer.limits.fleet_plan import Grant
from consumer.ownership.leadership import Leadership
from consumer.ownership.slot_assignor import assignors


class _Cluster:
    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0, 1, 2} if topic == "leads" else None


MEMBERS = {
    "a": ConsumerProtocolMemberMetadata(0, ["leads"], b""),
    "b": ConsumerProtocolMemberMetadata(0, ["leads"], b""),
}
MINE = ConsumerProtocolMemberAssignment(0, [("leads", [0, 2])], b"")


def test_the_member_that_assigned_leads_until_a_join_where_it_did_not() -> None:
    leadership = Leadership()
    [watched] = leadership.watch([RoundRobinPartitionAssignor])
    assert not leadership.leads
    # A join as leader: metadata for the JoinGroup, then the assignment, then our part.
    watched.metadata(["leads"])
    result = watched.assign(_Cluster(), MEMBERS)
    assert not leadership.leads  # not before the join completes
    watched.on_assignment(MINE)
    assert leadership.leads
    assert result == RoundRobinPartitionAssignor.assign(_Cluster(), MEMBERS)  # unchanged
    # A rebalance: still the leader until the next join completes without assigning.
    watched.metadata(["leads"])
    assert leadership.leads
    watched.on_assignment(MINE)
    assert not leadership.leads


def test_a_failed_join_as_leader_does_not_count_in_the_next_one() -> None:
    leadership = Leadership()
    [watched] = leadership.watch([RoundRobinPartitionAssignor])
    watched.metadata(["leads"])
    watched.assign(_Cluster(), MEMBERS)  # the SyncGroup then failed: no on_assignment
    watched.metadata(["leads"])  # the next join, as a follower
    watched.on_assignment(MINE)
    assert not leadership.leads


def test_the_wrapped_assignors_keep_their_names_and_callbacks() -> None:
    heard: list[Grant | None] = []
    leadership = Leadership()
    slots, roundrobin = leadership.watch(assignors(4, heard.append))
    assert (slots.name, roundrobin.name) == ("leadsync-slots", "roundrobin")
    assert slots.metadata(["leads"]).user_data == b'{"max_concurrency": 4}'
    roundrobin.on_assignment(MINE)
    assert heard == [None]
    assert not leadership.leads

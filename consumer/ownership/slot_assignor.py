"""The group's partition assignor: partitions and PBX slots planned together by the leader.

Each member announces its ``MAX_CONCURRENCY`` in its join metadata; the leader
splits partitions and slots with ``fleet_plan.plan`` and writes each member's
slots into that member's assignment, where ``on_assignment`` hands them to the
throttle just before the rebalance listener runs. Members list roundrobin as a
second choice, so a group mixing this version with one that lacks it still
forms (the broker picks a protocol every member supports); with roundrobin no
slots arrive and the throttle falls back to its partition-proportional share.

aiokafka uses assignor *classes* (their methods are classmethods), so each
consumer gets a subclass of its own that carries its limit and its callback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping

from aiokafka import TopicPartition
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

from consumer.limits.fleet_plan import Grant, fleet_slots, plan

log = logging.getLogger(__name__)

NAME = "leadsync-slots"
VERSION = 0


def assignors(
    max_concurrency: int, on_grant: Callable[[Grant | None], None]
) -> tuple[type[AbstractPartitionAssignor], ...]:
    """The strategies one consumer offers, preferred first: slots, then roundrobin.

    ``on_grant`` hears every assignment: the grant, or None when the group used
    roundrobin (so a grant from an earlier generation is not kept by mistake).
    """

    class RoundRobinFallback(RoundRobinPartitionAssignor):  # type: ignore[misc]  # untyped base
        @classmethod
        def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
            on_grant(None)

    return fleet_assignor(max_concurrency, on_grant), RoundRobinFallback


def fleet_assignor(
    max_concurrency: int, on_grant: Callable[[Grant | None], None]
) -> type[AbstractPartitionAssignor]:
    """An assignor class for one consumer: announces ``max_concurrency``, reports grants."""

    class SlotsAssignor(AbstractPartitionAssignor):  # type: ignore[misc]  # untyped base
        name = NAME
        version = VERSION

        @classmethod
        def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
            user_data = json.dumps({"max_concurrency": max_concurrency}).encode()
            return ConsumerProtocolMemberMetadata(VERSION, sorted(topics), user_data)

        @classmethod
        def assign(
            cls,
            cluster: ClusterMetadata,
            members: Mapping[str, ConsumerProtocolMemberMetadata],
        ) -> dict[str, ConsumerProtocolMemberAssignment]:
            return assign(cluster, members, max_concurrency)

        @classmethod
        def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
            on_grant(read_grant(assignment.user_data))

    return SlotsAssignor


def assign(
    cluster: ClusterMetadata,
    members: Mapping[str, ConsumerProtocolMemberMetadata],
    own_limit: int,
) -> dict[str, ConsumerProtocolMemberAssignment]:
    """The leader's plan for one topic (the service subscribes to exactly one)."""
    limits = {member: _announced_limit(meta, own_limit) for member, meta in members.items()}
    topics = sorted({topic for meta in members.values() for topic in meta.subscription})
    order = sorted(members)
    result: dict[str, dict[str, list[int]]] = {member: {} for member in order}
    granted: dict[str, int] = dict.fromkeys(order, 0)
    working = 0
    for topic in topics:
        subscribed = [m for m in order if topic in members[m].subscription]
        ids = sorted(cluster.partitions_for_topic(topic) or ())
        shares = plan(subscribed, [TopicPartition(topic, p) for p in ids], fleet_slots(limits))
        working = max(working, sum(1 for share in shares.values() if share.partitions))
        for member, share in shares.items():
            if share.partitions:
                result[member][topic] = [tp.partition for tp in share.partitions]
            granted[member] = max(granted[member], share.slots)
    fleet = fleet_slots(limits)
    return {
        member: ConsumerProtocolMemberAssignment(
            VERSION,
            sorted((topic, parts) for topic, parts in result[member].items()),
            json.dumps(
                {"slots": granted[member], "fleet_slots": fleet, "working": working}
            ).encode(),
        )
        for member in order
    }


def read_grant(user_data: bytes) -> Grant | None:
    """The grant in an assignment, or None when it carries none (or nothing readable)."""
    if not user_data:
        return None
    try:
        data = json.loads(user_data)
        return Grant(int(data["slots"]), int(data["fleet_slots"]), int(data["working"]))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring an unreadable slot grant in the assignment: %s", exc)
        return None


def _announced_limit(meta: ConsumerProtocolMemberMetadata, default: int) -> int:
    try:
        value = int(json.loads(meta.user_data)["max_concurrency"])
    except (ValueError, KeyError, TypeError):
        return default
    return value if value >= 1 else default

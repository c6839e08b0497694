"""The leader's plan of partitions and slots, and how it travels in assignments."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from aiokafka import TopicPartition
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)
from hypothesis import given
from hypothesis import strategies as st

from consumer.limits.fleet_plan import Grant, Share, plan
from consumer.limits.throttle import Throttle
from consumer.ownership.slot_assignor import assign, assignors, read_grant


def _members(count: int) -> list[str]:
    return [f"m{i}" for i in range(count)]


def _load(shares: dict[str, Share[int]]) -> Fraction:
    return max(Fraction(len(s.partitions), s.slots) for s in shares.values() if s.partitions)


@pytest.mark.parametrize(
    ("replicas", "partitions", "slots", "expected"),
    [
        (3, 6, 4, [(3, 2), (3, 2), (0, 0)]),  # the benchmark's fleet: one stands by
        (3, 8, 4, [(4, 2), (2, 1), (2, 1)]),
        (1, 8, 4, [(8, 4)]),
        (2, 24, 4, [(12, 2), (12, 2)]),
        (8, 8, 4, [(2, 1)] * 4 + [(0, 0)] * 4),  # more replicas than slots: never above 4
        (3, 2, 4, [(1, 2), (1, 2), (0, 0)]),
    ],
)
def test_plan_table(
    replicas: int, partitions: int, slots: int, expected: list[tuple[int, int]]
) -> None:
    shares = plan(_members(replicas), list(range(partitions)), slots)
    assert [(len(s.partitions), s.slots) for s in shares.values()] == expected


@given(replicas=st.integers(1, 12), partitions=st.integers(1, 48), slots=st.integers(1, 64))
def test_every_partition_once_slots_within_the_limit_and_no_worse_than_even(
    replicas: int, partitions: int, slots: int
) -> None:
    shares = plan(_members(replicas), list(range(partitions)), slots)
    owned = [p for s in shares.values() for p in s.partitions]
    assert sorted(owned) == list(range(partitions))
    assert sum(s.slots for s in shares.values()) <= slots
    assert all((s.slots >= 1) == bool(s.partitions) for s in shares.values())
    # Never worse than splitting the partitions evenly with the proportional floor rule
    # (where that rule keeps within the limit: no more working replicas than slots).
    working = min(replicas, partitions)
    if working > slots:
        return
    floor_rule = max(
        Fraction(n, max(1, slots * n // partitions))
        for n in {partitions // working, -(-partitions // working)}
    )
    assert _load(shares) <= floor_rule


def test_a_plan_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        plan(["m0"], [0], 0)


class _Cluster:
    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self._partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._partitions.get(topic)


def _metadata(limit: int | None) -> ConsumerProtocolMemberMetadata:
    user_data = b"" if limit is None else json.dumps({"max_concurrency": limit}).encode()
    return ConsumerProtocolMemberMetadata(0, ["leads"], user_data)


def test_the_leader_grants_by_the_lowest_announced_limit() -> None:
    members = {"b": _metadata(8), "a": _metadata(2), "c": _metadata(None)}
    result = assign(_Cluster({"leads": set(range(4))}), members, own_limit=6)
    grants = {m: read_grant(a.user_data) for m, a in result.items()}
    assert {g.fleet_slots for g in grants.values() if g is not None} == {2}
    assert sum(g.slots for g in grants.values() if g is not None) == 2
    parts = sorted(p for a in result.values() for p in a.partitions())
    assert parts == [TopicPartition("leads", p) for p in range(4)]


def test_an_assignment_without_a_readable_grant_gives_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert read_grant(b"") is None
    assert read_grant(b"{not json") is None
    assert read_grant(json.dumps({"slots": 1}).encode()) is None
    assert "unreadable slot grant" in caplog.text


def test_each_strategy_reports_what_it_granted() -> None:
    heard: list[Grant | None] = []
    slots_assignor, roundrobin = assignors(4, heard.append)
    assert (slots_assignor.name, roundrobin.name) == ("leadsync-slots", "roundrobin")
    grant = json.dumps({"slots": 2, "fleet_slots": 4, "working": 2}).encode()
    slots_assignor.on_assignment(ConsumerProtocolMemberAssignment(0, [("leads", [0])], grant))
    roundrobin.on_assignment(ConsumerProtocolMemberAssignment(0, [("leads", [0])], b""))
    assert heard == [Grant(2, 4, 2), None]
    assert json.loads(slots_assignor.metadata(["leads"]).user_data) == {"max_concurrency": 4}


def test_the_throttle_takes_the_granted_slots_and_the_rate_in_proportion() -> None:
    throttle = Throttle(40, 4)
    throttle.grant(Grant(slots=2, fleet_slots=4, working=2))
    throttle.apply_share(3, 6)
    assert (throttle.concurrency_ceiling, throttle.limit, throttle.rate) == (2, 2, 20)
    throttle.grant(None)  # a roundrobin generation: back to the partitions' share
    throttle.apply_share(2, 6)
    assert throttle.concurrency_ceiling == 1
    assert throttle.rate == pytest.approx(40 / 3)

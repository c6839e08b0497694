"""One JoinGroup per join, whatever the number of assignors (consumer.kafka.join_once)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import aiokafka.errors as errors
import pytest
from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from consumer.kafka import join_once
from consumer.ownership.slot_assignor import assignors


class Coordinator:
    """What the rebalance asks of aiokafka's group coordinator: it answers JoinGroups."""

    def __init__(self, *codes: int) -> None:
        self.member_id = ""
        self._group_instance_id = None
        self._rebalance_timeout_ms = 30_000
        self.requests: list[Any] = []
        self._codes = list(codes)

    async def _send_req(self, request: Any) -> Any:
        self.requests.append(request)
        return SimpleNamespace(error_code=self._codes.pop(0), member_id="m-1")


def rebalance(coordinator: Coordinator) -> CoordinatorGroupRebalance:
    subscription = SimpleNamespace(topics={"leads"}, active=True)
    return CoordinatorGroupRebalance(
        coordinator, "group", 1, subscription, assignors(4, lambda grant: None), 10_000, 100
    )


async def test_a_member_offering_two_assignors_joins_with_one_request_carrying_both() -> None:
    join_once.install()
    coordinator = Coordinator(errors.GroupAuthorizationFailedError.errno)
    with pytest.raises(errors.GroupAuthorizationFailedError):
        await rebalance(coordinator).perform_group_join()
    assert len(coordinator.requests) == 1
    offered = [name for name, _ in coordinator.requests[0]._group_protocols]
    assert offered == ["leadsync-slots", RoundRobinPartitionAssignor.name]


async def test_member_id_required_sends_the_same_join_again_with_the_id() -> None:
    join_once.install()
    coordinator = Coordinator(
        errors.MemberIdRequired.errno, errors.InconsistentGroupProtocolError.errno
    )
    with pytest.raises(errors.InconsistentGroupProtocolError):
        await rebalance(coordinator).perform_group_join()
    assert [r._member_id for r in coordinator.requests] == ["", "m-1"]
    assert coordinator.requests[0]._group_protocols == coordinator.requests[1]._group_protocols


async def test_a_coordinator_that_moved_is_looked_up_again() -> None:
    join_once.install()
    coordinator = Coordinator(errors.NotCoordinatorForGroupError.errno)
    dead: list[bool] = []
    coordinator.coordinator_dead = lambda: dead.append(True)  # type: ignore[attr-defined]
    assert await rebalance(coordinator).perform_group_join() is None
    assert dead == [True]

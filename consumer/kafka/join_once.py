"""Joining the group with one JoinGroup request, not one per partition assignor.

leadsync offers two assignors (its slot planner, and roundrobin for a group
that mixes versions: ``consumer.ownership.slot_assignor``). aiokafka 0.14 sends
its JoinGroup inside the loop over the assignors, so a member sends one request
with the first protocol, then another with both: two joins where one would do.
On a broker that holds a JoinGroup a few seconds for other members (the test
broker holds each for 5 s) every start and every rebalance took twice that;
on Kafka the first, single-protocol join can even fail in a group whose other
members offer only roundrobin.

``install()`` gives aiokafka's rebalance the same join, with the request sent
once, carrying every protocol (and sent again only for KIP-394's
``MEMBER_ID_REQUIRED``, as before). The rest is aiokafka's own code path. This
reaches into ``aiokafka.consumer.group_coordinator`` (``aiokafka>=0.14,<0.15``);
tests/unit/test_join_once.py fails if a new aiokafka changes what it relies on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import errors
from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance
from aiokafka.coordinator.protocol import ConsumerProtocol
from aiokafka.protocol.group import JoinGroupRequest

log = logging.getLogger("aiokafka.consumer.group_coordinator")

_MOVED = (errors.GroupCoordinatorNotAvailableError, errors.NotCoordinatorForGroupError)
_FATAL = (
    errors.InconsistentGroupProtocolError,
    errors.InvalidSessionTimeoutError,
    errors.InvalidGroupIdError,
)


async def perform_group_join(self: Any) -> tuple[str, bytes] | None:
    """aiokafka's ``CoordinatorGroupRebalance.perform_group_join``, one request per join."""
    log.info("(Re-)joining group %s", self.group_id)
    topics = self._subscription.topics
    protocols = []
    for assignor in self._assignors:
        metadata = assignor.metadata(topics)
        protocols.append(
            (assignor.name, metadata if isinstance(metadata, bytes) else metadata.encode())
        )
    while True:
        request = JoinGroupRequest(
            self.group_id,
            self._session_timeout_ms,
            self._rebalance_timeout_ms,
            self._coordinator.member_id,
            self._coordinator._group_instance_id,
            ConsumerProtocol.PROTOCOL_TYPE,
            protocols,
        )
        log.debug("Sending JoinGroup (%s) to coordinator %s", request, self.coordinator_id)
        try:
            response = await self._coordinator._send_req(request)
        except errors.KafkaError:
            return None  # a connection error: the coordinator lookup backs off
        if not self._subscription.active:
            return None  # the subscription changed: join again
        error_type = errors.for_code(response.error_code)
        if error_type is not errors.MemberIdRequired:
            break
        self._coordinator.member_id = response.member_id
    return await _joined(self, response, error_type)


async def _joined(self: Any, response: Any, error_type: type) -> tuple[str, bytes] | None:
    """What aiokafka does with the JoinGroup's answer (unchanged)."""
    if error_type is errors.NoError:
        log.debug("Join group response %s", response)
        self._coordinator.member_id = response.member_id
        self._coordinator.generation = response.generation_id
        protocol = response.group_protocol
        log.info(
            "Joined group '%s' (generation %s) with member_id %s",
            self.group_id,
            response.generation_id,
            response.member_id,
        )
        if response.leader_id == response.member_id:
            log.info("Elected group leader -- performing partition assignments using %s", protocol)
            assignment = await self._on_join_leader(response)
        else:
            assignment = await self._on_join_follower()
        return None if assignment is None else (protocol, assignment)
    if error_type is errors.GroupLoadInProgressError:
        await asyncio.sleep(self._retry_backoff_ms / 1000)
    elif error_type is errors.UnknownMemberIdError:
        self._coordinator.reset_generation()
    elif error_type in (
        errors.GroupCoordinatorNotAvailableError,
        errors.NotCoordinatorForGroupError,
    ):
        self._coordinator.coordinator_dead()
    elif error_type in _FATAL:
        log.error("Attempt to join group failed due to fatal error: %s", error_type())
        raise error_type()
    elif error_type is errors.GroupAuthorizationFailedError:
        raise error_type(self.group_id)
    else:
        log.error("Unexpected error in join group '%s' response: %s", self.group_id, error_type())
        raise errors.KafkaError(repr(error_type()))
    return None


def install() -> None:
    """Make every consumer of this process join with one request (idempotent)."""
    CoordinatorGroupRebalance.perform_group_join = perform_group_join

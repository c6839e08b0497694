"""The unit of work in a lane, and what the lane worker may ask of its partition.

A ``Work`` item is one record taken from a partition: ready to send (``ready``),
or to be set aside (``failure``, the intake's verdict). The worker needs little
of the partition (``Claim``): whether work may still begin, to claim an offset,
and to count an item as on the wire. ``consumer.ownership.owned_partition.Partition``
is the one implementation; the seam keeps delivery free of ownership.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from aiokafka.structs import ConsumerRecord

from contracts.deadletter import Failure
from contracts.events import LeadChange
from contracts.noojee import LeadCall


@dataclass(frozen=True, slots=True)
class Ready:
    """A record that became an event and its call."""

    event: LeadChange
    request: LeadCall
    """The first call for this event alone: an insert for a create, else an update (a merge
    with later events, or a fallback, builds its own)."""


class Claim(Protocol):
    @property
    def stop(self) -> asyncio.Event:
        """Set once nothing more of the partition may begin: waits look at it."""
        ...

    @property
    def taking(self) -> bool:
        """Records are still taken (no handover under way): merging may go on."""
        ...

    def may_begin(self, offset: int) -> bool: ...

    def begin(self, offset: int) -> bool:
        """Claim ``offset`` for sending now; False when it must be left alone."""
        ...

    def sending(self) -> AbstractContextManager[None]:
        """Counts the block as on the wire (a drain waits for it)."""
        ...


@dataclass(slots=True, eq=False)
class Work:
    """One record taken into a lane: ready to send, or to be set aside (``failure``)."""

    partition: Claim
    record: ConsumerRecord[bytes, bytes]
    ready: Ready | None = None
    failure: Failure | None = None

    @property
    def offset(self) -> int:
        return int(self.record.offset)

    @property
    def event(self) -> LeadChange:
        """The event of a ready item (only ready items reach a lead's lane)."""
        if self.ready is None:
            raise ValueError(f"record at offset {self.offset} became no event")
        return self.ready.event

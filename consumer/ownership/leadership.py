"""Whether this member leads its consumer group, learned from the assignors it offers.

In Kafka's classic group protocol the leader computes every member's
assignment and hands it to the broker in its SyncGroup; no generation forms
without it. So while a rebalance is under way the leader's partitions cannot go
to anyone else before it rejoins, and its drain may finish what it began
(``consumer.ownership.handover``). aiokafka does not say who leads, but only the leader's
assignor is asked to ``assign``: ``Leadership.watch`` wraps the assignor classes
the consumer offers and notes, at the end of each join, whether this member
assigned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)


class Leadership:
    def __init__(self) -> None:
        self.leads = False
        """This member computed the assignment of the group's current generation."""
        self._assigned = False

    def watch(
        self, assignors: Iterable[type[AbstractPartitionAssignor]]
    ) -> tuple[type[AbstractPartitionAssignor], ...]:
        """The same assignors (same names, same behaviour), reporting to this watch."""
        return tuple(self._watched(assignor) for assignor in assignors)

    def joining(self) -> None:
        """A join begins (the consumer asks each assignor for its metadata)."""
        self._assigned = False

    def assigning(self) -> None:
        """This member was elected to compute the assignment."""
        self._assigned = True

    def joined(self) -> None:
        """The join completed: this member leads if it computed the assignment."""
        self.leads = self._assigned

    def _watched(self, base: type[AbstractPartitionAssignor]) -> type[AbstractPartitionAssignor]:
        watch = self

        # aiokafka calls assignors as classes (classmethods), so the wrapper is a subclass.
        class Watched(base):  # type: ignore[misc]  # an untyped base, chosen at run time
            @classmethod
            def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
                watch.joining()
                metadata: ConsumerProtocolMemberMetadata = super().metadata(topics)
                return metadata

            @classmethod
            def assign(
                cls,
                cluster: ClusterMetadata,
                members: Mapping[str, ConsumerProtocolMemberMetadata],
            ) -> dict[str, ConsumerProtocolMemberAssignment]:
                watch.assigning()
                assignments: dict[str, ConsumerProtocolMemberAssignment] = super().assign(
                    cluster, members
                )
                return assignments

            @classmethod
            def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
                watch.joined()
                super().on_assignment(assignment)

        Watched.__name__ = Watched.__qualname__ = f"Leadership{base.__name__}"
        return Watched

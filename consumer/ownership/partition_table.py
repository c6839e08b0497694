"""The partition table: every partition this process owns now, in one place.

Every assignment is a new ``Partition``, so work taken under an earlier assignment
of the same partition can never mark offsets done under a later one (aiokafka's
eager rebalances revoke and re-assign every partition each time). Only the table
adds or releases partitions; the rest asks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from aiokafka import TopicPartition

from consumer.ownership.owned_partition import Partition


class PartitionTable:
    """The partitions this process owns now, by ``TopicPartition``."""

    __slots__ = ("_partitions",)

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, Partition] = {}

    def assign(
        self,
        tps: Iterable[TopicPartition],
        *,
        ready_at: float = 0.0,
        alive: Callable[[], bool] = lambda: True,
        loaded: bool = True,
    ) -> list[Partition]:
        """Own ``tps`` from now on, each as a new ``Partition`` (a partition owned
        already is released first: work of the old assignment counts no more)."""
        added = []
        for tp in tps:
            old = self._partitions.pop(tp, None)
            if old is not None:
                old._release()
            partition = Partition(tp, ready_at=ready_at, alive=alive, loaded=loaded)
            self._partitions[tp] = partition
            added.append(partition)
        return added

    def release(self, partition: Partition) -> bool:
        """Forget ``partition``; False when it was not the current one (already released)."""
        if self._partitions.get(partition.tp) is not partition:
            return False
        del self._partitions[partition.tp]
        partition._release()
        return True

    def release_all(self) -> list[Partition]:
        released = list(self._partitions.values())
        for partition in released:
            self.release(partition)
        return released

    def fence_all(self) -> None:
        for partition in self._partitions.values():
            partition.fence()

    def is_current(self, partition: Partition) -> bool:
        return self._partitions.get(partition.tp) is partition

    def get(self, tp: TopicPartition) -> Partition | None:
        return self._partitions.get(tp)

    def done(self, partition: Partition, offset: int) -> None:
        """``offset`` of ``partition`` was applied or dead-lettered. Ignored for a released
        partition: work that outlived its revocation must not mark the next owner's."""
        if partition.offsets is not None and self._partitions.get(partition.tp) is partition:
            partition.offsets.done(offset)
            partition.changes += 1

    # -- commits -----------------------------------------------------------------

    def commit_offsets(self) -> dict[TopicPartition, int]:
        """What to commit: only the partitions whose commit point moved since the last."""
        offsets = {}
        for tp, partition in self._partitions.items():
            tracked = partition.offsets
            offset = None if tracked is None else tracked.committable()
            if offset is not None:
                offsets[tp] = offset
        return offsets

    def mark_committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Record a successful commit; partitions released in the meantime are ignored."""
        for tp, offset in offsets.items():
            partition = self._partitions.get(tp)
            if partition is not None and partition.offsets is not None:
                partition.offsets.mark_committed(offset)

    # -- reading --------------------------------------------------------------------

    @property
    def pending_total(self) -> int:
        """Unfinished events over every owned partition."""
        return sum(partition.pending for partition in self._partitions.values())

    def pending(self, tp: TopicPartition) -> int:
        partition = self._partitions.get(tp)
        return 0 if partition is None else partition.pending

    def ahead(self, tp: TopicPartition) -> int:
        partition = self._partitions.get(tp)
        return 0 if partition is None else partition.ahead

    @property
    def tps(self) -> frozenset[TopicPartition]:
        return frozenset(self._partitions)

    def __iter__(self) -> Iterator[Partition]:
        return iter(list(self._partitions.values()))

    def __len__(self) -> int:
        return len(self._partitions)

    def __contains__(self, tp: object) -> bool:
        return tp in self._partitions


def names(tps: Iterable[TopicPartition]) -> str:
    """Partitions as the logs name them: ``topic[3], topic[7]`` (or ``none``)."""
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)) or "none"

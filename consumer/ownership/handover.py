"""Handing partitions over (a revoke, a shutdown): what may still begin, and when it is done.

A partition's events must never be sent by two processes at once: a lead's
calls would overlap at the PBX and its updates could land out of order. Kafka
has a barrier for this: a new generation forms only once every member has
rejoined (or ``rebalance_timeout_ms`` passed), and a member rejoins only when its
revoke callback returns. Not every broker has it. Tansu, the test broker,
answers a JoinGroup at once with every member it knows, rejoined or not, so a
generation forms as soon as the *leader* has rejoined and sent the assignment;
a member still draining in its revoke callback keeps sending while the
partitions' new owner starts again from their committed offsets (fault
scenario 4). So leadsync does not rely on the barrier:

- **Fenced drain.** Once a handover is under way a member begins nothing more:
  only the calls already on the wire finish, the rest is left for the next
  owner. With the progress topic (``LEADSYNC_PROGRESS``, the default) every
  handover is fenced, a rebalance or a SIGTERM, at the leader as at a follower:
  the events finished above the first unfinished one are written to the progress
  topic before the partition is released, and the next owner skips them, so a
  fenced drain sends nothing twice and hands over in the time of the calls on
  the wire.
- **Full drain** (progress off). Everything up to the highest offset begun
  finishes before the commit, so nothing is sent twice, where that is safe: on
  SIGTERM while no rebalance is under way, and on a revoke at the group's leader
  (no generation forms before the leader rejoins; ``consumer.ownership.leadership``).
  A follower's revoke is fenced, and what it finished above its first unfinished
  event is sent again by the next owner.
- **Handover wait.** A member hears of a rebalance only at its next heartbeat. A
  new owner therefore takes nothing of a partition for ``HANDOVER_S`` (one
  heartbeat interval and a margin) after the assignment: by then every former
  owner has heard of the rebalance and fenced itself, and the calls it had on
  the wire have ended (the PBX answers in well under the margin; a call held
  longer, near its 60 s queue limit, is the one case this cannot cover).

The decisions are pure functions; ``Drainer`` carries them out on the lanes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiokafka import TopicPartition

from consumer.delivery.breaker import Breaker
from consumer.delivery.lanes import Lanes
from consumer.delivery.work import Work
from consumer.kafka.clients import HEARTBEAT_INTERVAL_MS
from consumer.ownership.owned_partition import Partition
from consumer.ownership.partition_table import PartitionTable, names

log = logging.getLogger(__name__)

DRAIN_POLL_S = 0.02
HANDOVER_MARGIN_S = 1.0
"""Beyond one heartbeat interval: the heartbeat's round trip, a busy event loop, and
the calls a former owner had on the wire when it heard of the rebalance."""
HANDOVER_S = HEARTBEAT_INTERVAL_MS / 1000 + HANDOVER_MARGIN_S
"""How long a new owner waits after an assignment before it takes a partition's records."""


def fences(*, rebalancing: bool, leads_group: bool, finished_survives: bool = False) -> bool:
    """Whether a drain must begin nothing more (and only let calls on the wire finish).

    When finished work survives the handover (the progress topic), a fence costs
    nothing and ends the handover soonest. Otherwise: during a rebalance every member
    but the leader may see its partitions owned by another before its revoke callback
    returns; a shutdown drain with no rebalance under way, and the leader's, are
    safe to finish what they began, so nothing finished is sent twice.
    """
    return finished_survives or (rebalancing and not leads_group)


def drained(
    *, fenced: bool, sending: int, first_unfinished: int | None, highest_begun: int
) -> bool:
    """Whether a partition's drain is done.

    Fenced: when no call is on the wire any more. Otherwise: when every event up
    to the highest offset begun has finished, so the commit covers all that was
    applied and the next owner sends nothing twice.
    """
    if sending > 0:
        return False
    return fenced or first_unfinished is None or first_unfinished > highest_begun


class Drainer:
    """Releases partitions: fences, drains, commits, forgets; abandons what is left."""

    def __init__(
        self,
        *,
        table: PartitionTable,
        lanes: Lanes[Work],
        breaker: Breaker,
        commit: Callable[[Iterable[TopicPartition]], Awaitable[object]],
        timeout_s: float,
        failed: Callable[[], bool],
        leads_group: Callable[[], bool],
        persist: Callable[[Sequence[Partition]], Awaitable[object]] | None = None,
    ) -> None:
        """``commit``: commit these partitions now (``consumer.intake.committer``);
        ``failed``: a fatal error ended all work (stop waiting); ``leads_group``: this
        member computed the group's current assignment; ``persist``: write these
        partitions' progress (``consumer.ownership.progress_log``), None when off."""
        self._table = table
        self._lanes = lanes
        self._breaker = breaker
        self._commit = commit
        self.timeout_s = timeout_s
        self._failed = failed
        self._leads_group = leads_group
        self._persist = persist

    async def revoke(self, revoked: Iterable[TopicPartition]) -> None:
        """The rebalance callback: fence unless this member leads, then release."""
        partitions = [p for tp in revoked if (p := self._table.get(tp)) is not None]
        fenced = fences(
            rebalancing=bool(partitions),
            leads_group=self._leads_group(),
            finished_survives=self._persist is not None,
        )
        how = "only calls on the wire finish" if fenced else "group leader: finishing what began"
        log.info(
            "partitions revoked: %s%s",
            names(p.tp for p in partitions),
            f" ({how})" if partitions else "",
        )
        if fenced:
            # Possibly another member's before this callback returns: begin nothing
            # more, also if a shutdown is draining them already.
            self.fence(partitions)
        await self.release(partitions)

    async def release(self, partitions: Sequence[Partition]) -> None:
        """Drain, commit and forget these partitions (a revoke, or shutdown).

        A revoke may come while a shutdown drains the same partitions: both wait,
        and whichever finishes first commits and forgets them.
        """
        if not partitions:
            return
        if self._persist is not None:
            self.fence(partitions)  # what finished survives: nothing more need begin
        await self.drain(partitions)
        current = [p for p in partitions if self._table.is_current(p)]
        if current and self._persist is not None:
            await self._persist(current)
        if current:
            await self._commit(p.tp for p in current)
        for partition in partitions:
            # After the commit: the other release may have forgotten it meanwhile.
            self._table.release(partition)

    def fence(self, partitions: Iterable[Partition]) -> None:
        """Begin nothing more of these partitions; calls on the wire still finish."""
        fenced = {p for p in partitions if p.fence()}
        if not fenced:
            return
        self._breaker.wake_all()  # callers waiting out an outage look at their stop
        self._lanes.drop(lambda w: w.partition in fenced)

    def is_drained(self, partition: Partition) -> bool:
        current = self._table.is_current(partition)
        return drained(
            fenced=partition.stop.is_set(),
            sending=partition.on_the_wire,
            # Released already (by a concurrent release): nothing of it can finish.
            first_unfinished=partition.first_unfinished() if current else None,
            highest_begun=partition.highest_begun,
        )

    async def drain(self, partitions: Sequence[Partition]) -> None:
        """Wait until these partitions are drained (or the deadline, a fatal error), then
        abandon what is left of them: it stays uncommitted."""
        releasing = set(partitions)
        for partition in partitions:
            partition.drain()
        self._lanes.drop(lambda w: w.partition in releasing and not w.partition.may_begin(w.offset))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        outage = False
        while not self._failed():
            if all(self.is_drained(p) for p in partitions):
                break
            if self._breaker.is_open and not outage:
                # Nothing more begins, but calls on the wire run to their end: a PBX
                # that is slow rather than gone (a streak of read timeouts opens the
                # breaker too) may still apply them, and the next owner's calls for
                # the same leads must not overlap them or overtake them.
                outage = True
                log.warning(
                    "PBX unavailable while draining: beginning nothing more; calls on the "
                    "wire finish, the rest stays uncommitted for the next owner"
                )
                self.fence(partitions)
            if loop.time() >= deadline:
                log.warning(
                    "drain deadline (%.0f s) passed with %d partitions unfinished; "
                    "their remaining events are left uncommitted for the next owner",
                    self.timeout_s,
                    sum(not self.is_drained(p) for p in partitions),
                )
                break
            await asyncio.sleep(DRAIN_POLL_S)
        self.abandon(releasing)
        await asyncio.sleep(0)  # let cancelled calls unwind before the final commit

    def abandon(self, partitions: Iterable[Partition]) -> None:
        """End all work of these partitions now; what is unfinished stays uncommitted."""
        gone = set(partitions)
        for partition in gone:
            partition.fence()
        self._breaker.wake_all()
        self._lanes.abandon_running(lambda w: w.partition in gone)
        self._lanes.drop(lambda w: w.partition in gone)

"""The running service: intake → per-lead lanes → throttle → PBX → done or dead letter.

Nothing is lost because an offset is committed only below the lowest event that
is not yet applied or dead-lettered (``consumer.ownership.offsets``). Memory
stays bounded because intake pauses once ``MAX_IN_FLIGHT`` events are unfinished,
and a partition stops taking records once ``MAX_AHEAD_PER_PARTITION`` of its
events are taken and not committed (``consumer.intake.backpressure``).

``Pipeline`` coordinates parts that ``consumer.service`` builds and wires: it
runs the intake loop, the committer and the freeze watch; answers the group's
rebalances (the handover drains, the table takes the new assignment, the
throttle its new share); and on a stop, drains and commits. ``Stop`` is the one
switch every part may pull: a request to stop, or a fatal error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from consumer.deadletters.writer import DeadLetterWriter
from consumer.delivery.breaker import Breaker
from consumer.delivery.lanes import Lanes
from consumer.delivery.work import Work
from consumer.errors import ServiceFailed
from consumer.intake.committer import Committer
from consumer.intake.loop import Intake
from consumer.limits.throttle import Throttle
from consumer.observability.counts import Counts
from consumer.observability.health import readiness
from consumer.ownership.freeze_watch import FreezeWatch
from consumer.ownership.handover import HANDOVER_S, Drainer
from consumer.ownership.partition_table import PartitionTable, names
from consumer.ownership.progress_log import ProgressLog

log = logging.getLogger(__name__)


class Stop:
    """Why the service stops: ``request()`` (a signal), or ``fail(exc)`` (a fatal error,
    after which nothing more begins and nothing more is committed)."""

    def __init__(self, table: PartitionTable, breaker: Breaker) -> None:
        self._table = table
        self._breaker = breaker
        self.requested = asyncio.Event()
        self.fatal: BaseException | None = None

    def request(self) -> None:
        self.requested.set()

    def fail(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
            log.critical("stopping: %s", exc)
        self._table.fence_all()
        self._breaker.wake_all()  # callers waiting out an outage look at their stop
        self.requested.set()

    @property
    def failed(self) -> bool:
        return self.fatal is not None


class Pipeline:
    def __init__(
        self,
        *,
        consumer: AIOKafkaConsumer,
        source_topic: str,
        table: PartitionTable,
        intake: Intake,
        lanes: Lanes[Work],
        handover: Drainer,
        committer: Committer,
        throttle: Throttle,
        breaker: Breaker,
        dead_letters: DeadLetterWriter,
        counts: Counts,
        stop: Stop,
        session_s: float,
        on_ceiling_changed: Callable[[], None] | None = None,
        health_port: int | None = None,
        progress: ProgressLog | None = None,
        progress_interval_s: float = 0.1,
    ) -> None:
        """``on_ceiling_changed``: told after the throttle's share changed (the adaptive
        limit rescales); ``session_s``: the group session a freeze is measured against;
        ``progress``: persists finished offsets (None: ``LEADSYNC_PROGRESS=false``)."""
        self._consumer = consumer
        self._source_topic = source_topic
        self._table = table
        self._intake = intake
        self._lanes = lanes
        self._handover = handover
        self._committer = committer
        self._throttle = throttle
        self._breaker = breaker
        self._dead_letters = dead_letters
        self.counts = counts
        self._stop = stop
        self._on_ceiling_changed = on_ceiling_changed
        self._progress = progress
        self._progress_interval_s = progress_interval_s
        self._joined = False
        """Whether the group gave this process an assignment yet (perhaps of none)."""
        self.freeze_watch = FreezeWatch(
            session_s,
            on_frozen=lambda: intake.fence_after_freeze(
                "this process was frozen past the session timeout"
            ),
            after_quiet_session=self._readopt,
        )
        self.health_port = health_port
        """Where ``/livez``, ``/readyz`` and ``/metrics`` answer."""

    # -- public ---------------------------------------------------------------

    @property
    def fatal(self) -> BaseException | None:
        return self._stop.fatal

    @property
    def in_flight(self) -> int:
        """Events taken from Kafka and not yet applied or dead-lettered."""
        return self._table.pending_total

    @property
    def assigned(self) -> frozenset[TopicPartition]:
        return self._table.tps

    def readiness(self) -> tuple[bool, list[str]]:
        """``/readyz``: partitions assigned, PBX breaker closed, dead letters writable."""
        assigned = len(self._table) if self._joined else None
        return readiness(assigned, self._breaker.state, self._dead_letters.connected)

    def lag(self) -> dict[TopicPartition, int]:
        return self._intake.lag()

    def request_stop(self) -> None:
        self._stop.request()

    def listener(self) -> ConsumerRebalanceListener:
        return _Rebalance(self)

    async def run(self) -> None:
        """Consume until ``request_stop()``; then drain, commit and return.

        Raises the fatal error that stopped it (``CredentialsRefused``, ...), after
        stopping all work and committing nothing more.
        """
        tasks = [
            self._supervised(self._committer.run(), "committer"),
            self._supervised(self.freeze_watch.run(), "freeze watch"),
        ]
        if self._progress is not None:
            persisting = self._progress.run(self._table, self._progress_interval_s)
            tasks.append(self._supervised(persisting, "progress writer"))
        try:
            await self._intake.run(self._stop.requested)
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self._stop.fatal is None:
                await self._handover.release(list(self._table))
            else:
                self._table.fence_all()
                await self._lanes.cancel_all()
        if self._stop.fatal is not None:
            raise self._stop.fatal

    def _supervised(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task that runs for the service's life: its end by an exception stops the service
        (a committer that died silently would leave every offset uncommitted)."""
        task = asyncio.create_task(work, name=name)

        def ended(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                log.critical("the %s failed", name, exc_info=exc)
                self._stop.fail(ServiceFailed(f"the {name} failed: {type(exc).__name__}: {exc}"))

        task.add_done_callback(ended)
        return task

    # -- rebalances ---------------------------------------------------------------

    async def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._handover.revoke(revoked)

    def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._joined = True
        self._intake.new_generation()
        self.freeze_watch.rebalanced()
        self._table.assign(
            assigned,
            ready_at=time.monotonic() + HANDOVER_S,
            alive=self.freeze_watch.alive,
            loaded=self._progress is None,  # else: nothing is taken before progress is read
        )
        total = self._consumer.partitions_for_topic(self._source_topic) or set()
        self._throttle.apply_share(len(self._table), max(1, len(total)))
        if self._on_ceiling_changed is not None:
            self._on_ceiling_changed()
        if not self._table:
            # The leader plans no more working replicas than the PBX has slots for.
            log.info(
                "partitions assigned: none (share: none; standing by: the group's leader"
                " found no PBX slots this replica would add throughput with)"
            )
            return
        log.info(
            "partitions assigned: %s (share: %.3g calls/s, %d at once)",
            names(self._table.tps),
            self._throttle.rate,
            self._throttle.limit,
        )

    async def _readopt(self) -> None:
        """Still a member after a freeze: take the same partitions up where they stopped."""
        owned = self._intake.resume_after_freeze()
        if not owned:
            return
        self.on_assigned(owned)
        log.warning("still a member after the freeze: resuming %s where they stopped", names(owned))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._pipeline.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._pipeline.on_assigned(assigned)

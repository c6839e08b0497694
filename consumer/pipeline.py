"""The service: Kafka intake → per-lead lanes → throttle → PBX → done or dead letter.

Nothing is lost because an offset is committed only below the lowest event that
is not yet applied or dead-lettered (``offsets.OffsetTracker``). Memory stays
bounded because intake pauses every partition once ``MAX_IN_FLIGHT`` events are
unfinished, and a partition stops taking records once ``MAX_AHEAD_PER_PARTITION``
of its events are taken and not committed, which bounds what a crash can make us
send twice (``flow``). Revokes and shutdown hand partitions over in ``draining``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumer.deadletters.writer import DeadLetterWriter
from consumer.delivery.attempts import Delivery
from consumer.delivery.internal_errors import InternalErrors
from consumer.delivery.lanes import Lanes
from consumer.delivery.worker import Applier
from consumer.errors import ServiceFailed
from consumer.intake.backpressure import FlowControl
from consumer.intake.offsets import OffsetTracker
from consumer.intake.preparing import Ready, RecordPreparer
from consumer.kafka.clients import COMMIT_TIMEOUT_S, SESSION_TIMEOUT_MS, commit_bounded
from consumer.observability.counts import Progress
from consumer.observability.health import readiness
from consumer.observability.telemetry import Telemetry
from consumer.ownership.freeze_watch import FreezeWatch
from consumer.ownership.handover import HANDOVER_S, Drainer
from consumer.ownership.partitions import Assignment, Work, names
from consumer.settings import Settings
from contracts.formats import DecoderConfig, Skip
from contracts.request import RequestDefaults

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 100


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        delivery: Delivery,
        decoder: DecoderConfig,
        *,
        version: str,
        telemetry: Telemetry,
        leads_group: Callable[[], bool] = lambda: False,
    ) -> None:
        """``leads_group``: whether this member computed the group's current assignment
        (``consumer.ownership.leadership``); a revoke at the leader may finish what it began."""
        self.settings = settings
        self._consumer = consumer
        self._delivery = delivery
        self.progress = Progress()
        self._dead_letters = DeadLetterWriter(
            producer,
            settings.dead_letter_topic,
            settings.group_id,
            version,
            on_omitted=telemetry.metrics.dead_letter_omitted,
        )
        defaults = RequestDefaults(
            template_id=settings.noojee_template_id,
            campaign_id=settings.noojee_campaign_id,
            allocation_id=settings.noojee_allocation_id,
            timezone=settings.timezone,
            phone_fields=settings.noojee_phone_fields,
        )
        self._prepare = RecordPreparer(decoder, defaults)
        self.internal_errors = InternalErrors(settings.max_consecutive_internal_errors)
        self._applier = Applier(
            delivery=delivery,
            dead_letters=self._dead_letters,
            defaults=defaults,
            progress=self.progress,
            done=self._done,
            fail=self._fail,
            coalesce=settings.coalesce,
            telemetry=telemetry,
            internal_errors=self.internal_errors,
        )
        self._assignments: dict[TopicPartition, Assignment] = {}
        self._joined = False
        """Whether the group gave this process an assignment yet (perhaps of none)."""
        self._tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        # The applier turns every exception of an item into a dead letter; one that
        # escapes it (writing that dead letter failed unexpectedly) stops the service.
        self._lanes: Lanes[Work] = Lanes(
            self._applier.process, on_error=lambda _, exc: self._fail(exc)
        )
        self._applier.lanes = self._lanes
        self._drainer = Drainer(
            owned=self._assignments,
            tracker=self._tracker,
            lanes=self._lanes,
            breaker=delivery.breaker,
            commit=self._commit,
            timeout_s=settings.drain_timeout_s,
            failed=lambda: self.fatal is not None,
            leads_group=leads_group,
        )
        self._resume_at: dict[TopicPartition, int] = {}
        """Where fetching resumes if this process keeps its partitions after a freeze."""
        self._flow = FlowControl(settings.max_in_flight, settings.max_ahead_per_partition)
        self._stopping = asyncio.Event()
        self.fatal: BaseException | None = None
        self.freeze_watch = FreezeWatch(
            SESSION_TIMEOUT_MS / 1000,
            on_frozen=lambda: self._forget_partitions(
                "this process was frozen past the session timeout"
            ),
            after_quiet_session=self._readopt,
        )
        self.health_port: int | None = None
        """Where ``/livez``, ``/readyz`` and ``/metrics`` answer (set by the service)."""
        telemetry.metrics.observe_gauges(
            in_flight=lambda: self.in_flight,
            breaker=lambda: delivery.breaker.state,
            lag=self.lag,
            rate_share=lambda: delivery.throttle.rate,
            concurrency_share=lambda: delivery.throttle.concurrency_ceiling,
            concurrency_limit=lambda: delivery.throttle.limit,
            coalesced=lambda: self.progress.coalesced,
        )

    # -- public ---------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Events taken from Kafka and not yet applied or dead-lettered."""
        return self._tracker.pending_total

    @property
    def assigned(self) -> frozenset[TopicPartition]:
        return frozenset(self._assignments)

    def readiness(self) -> tuple[bool, list[str]]:
        """``/readyz``: partitions assigned, PBX breaker closed, dead letters writable."""
        assigned = len(self._assignments) if self._joined else None
        return readiness(assigned, self._delivery.breaker.state, self._dead_letters.connected)

    def lag(self) -> dict[TopicPartition, int]:
        """Per owned partition: records from the first unfinished one to the end.

        Partitions whose end or position is not known yet (nothing fetched since
        the assignment) are left out rather than reported as 0.
        """
        lags = {}
        for tp, assignment in list(self._assignments.items()):
            end = self._consumer.highwater(tp)
            first = self._tracker.first_unfinished(tp)
            position = first if first is not None else assignment.next_offset
            if end is not None and position is not None:
                lags[tp] = max(0, end - position)
        return lags

    def request_stop(self) -> None:
        self._stopping.set()

    def listener(self) -> ConsumerRebalanceListener:
        return _Rebalance(self)

    async def run(self) -> None:
        """Consume until ``request_stop()``; then drain, commit and return.

        Raises ``CredentialsRefused`` (after stopping all work, committing nothing
        more) when the PBX refused the API key.
        """
        committer = self._supervised(self._commit_every_interval(), "committer")
        watchdog = self._supervised(self.freeze_watch.run(), "freeze watch")
        try:
            await self._intake()
        finally:
            for task in (committer, watchdog):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self.fatal is None:
                await self._drainer.release(list(self._assignments.values()))
            else:
                for assignment in self._assignments.values():
                    assignment.stop.set()
                await self._lanes.cancel_all()
        if self.fatal is not None:
            raise self.fatal

    def _supervised(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task that runs for the service's life: its end by an exception stops the service
        (a committer that died silently would leave every offset uncommitted)."""
        task = asyncio.create_task(work, name=name)

        def ended(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                log.critical("the %s failed", name, exc_info=exc)
                self._fail(ServiceFailed(f"the {name} failed: {type(exc).__name__}: {exc}"))

        task.add_done_callback(ended)
        return task

    # -- intake -----------------------------------------------------------------

    async def _intake(self) -> None:
        breaker = self._delivery.breaker
        while not self._stopping.is_set():
            # While the PBX is down the backlog waits in Kafka, not in memory; a new
            # owner waits out the handover before it takes anything.
            now = time.monotonic()
            self._flow.held = {
                tp
                for tp, assignment in self._assignments.items()
                if breaker.is_open or not assignment.handed_over(now)
            }
            room = self._flow.apply(self._consumer, self._assignments, self._tracker)
            batch = await self._consumer.getmany(
                timeout_ms=POLL_TIMEOUT_MS, max_records=max(1, room)
            )
            now = time.monotonic()
            for tp, records in batch.items():
                assignment = self._assignments.get(tp)
                if assignment is None:
                    # Not ours to take now (fenced after a freeze): never skipped, so
                    # fetched again if the partition is kept.
                    if records and tp in self._consumer.assignment():
                        self._consumer.seek(tp, records[0].offset)
                    continue
                for record in records:
                    if not assignment.taking:
                        break
                    if not (assignment.handed_over(now) and self._flow.may_take(self._tracker, tp)):
                        # Fetched before the pause took effect: fetched again on resume.
                        self._consumer.seek(tp, record.offset)
                        break
                    self._take(assignment, record)

    def _take(self, assignment: Assignment, record: ConsumerRecord[bytes, bytes]) -> None:
        tp = assignment.tp
        if tp not in self._tracker:
            self._tracker.assign(tp, record.offset)
        self._tracker.started(tp, record.offset)
        assignment.next_offset = record.offset + 1
        self.progress.taken += 1
        prepared = self._prepare(record)
        if isinstance(prepared, Ready):
            self._lanes.submit(prepared.event.lead_id, Work(assignment, record, ready=prepared))
        elif isinstance(prepared, Skip):
            self.progress.skipped += 1
            self._done(assignment, record.offset)
        else:
            # Its own lane: a record that became no event holds no lead back.
            self._lanes.submit((tp, record.offset), Work(assignment, record, failure=prepared))

    # -- self-fencing after a freeze ---------------------------------------------------

    def _forget_partitions(self, why: str) -> None:
        if not self._assignments:
            return
        log.warning(
            "%s: abandoning %s uncommitted; the group's new owners resume them",
            why,
            names(self._assignments),
        )
        for tp, assignment in self._assignments.items():
            # Kept after all (no rebalance followed), the partition resumes here: the
            # first unfinished offset, or the first not taken. Nothing fetched while
            # fenced is skipped, whether or not a commit exists.
            resume = self._tracker.first_unfinished(tp)
            if resume is None:
                resume = assignment.next_offset
            if resume is not None:
                self._resume_at[tp] = resume
            self._tracker.revoke(tp)
        self._consumer.pause(*(set(self._assignments) & self._consumer.assignment()))
        self._drainer.abandon(self._assignments.values())
        self._assignments.clear()
        self._flow.reset()

    async def _readopt(self) -> None:
        """Still a member after a freeze: take the same partitions up where they stopped."""
        owned = [tp for tp in self._consumer.assignment() if tp.topic == self.settings.source_topic]
        resume, self._resume_at = self._resume_at, {}
        if not owned:
            return
        for tp in owned:
            if tp in resume:
                self._consumer.seek(tp, resume[tp])
        self._consumer.resume(*owned)
        resume.clear()
        self.on_assigned(owned)
        log.warning("still a member after the freeze: resuming %s where they stopped", names(owned))

    def _done(self, assignment: Assignment, offset: int) -> None:
        # A stale assignment (revoked meanwhile) must not mark the new owner's offsets.
        if self._assignments.get(assignment.tp) is assignment:
            self._tracker.done(assignment.tp, offset)

    def _fail(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
            log.critical("stopping: %s", exc)
        for assignment in self._assignments.values():
            assignment.stop.set()
        self._delivery.breaker.wake_all()
        self._stopping.set()

    # -- commits, rebalances, shutdown -----------------------------------------------

    async def _commit_every_interval(self) -> None:
        while True:
            await asyncio.sleep(self.settings.commit_interval_s)
            await self._commit()

    async def _commit(self, only: Iterable[TopicPartition] | None = None) -> None:
        if self.fatal is not None:
            return  # after a fatal error nothing more is committed
        offsets = self._tracker.commit_offsets()
        if only is not None:
            wanted = set(only)
            offsets = {tp: offset for tp, offset in offsets.items() if tp in wanted}
        if offsets and await commit_bounded(self._consumer, offsets, COMMIT_TIMEOUT_S):
            self._tracker.mark_committed(offsets)

    async def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._drainer.revoke(revoked)

    def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._joined = True
        self._resume_at.clear()  # a new generation resumes from the commits
        self.freeze_watch.rebalanced()
        ready_at = time.monotonic() + HANDOVER_S
        for tp in assigned:
            self._assignments[tp] = Assignment(tp, alive=self.freeze_watch.alive, ready_at=ready_at)
        self._flow.reset()
        total = self._consumer.partitions_for_topic(self.settings.source_topic) or set()
        self._delivery.throttle.apply_share(len(self._assignments), max(1, len(total)))
        if self._delivery.on_ceiling_changed is not None:
            self._delivery.on_ceiling_changed()
        if not self._assignments:
            # The leader plans no more working replicas than the PBX has slots for.
            log.info(
                "partitions assigned: none (share: none; standing by: the group's leader"
                " found no PBX slots this replica would add throughput with)"
            )
            return
        log.info(
            "partitions assigned: %s (share: %.3g calls/s, %d at once)",
            names(self._assignments),
            self._delivery.throttle.rate,
            self._delivery.throttle.limit,
        )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._pipeline.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._pipeline.on_assigned(assigned)

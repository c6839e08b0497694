"""Applying one lane item: merge what waits behind it, send, then mark done or dead-letter.

Each item ends in exactly one of three ways: applied (offsets done), dead-lettered
(offsets done once the broker acknowledged the dead letter), or abandoned
(offsets left unfinished for the partition's next owner).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from aiokafka.structs import ConsumerRecord
from opentelemetry.trace import Span

from consumer.assignment import Assignment, Work
from consumer.coalesce import can_join, merge
from consumer.deadletters import DeadLetterWriter, Failure
from consumer.delivery import CredentialsRefused, Delivered, Delivery, Undeliverable
from consumer.lanes import Lanes
from consumer.progress import Progress
from consumer.telemetry import Telemetry
from contracts.deadletter import DeadLetterReason
from contracts.noojee import UpdateLeadFast
from contracts.request import RequestDefaults, RequestError, build_update_lead_fast

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Applier:
    delivery: Delivery
    dead_letters: DeadLetterWriter
    defaults: RequestDefaults
    progress: Progress
    done: Callable[[Assignment, int], None]
    fail: Callable[[BaseException], None]
    coalesce: bool
    telemetry: Telemetry
    lanes: Lanes[Work] | None = None
    """Where waiting items are taken from to coalesce (set once the lanes exist)."""

    async def process(self, work: Work) -> None:
        assignment = work.assignment
        if not assignment.may_begin(work.offset):
            return  # left unfinished for the partition's next owner
        # The span covers every attempt, every wait and the dead letter.
        with self.telemetry.event_span(
            work.record, event_id=work.event.event_id, lead_id=work.event.lead_id
        ) as span:
            await self._apply(work, span)

    async def _apply(self, work: Work, span: Span) -> None:
        assignment = work.assignment
        group = [work]
        begun = False

        def prepare() -> UpdateLeadFast | None:
            nonlocal begun
            if self.coalesce and assignment.taking:
                self._absorb(group)
            if not assignment.begin(group[-1].offset):
                return None
            if not begun:  # from the first call on the wire until the item is settled
                begun = True
                assignment.sending += 1
            return build_update_lead_fast(merge([w.event for w in group]), self.defaults)

        try:
            await self._deliver(group, prepare, span)
        finally:
            if begun:
                assignment.sending -= 1

    async def _deliver(
        self, group: list[Work], prepare: Callable[[], UpdateLeadFast | None], span: Span
    ) -> None:
        assignment = group[0].assignment
        try:
            result = await self.delivery.deliver(prepare, assignment.stop)
        except RequestError as exc:
            failure = Failure(DeadLetterReason.INVALID_REQUEST, str(exc))
            await self._dead_letter_all(group, failure, span)
            return
        except CredentialsRefused as exc:
            self.fail(exc)
            return
        if isinstance(result, Delivered):
            self.progress.applied += len(group)
            self.progress.coalesced += len(group) - 1
            self.telemetry.event_applied()
            for item in group[1:]:
                with self._merged_span(item, span):
                    self.telemetry.event_applied()
            for item in group:
                self.done(assignment, item.offset)
        elif isinstance(result, Undeliverable):
            # Merged events fail together but are set aside one by one, so each can
            # be inspected and replayed on its own.
            await self._dead_letter_all(group, _failure_of(result), span)

    def _merged_span(self, item: Work, carrier: Span) -> AbstractContextManager[Span]:
        """The span of an event that rode on ``carrier``'s call (its own trace)."""
        return self.telemetry.event_span(
            item.record,
            event_id=item.event.event_id,
            lead_id=item.event.lead_id,
            coalesced_into=carrier,
        )

    def _absorb(self, group: list[Work]) -> None:
        """Move the lane's waiting items that may merge into ``group`` (in order)."""
        if self.lanes is None:
            return
        waiting = self.lanes.waiting(group[0].event.lead_id)
        events = [w.event for w in group]
        while waiting and waiting[0].assignment is group[0].assignment:
            candidate = waiting[0]
            if not can_join(events, candidate.event):
                break
            group.append(waiting.popleft())
            events.append(candidate.event)

    async def _dead_letter_all(self, group: Sequence[Work], failure: Failure, span: Span) -> None:
        assignment = group[0].assignment
        if not assignment.begin(group[-1].offset):
            return
        await self.dead_letter(assignment, group[0].record, failure)
        for item in group[1:]:
            with self._merged_span(item, span):
                await self.dead_letter(assignment, item.record, failure)

    async def set_aside(
        self, assignment: Assignment, record: ConsumerRecord[bytes, bytes], failure: Failure
    ) -> None:
        """Dead-letter a record that never became an event, in a span of its own.

        The pipeline has called ``assignment.begin(record.offset)`` for it already.
        """
        assignment.sending += 1
        try:
            with self.telemetry.event_span(record, event_id=None, lead_id=None):
                await self.dead_letter(assignment, record, failure)
        finally:
            assignment.sending -= 1

    async def dead_letter(
        self, assignment: Assignment, record: ConsumerRecord[bytes, bytes], failure: Failure
    ) -> None:
        """Write the dead letter with the current span's trace context (call it inside one)."""
        report = self.dead_letters.report(
            record, failure, traceparent=self.telemetry.current_traceparent()
        )
        if not await self.dead_letters.write(record, report, assignment.stop):
            return
        self.progress.dead_lettered[failure.reason] += 1
        self.telemetry.event_dead_lettered(failure.reason, failure.message)
        log.warning(
            "dead-lettered %s[%d]@%d: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            failure.reason,
            failure.message,
            extra={
                "lead_key": (record.key or b"").decode("utf-8", "replace"),
                "reason": failure.reason,
                "source_topic": record.topic,
                "source_partition": record.partition,
                "source_offset": record.offset,
            },
        )
        self.done(assignment, record.offset)


def _failure_of(result: Undeliverable) -> Failure:
    return Failure(
        reason=result.reason,
        message=result.message,
        code=result.code,
        http_status=result.http_status,
        response=result.body,
        attempts=result.attempts,
        first_failed_at=result.first_failed_at,
        failed_at=result.failed_at,
    )

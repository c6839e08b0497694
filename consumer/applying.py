"""Applying one lane item: merge what waits behind it, send, then mark done or dead-letter.

Each item ends in exactly one of three ways: applied (offsets done), dead-lettered
(offsets done once the broker acknowledged the dead letter), or abandoned
(offsets left unfinished for the partition's next owner).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka.structs import ConsumerRecord

from consumer.assignment import Assignment, Work
from consumer.coalesce import can_join, merge
from consumer.deadletters import DeadLetterWriter, Failure
from consumer.delivery import CredentialsRefused, Delivered, Delivery, Undeliverable
from consumer.lanes import Lanes
from consumer.progress import Progress
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
    lanes: Lanes[Work] | None = None
    """Where waiting items are taken from to coalesce (set once the lanes exist)."""

    async def process(self, work: Work) -> None:
        assignment = work.assignment
        if not assignment.may_begin(work.offset):
            return  # left unfinished for the partition's next owner
        group = [work]

        def prepare() -> UpdateLeadFast | None:
            if self.coalesce and assignment.taking:
                self._absorb(group)
            if not assignment.begin(group[-1].offset):
                return None
            return build_update_lead_fast(merge([w.event for w in group]), self.defaults)

        try:
            result = await self.delivery.deliver(prepare, assignment.stop)
        except RequestError as exc:
            await self._dead_letter_all(group, Failure(DeadLetterReason.INVALID_REQUEST, str(exc)))
            return
        except CredentialsRefused as exc:
            self.fail(exc)
            return
        if isinstance(result, Delivered):
            self.progress.applied += len(group)
            self.progress.coalesced += len(group) - 1
            for item in group:
                self.done(assignment, item.offset)
        elif isinstance(result, Undeliverable):
            # Merged events fail together but are set aside one by one, so each can
            # be inspected and replayed on its own.
            await self._dead_letter_all(group, _failure_of(result))

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

    async def _dead_letter_all(self, group: Sequence[Work], failure: Failure) -> None:
        assignment = group[0].assignment
        if not assignment.begin(group[-1].offset):
            return
        for item in group:
            await self.dead_letter(assignment, item.record, failure)

    async def dead_letter(
        self, assignment: Assignment, record: ConsumerRecord[bytes, bytes], failure: Failure
    ) -> None:
        report = self.dead_letters.report(record, failure, traceparent=None)
        if not await self.dead_letters.write(record, report, assignment.stop):
            return
        self.progress.dead_lettered[failure.reason] += 1
        log.warning(
            "dead-lettered %s[%d]@%d: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            failure.reason,
            failure.message,
            extra={"lead_key": (record.key or b"").decode("utf-8", "replace")},
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

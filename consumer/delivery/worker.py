"""Applying one lane item: merge what waits behind it, send, then mark done or dead-letter.

Each item ends in exactly one of three ways: applied (offsets done), dead-lettered
(offsets done once the broker acknowledged the dead letter), or abandoned
(offsets left unfinished for the partition's next owner). An exception leadsync
did not foresee is the third kind of dead letter, ``INTERNAL_ERROR``, never an
end of the service, unless it repeats for event after event
(``consumer.delivery.internal_errors``).
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass

from opentelemetry.trace import Span

from consumer.deadletters.writer import DeadLetterWriter
from consumer.delivery.attempts import Delivered
from consumer.delivery.coalesce import can_join, merge
from consumer.delivery.internal_errors import InternalErrors
from consumer.delivery.router import Router
from consumer.delivery.routes import Route, first_route
from consumer.delivery.work import Work
from consumer.errors import CredentialsRefused
from consumer.observability.counts import Counts
from consumer.observability.telemetry import Telemetry
from contracts.deadletter import DeadLetterReason, Failure
from contracts.insert import not_insertable
from contracts.noojee import LeadCall
from contracts.request import RequestDefaults, RequestError
from contracts.text import describe_error

log = logging.getLogger(__name__)


def event_time_s(work: Work) -> float:
    """When the applied event happened in the CRM (its ``occurred_at``), in Unix seconds."""
    return work.event.occurred_at.timestamp()


@dataclass(slots=True)
class LaneWorker:
    router: Router
    """Sends an item's calls: its first route, then the fallbacks (``routes``)."""
    dead_letters: DeadLetterWriter
    defaults: RequestDefaults
    counts: Counts
    done: Callable[[Work], None]
    """The item's offset is finished (applied or dead-lettered)."""
    fail: Callable[[BaseException], None]
    coalesce: bool
    telemetry: Telemetry
    internal_errors: InternalErrors

    async def process(self, work: Work, waiting: deque[Work]) -> None:
        """Run one lane item to its end; ``waiting`` is the lane's queue behind it, from
        which events of the same lead may merge into this call."""
        if not work.partition.may_begin(work.offset):
            return  # left unfinished for the partition's next owner
        ready = work.ready
        # The span covers every attempt, every wait and the dead letter.
        with self.telemetry.event_span(
            work.record,
            event_id=ready.event.event_id if ready else None,
            lead_id=ready.event.lead_id if ready else None,
        ) as span:
            group = [work]
            try:
                if work.failure is not None:
                    await self._set_aside(work, work.failure)
                else:
                    await self._apply(group, waiting, span)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one event's bug must not stop the sync
                await self._internal_error(group, exc, span)

    async def _apply(self, group: list[Work], waiting: deque[Work], span: Span) -> None:
        partition = group[0].partition
        first = first_route(group[0].event)
        begun = False
        built: tuple[int, Route, LeadCall] | None = None
        with ExitStack() as settled:

            def prepare(grow: bool, route: Route) -> LeadCall | None:
                nonlocal begun, built
                if grow and self.coalesce and partition.taking:
                    self._absorb(group, waiting)
                if not partition.begin(group[-1].offset):
                    return None
                if not begun:  # from the first call on the wire until the item is settled
                    begun = True
                    settled.enter_context(partition.sending())
                if len(group) == 1 and route is first:
                    return group[0].ready.request if group[0].ready else None
                if built is None or built[:2] != (len(group), route):
                    built = (len(group), route, self._call(group, waiting, route))
                return built[2]

            await self._deliver(group, prepare, first, span)

    async def _deliver(
        self,
        group: list[Work],
        prepare: Callable[[bool, Route], LeadCall | None],
        first: Route,
        span: Span,
    ) -> None:
        try:
            result = await self.router.deliver(
                prepare,
                first,
                group[0].partition.stop,
                lambda: not_insertable(merge([w.event for w in group])),
            )
        except CredentialsRefused as exc:
            self.fail(exc)
            return
        if isinstance(result, Delivered):
            self.internal_errors.finished()
            self.counts.applied += len(group)
            self.counts.coalesced += len(group) - 1
            self.telemetry.event_applied(event_time_s(group[0]))
            for item in group[1:]:
                with self._merged_span(item, span):
                    self.telemetry.event_applied(event_time_s(item))
            for item in group:
                self.done(item)
        elif isinstance(result, Failure):
            self.internal_errors.finished()
            # Merged events fail together but are set aside one by one, so each can
            # be inspected and replayed on its own.
            await self._dead_letter_all(group, result, span)

    def _call(self, group: list[Work], waiting: deque[Work], route: Route) -> LeadCall:
        """The call of ``route`` for ``group`` merged; items it cannot carry go back to the lane.

        Each event alone became a call at intake, so the head alone always does; a
        merge that cannot (a field of one clashes with a phone of another) gives back
        its latest items until it can, so no valid event fails for another's sake.
        """
        fallbacks, defaults = self.router.fallbacks, self.defaults
        while len(group) > 1:
            try:
                return fallbacks.call_for(route, merge([w.event for w in group]), defaults)
            except RequestError:
                waiting.appendleft(group.pop())
        return fallbacks.call_for(route, group[0].event, defaults)

    def _merged_span(self, item: Work, carrier: Span) -> AbstractContextManager[Span]:
        """The span of an event that rode on ``carrier``'s call (its own trace)."""
        return self.telemetry.event_span(
            item.record,
            event_id=item.event.event_id,
            lead_id=item.event.lead_id,
            coalesced_into=carrier,
        )

    def _absorb(self, group: list[Work], waiting: deque[Work]) -> None:
        """Move the lane's waiting items that may merge into ``group`` (in order)."""
        events = [w.event for w in group]
        while waiting and waiting[0].partition is group[0].partition:
            candidate = waiting[0]
            if candidate.ready is None or not can_join(events, candidate.event):
                break
            group.append(waiting.popleft())
            events.append(candidate.event)

    async def _internal_error(self, group: Sequence[Work], exc: Exception, span: Span) -> None:
        """Dead-letter the items of a failed group as ``INTERNAL_ERROR``, or stop the service
        after a run of them."""
        first = group[0].record
        log.error(
            "internal error handling %s[%d]@%d: %s",
            first.topic,
            first.partition,
            first.offset,
            describe_error(exc),
            exc_info=exc,
        )
        if self.internal_errors.failed():
            self.fail(self.internal_errors.limit_error(describe_error(exc)))
            return
        failure = Failure(
            DeadLetterReason.INTERNAL_ERROR,
            f"leadsync failed while handling this event ({describe_error(exc)}). This is a bug in "
            "leadsync, not necessarily in the event: report it with the "
            "leadsync.dlq.traceback header; replay the event once it is fixed.",
            traceback="".join(traceback.format_exception(exc)),
        )
        await self._dead_letter_all(group, failure, span)

    async def _dead_letter_all(self, group: Sequence[Work], failure: Failure, span: Span) -> None:
        partition = group[0].partition
        if not partition.begin(group[-1].offset):
            return
        with partition.sending():
            await self.dead_letter(group[0], failure)
            for item in group[1:]:
                with self._merged_span(item, span):
                    await self.dead_letter(item, failure)

    async def _set_aside(self, work: Work, failure: Failure) -> None:
        """Dead-letter a record that never became a call (intake's verdict)."""
        if not work.partition.begin(work.offset):
            return
        with work.partition.sending():
            await self.dead_letter(work, failure)
        self.internal_errors.finished()

    async def dead_letter(self, work: Work, failure: Failure) -> None:
        """Write the dead letter with the current span's trace context (call it inside one)."""
        record = work.record
        report = self.dead_letters.report(
            record, failure, traceparent=self.telemetry.current_traceparent()
        )
        if not await self.dead_letters.write(record, report, work.partition.stop):
            return
        self.counts.dead_lettered[failure.reason] += 1
        self.telemetry.event_dead_lettered(failure.reason, failure.message)
        log.warning(
            "dead-lettered %s[%d]@%d: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            failure.reason,
            failure.message,
            extra={
                "lead_key": (record.key or b"")[:200].decode("utf-8", "replace"),
                "reason": failure.reason,
                "source_topic": record.topic,
                "source_partition": record.partition,
                "source_offset": record.offset,
            },
        )
        self.done(work)

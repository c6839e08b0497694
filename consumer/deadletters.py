"""Writing dead letters: the original bytes, the reason in headers, acknowledged by all replicas.

An event's offset counts as done only once the broker acknowledged its dead
letter, so a write that fails is retried (and reported) until it succeeds or the
partition is taken away from us; it is never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from contracts.deadletter import DeadLetterReport, dead_letter_headers

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 30.0
RETRY_FIRST_S = 0.5
RETRY_CAP_S = 30.0


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an event is dead-lettered; the pipeline fills it from a delivery or a parse."""

    reason: str
    message: str
    code: int | None = None
    http_status: int | None = None
    response: str = ""
    attempts: int = 0
    first_failed_at: float | None = None
    failed_at: float | None = None


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


class DeadLetterWriter:
    def __init__(
        self, producer: AIOKafkaProducer, topic: str, consumer_group: str, version: str
    ) -> None:
        self._producer = producer
        self.topic = topic
        self._group = consumer_group
        self._version = version
        self.write_failures = 0
        self.connected = True
        """False from a failed write until the next acknowledged one (``/readyz``)."""

    def report(
        self, record: ConsumerRecord[bytes, bytes], failure: Failure, traceparent: str | None
    ) -> DeadLetterReport:
        now = time.time()
        return DeadLetterReport(
            reason=failure.reason,
            message=failure.message,
            code=failure.code,
            http_status=failure.http_status,
            response=failure.response,
            attempts=failure.attempts,
            first_failed_at=_utc(failure.first_failed_at or now),
            failed_at=_utc(failure.failed_at or now),
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            source_timestamp_ms=record.timestamp,
            consumer_group=self._group,
            version=self._version,
            traceparent=traceparent,
        )

    async def write(
        self, record: ConsumerRecord[bytes, bytes], report: DeadLetterReport, stop: asyncio.Event
    ) -> bool:
        """True once acknowledged; False only when ``stop`` was set first."""
        headers = dead_letter_headers(list(record.headers), report)
        delay = RETRY_FIRST_S
        while not stop.is_set():
            try:
                await asyncio.wait_for(
                    self._producer.send_and_wait(
                        self.topic, value=record.value, key=record.key, headers=headers
                    ),
                    timeout=SEND_TIMEOUT_S,
                )
            except (KafkaError, TimeoutError) as exc:
                self.write_failures += 1
                self.connected = False
                log.error(
                    "could not write dead letter to %s for %s[%d]@%d (%s: %s); "
                    "offset not committed, retrying in %.1f s",
                    self.topic,
                    record.topic,
                    record.partition,
                    record.offset,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    delay = min(delay * 2, RETRY_CAP_S)
                continue
            self.connected = True
            return True
        return False

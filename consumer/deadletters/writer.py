"""Writing dead letters: the original bytes, the reason in headers, acknowledged by all replicas.

An event's offset counts as done only once the broker acknowledged its dead
letter, so a write that fails is retried (and reported) until it succeeds or the
partition is taken away from us; it is never dropped. The one failure that
retrying cannot cure, a record too large for the dead-letter topic, is cured
by writing less: the value is omitted (then the key), a header says so, and the
source coordinates still point at the original.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from consumer.kafka.failures import KAFKA_ERRORS, KafkaFailure, describe, kafka_failure
from contracts.deadletter import DeadLetterReport, Failure, dead_letter_headers

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 30.0
RETRY_FIRST_S = 0.5
RETRY_CAP_S = 30.0


class DeadLetterWriter:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        consumer_group: str,
        version: str,
        *,
        on_omitted: Callable[[], None] = lambda: None,
    ) -> None:
        """``on_omitted`` counts dead letters written without their value (a metric)."""
        self._producer = producer
        self.topic = topic
        self._group = consumer_group
        self._version = version
        self._on_omitted = on_omitted
        self.write_failures = 0
        self.connected = True
        """False from a failed write until the next acknowledged one (``/readyz``)."""

    def report(
        self,
        record: ConsumerRecord[bytes, bytes],
        failure: Failure,
        traceparent: str | None,
    ) -> DeadLetterReport:
        return DeadLetterReport(
            failure=failure,
            reported_at=datetime.now(UTC),
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
        """True once acknowledged; False only when ``stop`` was set first.

        A record the topic refuses as too large is written again without its value
        (then without its key too), saying so in a header; nothing else ends the
        retries, because an offset whose dead letter was not written must not count
        as done.
        """
        shrink = _Shrinking(record, report)
        delay = RETRY_FIRST_S
        while not stop.is_set():
            key, value, headers = shrink.current()
            try:
                await asyncio.wait_for(
                    self._producer.send_and_wait(self.topic, value=value, key=key, headers=headers),
                    timeout=SEND_TIMEOUT_S,
                )
            except KAFKA_ERRORS as exc:
                failure = kafka_failure(exc)
                if failure is KafkaFailure.TOO_LARGE and shrink.smaller():
                    log.error(
                        "dead letter for %s[%d]@%d refused by %s as too large (%s); "
                        "writing it %s: the original stays in the source topic",
                        record.topic,
                        record.partition,
                        record.offset,
                        self.topic,
                        describe(exc),
                        shrink.what,
                    )
                    continue
                self.write_failures += 1
                self.connected = False
                log.error(
                    "could not write dead letter to %s for %s[%d]@%d (%s%s); "
                    "offset not committed, retrying in %.1f s",
                    self.topic,
                    record.topic,
                    record.partition,
                    record.offset,
                    describe(exc),
                    _ADVICE.get(failure, ""),
                    delay,
                )
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    delay = min(delay * 2, RETRY_CAP_S)
                continue
            self.connected = True
            if shrink.omitted:
                self._on_omitted()
            return True
        return False


_ADVICE = {
    KafkaFailure.REFUSED: "; the broker refuses this client: an operator must fix its "
    "permissions or the topic",
    KafkaFailure.TOO_LARGE: "; even without key and value it is too large: raise the "
    "topic's max.message.bytes",
}


class _Shrinking:
    """The dead letter as sent: whole, then leaving out the value, the key, the headers."""

    _PARTS = ("value", "key", "headers")

    def __init__(self, record: ConsumerRecord[bytes, bytes], report: DeadLetterReport) -> None:
        self._record = record
        self._report = report
        self._left_out: list[str] = []
        self._headers = dead_letter_headers(list(record.headers), report)

    @property
    def omitted(self) -> bool:
        return bool(self._left_out)

    def current(self) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
        record = self._record
        key = None if "key" in self._left_out else record.key
        value = None if "value" in self._left_out else record.value
        return key, value, self._headers

    def smaller(self) -> bool:
        """Leave out the next part there is; False when nothing is left to leave out."""
        record = self._record
        present = {"value": record.value, "key": record.key, "headers": record.headers}
        part = next((p for p in self._PARTS if p not in self._left_out and present[p]), None)
        if part is None:
            return False
        self._left_out.append(part)
        report = replace(
            self._report,
            value_omitted=len(record.value or b"") if "value" in self._left_out else None,
            key_omitted=len(record.key or b"") if "key" in self._left_out else None,
            headers_omitted=len(record.headers) if "headers" in self._left_out else None,
        )
        original = [] if "headers" in self._left_out else list(record.headers)
        self._headers = dead_letter_headers(original, report)
        return True

    @property
    def what(self) -> str:
        return "without its " + " and ".join(self._left_out)

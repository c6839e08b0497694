"""What the spans say: names and attributes from a Kafka record or a PBX call, no I/O.

Span layout of one event::

    process <topic>            CONSUMER, child of the producer's ``traceparent``
    ├── POST <updateLeadFast>  CLIENT, one per HTTP attempt (drawn after the fact)
    ├── (event) retry          one per retry scheduled: reason, delay, attempt
    └── POST <updateLeadFast>  ...

Attribute names follow the OpenTelemetry messaging and HTTP semantic
conventions; ``leadsync.*`` ones are ours. Every string that comes from outside
(a record key, a URL, an error message) passes through ``redact`` first: the
PBX's API key travels in the URL query and must never reach a span.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol
from urllib.parse import urlsplit

from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import StatusCode
from opentelemetry.util.types import AttributeValue

from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied, Outcome, Retry, Unavailable
from contracts.noojee import UPDATE_LEAD_FAST_PATH, Endpoint

MESSAGING_SYSTEM = "kafka"
PROCESS = "process"
HTTP_METHOD = "POST"
CALL_SPAN_NAME = f"{HTTP_METHOD} {UPDATE_LEAD_FAST_PATH}"
CALL_SPAN_NAMES = {endpoint: f"{HTTP_METHOD} {endpoint.path}" for endpoint in Endpoint}
"""The CLIENT span's name per endpoint (``CALL_SPAN_NAME`` is the update's)."""
RETRY_EVENT = "retry"
OK_REASON = "OK"

Attributes = dict[str, AttributeValue]
Redact = Callable[[str], str]
Headers = Sequence[tuple[str, bytes | None]]


class RecordLike(Protocol):
    """The parts of ``aiokafka.structs.ConsumerRecord`` a span describes."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Headers: ...


class KafkaHeadersGetter(Getter[Headers]):
    """Reads W3C trace context from Kafka record headers (``(str, bytes)`` pairs)."""

    def get(self, carrier: Headers, key: str) -> list[str] | None:
        wanted = key.lower()
        values = [
            value.decode("utf-8", "replace")
            for name, value in carrier
            if value is not None and name.lower() == wanted
        ]
        return values or None

    def keys(self, carrier: Headers) -> list[str]:
        return [name for name, _ in carrier]


HEADERS_GETTER = KafkaHeadersGetter()


def process_span_name(topic: str) -> str:
    return f"{PROCESS} {topic}"


def record_attributes(
    record: RecordLike,
    *,
    consumer_group: str,
    event_id: str | None,
    lead_id: str | None,
    redact: Redact,
) -> Attributes:
    """The CONSUMER span's attributes (messaging semantic conventions)."""
    attributes: Attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.name": PROCESS,
        "messaging.operation.type": PROCESS,
        "messaging.destination.name": record.topic,
        "messaging.consumer.group.name": consumer_group,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
    }
    if record.key is not None:
        attributes["messaging.kafka.message.key"] = redact(
            record.key.decode("utf-8", "backslashreplace")
        )
    if record.value is None:
        attributes["messaging.kafka.message.tombstone"] = True
    else:
        attributes["messaging.message.body.size"] = len(record.value)
    if event_id is not None:
        attributes["messaging.message.id"] = redact(event_id)
    if lead_id is not None:
        attributes["leadsync.lead_id"] = redact(lead_id)
    return attributes


def outcome_name(outcome: Outcome) -> str:
    """``applied``, ``retry``, ``unavailable``, ``permanent`` or ``fatal``."""
    return type(outcome).__name__.lower()


def outcome_reason(outcome: Outcome) -> str:
    return OK_REASON if isinstance(outcome, Applied) else outcome.reason


def noojee_code(outcome: Outcome) -> int | None:
    """The Noojee result code the PBX answered with, if it answered with one."""
    if isinstance(outcome, Applied):
        return 0
    return getattr(outcome, "code", None)


def call_attributes(
    result: CallResult, attempt: int, waited_s: float, redact: Redact
) -> Attributes:
    """The CLIENT span's attributes (HTTP semantic conventions) for one attempt."""
    url = redact(result.url)
    attributes: Attributes = {
        "http.request.method": HTTP_METHOD,
        "url.full": url,
        "url.template": result.endpoint.path,
        "leadsync.attempt": attempt,
        "leadsync.throttle.wait_s": waited_s,
    }
    attributes.update(_server(url))
    if attempt > 1:
        attributes["http.request.resend_count"] = attempt - 1
    if result.http_status is not None:
        attributes["http.response.status_code"] = result.http_status
    code = noojee_code(result.outcome)
    if code is not None:
        attributes["leadsync.noojee.code"] = code
    if not isinstance(result.outcome, Applied):
        attributes["error.type"] = redact(result.outcome.reason)
    return attributes


def call_status(result: CallResult, redact: Redact) -> tuple[StatusCode, str | None]:
    """UNSET for an applied update; ERROR with the outcome's message otherwise."""
    outcome = result.outcome
    if isinstance(outcome, Applied):
        return StatusCode.UNSET, None
    return StatusCode.ERROR, redact(outcome.message)


def retry_event_attributes(
    outcome: Retry | Unavailable, attempt: int, delay_s: float, redact: Redact
) -> Attributes:
    attributes: Attributes = {
        "leadsync.attempt": attempt,
        "leadsync.retry.delay_s": delay_s,
        "leadsync.retry.reason": redact(outcome.reason),
        "leadsync.retry.message": redact(outcome.message),
    }
    if outcome.http_status is not None:
        attributes["http.response.status_code"] = outcome.http_status
    code = noojee_code(outcome)
    if code is not None:
        attributes["leadsync.noojee.code"] = code
    return attributes


def _server(url: str) -> Attributes:
    """``server.address`` and ``server.port``; never the user info of the URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:  # an unparseable port
        return {}
    if not host:
        return {}
    return {"server.address": host, **({"server.port": port} if port else {})}

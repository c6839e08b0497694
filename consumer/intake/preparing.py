"""From a Kafka record to work ready to send, in one fallible step.

Decoding, validation, mapping and building the call, through encoding its
body, run here and nowhere else, so whatever a producer sends ends in one of
three ways, never in an exception that reaches the intake loop::

    Ready    the event and its first call (an insert for a create), body encoded → its lane
    Skip     nothing to apply (a tombstone, a no-op) → done at once
    Failure  why it cannot be applied as sent        → dead letter

``InvalidEvent`` and ``RequestError`` are the decoders' and the builder's own
verdicts. Any other exception (a ``RecursionError``, a ``TypeError`` on a value
of a type nobody expected) is the same verdict reached by accident: the record
is bad in a way the code did not foresee. It is named by its type with a
bounded message, so the dead letter says what happened and the sync goes on.
Only cancellation passes through (``BaseException``: it is not a verdict).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord

from consumer.delivery.work import Ready
from contracts.deadletter import DeadLetterReason, Failure
from contracts.events import InvalidEvent
from contracts.formats import DecoderConfig, Skip, decode_record
from contracts.insert import build_insert_lead_fast
from contracts.request import RequestDefaults, RequestError, build_update_lead_fast
from contracts.text import clip, describe_error


class RecordPreparer:
    """``prepare(record)``: ``Ready``, ``Skip`` or ``Failure``; never raises but cancellation."""

    __slots__ = ("_decoder", "_defaults")

    def __init__(self, decoder: DecoderConfig, defaults: RequestDefaults) -> None:
        self._decoder = decoder
        self._defaults = defaults

    def __call__(self, record: ConsumerRecord[bytes, bytes]) -> Ready | Skip | Failure:
        try:
            if record.headers:
                _check_header_names(record.headers)
            event = decode_record(record.value, record.headers, self._decoder)
        except InvalidEvent as exc:
            return Failure(DeadLetterReason.INVALID_EVENT, f"Invalid lead-change event: {exc}")
        except Exception as exc:  # noqa: BLE001 - every other exception is a verdict too
            return Failure(
                DeadLetterReason.INVALID_EVENT,
                f"Invalid lead-change event: decoding it failed with {describe_error(exc)}",
            )
        if isinstance(event, Skip):
            return event
        try:
            build = build_insert_lead_fast if event.creates else build_update_lead_fast
            return Ready(event, build(event, self._defaults))
        except RequestError as exc:
            return Failure(DeadLetterReason.INVALID_REQUEST, str(exc))
        except Exception as exc:  # noqa: BLE001
            return Failure(
                DeadLetterReason.INVALID_REQUEST,
                f"The event for lead {clip(event.lead_id, 80)!r} could not become a call: "
                f"building it failed with {describe_error(exc)}",
            )


def _check_header_names(headers: Sequence[tuple[str, bytes | None]]) -> None:
    for name, _ in headers:
        if not name.isascii():
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidEvent(
                    [("headers", "a header name is not UTF-8, which Kafka requires")]
                ) from None

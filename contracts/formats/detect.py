"""One Kafka record, in whichever format it arrived, to a lead change or a ``Skip``.

``auto`` decides per record; the first rule that matches wins:

1. a ``content-type`` header starting ``application/cloudevents``: CloudEvent, structured;
2. a ``ce_id``, ``ce_source``, ``ce_specversion`` or ``ce_type`` header: CloudEvent, binary;
3. no value (null): a tombstone, ``Skip``;
4. a JSON object with ``specversion``: CloudEvent, structured;
5. a JSON object with ``payload.op``, or with ``op`` and ``source``: Debezium change event;
6. anything else: a native ``lead-change/v1`` event.

Native events are the common case, so the value is only parsed for detection
when it contains one of the marker keys; otherwise it goes straight to
``parse_lead_change``, exactly as in ``native`` mode. Every ``InvalidEvent``
raised here opens with what the record was read as (or expected to be) and
what was found, so a dead letter explains itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from contracts import json_text
from contracts.events import InvalidEvent, LeadChange, parse_lead_change
from contracts.formats import cloudevents
from contracts.formats.debezium import Skip, change_of, decode_change
from contracts.formats.mapping import DebeziumMapping

FORMATS: Final = frozenset({"auto", "native", "cloudevents", "debezium"})
_MARKERS: Final = (b'"specversion"', b'"payload"', b'"op"')
_UNPARSED: Final[Any] = object()
_TOMBSTONE: Final = Skip("tombstone (no value): nothing to apply")
MAX_BYTES: Final = 1 << 20
"""Default bound on a record's value (``LEADSYNC_MAX_EVENT_BYTES``): Kafka's own default."""


class RecordFormat(StrEnum):
    NATIVE = "native"
    CLOUDEVENTS_STRUCTURED = "cloudevents-structured"
    CLOUDEVENTS_BINARY = "cloudevents-binary"
    DEBEZIUM = "debezium"
    TOMBSTONE = "tombstone"


_DESCRIPTION: Final = {
    RecordFormat.NATIVE: "a native lead-change/v1 event",
    RecordFormat.CLOUDEVENTS_STRUCTURED: "a CloudEvent (structured mode)",
    RecordFormat.CLOUDEVENTS_BINARY: "a CloudEvent (binary mode)",
    RecordFormat.DEBEZIUM: "a Debezium change event",
}


@dataclass(frozen=True, slots=True)
class DecoderConfig:
    """What ``decode_record`` needs from the settings (``LEADSYNC_INPUT_FORMAT`` and friends)."""

    input_format: str = "auto"
    cloudevents_types: frozenset[str] = field(default_factory=lambda: frozenset({"lead.changed"}))
    mapping: DebeziumMapping | None = None
    """``None``: Debezium records are dead-lettered, saying the mapping file is missing."""
    max_bytes: int = MAX_BYTES
    """A longer value is dead-lettered unread: parsing costs time and memory in its size."""
    cloudevents_create_types: frozenset[str] = frozenset()
    """CloudEvents types that create their lead (``LEADSYNC_CLOUDEVENTS_CREATE_TYPES``)."""

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise ValueError(f"the largest event must be at least 1 byte, not {self.max_bytes}")
        if self.input_format not in FORMATS:
            raise ValueError(f"input format {self.input_format!r}: one of {', '.join(FORMATS)}")
        if self.input_format == "debezium" and self.mapping is None:
            raise ValueError("LEADSYNC_INPUT_FORMAT=debezium needs LEADSYNC_MAPPING_FILE")
        if self.input_format == "cloudevents" and not (
            self.cloudevents_types or self.cloudevents_create_types
        ):
            raise ValueError("LEADSYNC_INPUT_FORMAT=cloudevents needs LEADSYNC_CLOUDEVENTS_TYPES")


def decode_record(
    value: bytes | None, headers: Sequence[tuple[str, bytes | None]], config: DecoderConfig
) -> LeadChange | Skip:
    """The lead change a record asks for, a ``Skip``, or ``InvalidEvent`` saying why not."""
    if value is not None and len(value) > config.max_bytes:
        raise InvalidEvent(
            [
                (
                    "value",
                    f"{len(value)} bytes, over the limit of {config.max_bytes} "
                    "(LEADSYNC_MAX_EVENT_BYTES); not read",
                )
            ]
        )
    mode = config.input_format
    if mode == "native":
        if value is None:
            raise InvalidEvent([("value", "the record has no value (a tombstone)")])
        return parse_lead_change(value)
    if mode == "debezium":
        if value is None:
            return _TOMBSTONE
        document = _loads(value)
        if change_of(document) is None:
            raise _expected("a Debezium change event", value, document)
        return _decode(
            RecordFormat.DEBEZIUM,
            value,
            {},
            document,
            config=config,
        )
    fields = _header_fields(headers)
    kind, document = _sniff(value, fields)
    if mode == "cloudevents" and kind not in {
        RecordFormat.CLOUDEVENTS_STRUCTURED,
        RecordFormat.CLOUDEVENTS_BINARY,
    }:
        raise _expected("a CloudEvent", value, document)
    if kind is RecordFormat.TOMBSTONE:
        if config.mapping is None:
            # Without a mapping no Debezium stream is expected, so a record with
            # no value is a poison record to set aside, not a delete marker to skip.
            raise InvalidEvent(
                [
                    (
                        "value",
                        "the record has no value (a tombstone); tombstones are skipped only "
                        "when LEADSYNC_MAPPING_FILE declares a Debezium input",
                    )
                ]
            )
        return _TOMBSTONE
    return _decode(
        kind,
        value,
        fields,
        document,
        config=config,
    )


def detect_format(value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> RecordFormat:
    """What ``auto`` reads the record as (for tests, logs and metrics)."""
    return _sniff(value, _header_fields(headers))[0]


def _sniff(value: bytes | None, fields: dict[str, str]) -> tuple[RecordFormat, Any]:
    if cloudevents.is_structured(fields.get("content-type")):
        return RecordFormat.CLOUDEVENTS_STRUCTURED, _UNPARSED
    if cloudevents.is_binary(fields):
        return RecordFormat.CLOUDEVENTS_BINARY, _UNPARSED
    if value is None:
        return RecordFormat.TOMBSTONE, _UNPARSED
    specversion, payload, op = _MARKERS
    if specversion not in value and payload not in value and op not in value:
        return RecordFormat.NATIVE, _UNPARSED
    document = _loads(value)
    if isinstance(document, dict) and "specversion" in document:
        return RecordFormat.CLOUDEVENTS_STRUCTURED, document
    if change_of(document) is not None:
        return RecordFormat.DEBEZIUM, document
    return RecordFormat.NATIVE, document


def _decode(
    kind: RecordFormat,
    value: bytes | None,
    fields: dict[str, str],
    document: Any,
    *,
    config: DecoderConfig,
) -> LeadChange | Skip:
    try:
        if kind is RecordFormat.NATIVE:
            assert value is not None  # _sniff: a null value is a tombstone
            return parse_lead_change(value)
        if kind is RecordFormat.CLOUDEVENTS_BINARY:
            return cloudevents.decode_binary(
                value, fields, config.cloudevents_types, config.cloudevents_create_types
            )
        if value is None:
            raise InvalidEvent([("value", "the record has no value")])
        if document is _UNPARSED:
            document = _parse(value)
        if kind is RecordFormat.CLOUDEVENTS_STRUCTURED:
            content_type = fields.get("content-type")
            return cloudevents.decode_structured(
                document,
                content_type,
                config.cloudevents_types,
                config.cloudevents_create_types,
            )
        if config.mapping is None:
            raise InvalidEvent(
                [("", "no mapping file: set LEADSYNC_MAPPING_FILE to map the CRM's columns")]
            )
        change = change_of(document)
        assert change is not None  # _sniff and decode_record only send envelopes here
        return decode_change(change, config.mapping)
    except InvalidEvent as exc:
        mode = config.input_format
        how = "auto-detected" if mode == "auto" else f"LEADSYNC_INPUT_FORMAT={mode}"
        context = f"read as {_DESCRIPTION[kind]}, {how}"
        raise InvalidEvent([("", context), *exc.errors]) from None


def _header_fields(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """``content-type`` and the ``ce_*`` headers, names lower-cased, values decoded."""
    fields: dict[str, str] = {}
    for name, raw in headers:
        key = name.lower()
        if raw is None or (key != "content-type" and not key.startswith(cloudevents.HEADER_PREFIX)):
            continue
        try:
            fields[key] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidEvent([(name, "header value is not UTF-8")]) from None
    return fields


def _loads(value: bytes) -> Any:
    """The parsed value, or ``_UNPARSED`` when it is not JSON (the decoder then says why)."""
    try:
        return json_text.parse(value)
    except json_text.NotJson:
        return _UNPARSED


def _parse(value: bytes) -> Any:
    try:
        return json_text.parse(value)
    except json_text.NotJson as exc:
        raise InvalidEvent([("", str(exc))]) from None


def _expected(expected: str, value: bytes | None, document: Any) -> InvalidEvent:
    return InvalidEvent([("", f"expected {expected}, found {_found(value, document)}")])


def _found(value: bytes | None, document: Any) -> str:
    if value is None:
        return "a record with no value (a tombstone)"
    if document is _UNPARSED:
        try:
            document = json_text.parse(value)
        except json_text.NotJson as exc:
            why = str(exc)
            if why.startswith("not UTF-8"):
                return "bytes that are not UTF-8"
            return "text that is not JSON" if why.startswith("not JSON:") else why
    if isinstance(document, dict):
        if "specversion" in document:
            return "a CloudEvent (it has specversion)"
        if change_of(document) is not None:
            return "a Debezium change event (it has op)"
        keys = list(document)
        shown = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "")
        return f"a JSON object with keys {shown}" if keys else "an empty JSON object"
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return f"JSON {kinds.get(type(document), 'a number')}"

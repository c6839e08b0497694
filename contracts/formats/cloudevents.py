"""CloudEvents 1.0 over Kafka (the Kafka protocol binding) to lead changes.

Two content modes, told apart by the ``content-type`` header as the binding says:

- structured: ``content-type: application/cloudevents+json`` (or no header and a
  JSON object with ``specversion``); the value is the event in the JSON format;
- binary: ``ce_*`` headers carry the attributes, the value is the data as-is and
  ``content-type`` is its ``datacontenttype``.

Attributes map as ``id`` → ``event_id`` and ``time`` → ``occurred_at``; ``data``
(a JSON object) holds the other lead-change fields. A ``type`` among the create
types makes the event a create (``operation: create``). ``data`` may repeat
``event_id``/``occurred_at`` (a native event wrapped whole) only with the same
value: an envelope and a payload that disagree cannot both be right.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from contracts import json_text
from contracts.events import CREATE, InvalidEvent, LeadChange

SPEC_VERSION: Final = "1.0"
MEDIA_PREFIX: Final = "application/cloudevents"
JSON_FORMAT: Final = "application/cloudevents+json"
HEADER_PREFIX: Final = "ce_"
_REQUIRED: Final = ("id", "source", "specversion", "type")
_FROM_ENVELOPE: Final = {"event_id": "id", "occurred_at": "time"}
_REQUIRED_HEADERS: Final = tuple(HEADER_PREFIX + name for name in _REQUIRED)


def is_binary(headers: Mapping[str, str]) -> bool:
    """Any required attribute as a ``ce_`` header (then a missing one is named, not guessed)."""
    return bool(headers) and any(name in headers for name in _REQUIRED_HEADERS)


def is_structured(content_type: str | None) -> bool:
    """The binding's rule: a ``content-type`` starting with the CloudEvents media type."""
    return content_type is not None and content_type.lower().startswith(MEDIA_PREFIX)


def decode_structured(
    document: Any,
    content_type: str | None,
    accepted_types: frozenset[str],
    create_types: frozenset[str] = frozenset(),
) -> LeadChange:
    """A structured-mode event, already parsed from JSON; ``create_types`` are accepted
    too, as creates."""
    if content_type is not None and _media_type(content_type) != JSON_FORMAT:
        raise InvalidEvent(
            [("content-type", f"event format {content_type!r} is not read; use {JSON_FORMAT}")]
        )
    if not isinstance(document, dict):
        raise InvalidEvent([("", "a structured CloudEvent must be a JSON object")])
    attributes = {key: value for key, value in document.items() if value is not None}
    problems = _attribute_problems(attributes, accepted_types, create_types)
    if "data" in attributes and "data_base64" in attributes:
        problems.append(("data_base64", "given together with data; the JSON format allows one"))
    if problems:
        raise InvalidEvent(problems)
    if "data_base64" in attributes:
        try:
            raw = base64.b64decode(attributes["data_base64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise InvalidEvent([("data_base64", "is not valid base64")]) from None
        return _lead_change(attributes, _json_data(raw, "data_base64"), create_types)
    return _lead_change(attributes, attributes.get("data"), create_types)


def decode_binary(
    value: bytes | None,
    headers: Mapping[str, str],
    accepted_types: frozenset[str],
    create_types: frozenset[str] = frozenset(),
) -> LeadChange:
    """A binary-mode event: ``headers`` are the record's, names lower-cased, values decoded."""
    attributes: dict[str, Any] = {
        name.removeprefix(HEADER_PREFIX): text
        for name, text in headers.items()
        if name.startswith(HEADER_PREFIX)
    }
    if "content-type" in headers:
        attributes["datacontenttype"] = headers["content-type"]
    problems = _attribute_problems(attributes, accepted_types, create_types, HEADER_PREFIX)
    if problems:
        raise InvalidEvent(problems)
    if value is None:
        raise InvalidEvent([("value", "the CloudEvent has no data (the record has no value)")])
    return _lead_change(attributes, _json_data(value, "value"), create_types)


def _attribute_problems(
    attributes: Mapping[str, Any],
    accepted: frozenset[str],
    creates: frozenset[str],
    prefix: str = "",
) -> list[tuple[str, str]]:
    problems = [
        (prefix + name, "missing: a required CloudEvents attribute")
        if name not in attributes
        else (prefix + name, f"must be a non-empty string, not {attributes[name]!r}")
        for name in _REQUIRED
        if not isinstance(attributes.get(name), str) or not attributes[name]
    ]
    version = attributes.get("specversion")
    if isinstance(version, str) and version and version != SPEC_VERSION:
        problems.append((prefix + "specversion", f"{version!r} is not read; send {SPEC_VERSION}"))
    kind = attributes.get("type")
    if isinstance(kind, str) and kind and kind not in accepted and kind not in creates:
        names = ", ".join(sorted(accepted)) or "(none configured)"
        said = f"{kind!r} is not accepted; LEADSYNC_CLOUDEVENTS_TYPES is {names}"
        if creates:
            said += f"; LEADSYNC_CLOUDEVENTS_CREATE_TYPES is {', '.join(sorted(creates))}"
        problems.append((prefix + "type", said))
    if "time" not in attributes:
        problems.append((prefix + "time", "missing: leadsync needs it as the lead's occurred_at"))
    content_type = attributes.get("datacontenttype")
    if content_type is not None and not _is_json(content_type):
        problems.append((prefix + "datacontenttype", f"{content_type!r}: the data must be JSON"))
    return problems


def _lead_change(attributes: Mapping[str, Any], data: Any, creates: frozenset[str]) -> LeadChange:
    if not isinstance(data, dict):
        found = "no data" if data is None else f"{type(data).__name__} data"
        raise InvalidEvent(
            [("data", f"should be a JSON object of lead-change fields, found {found}")]
        )
    conflicts = [
        (
            f"data.{key}",
            f"{data[key]!r} disagrees with the CloudEvent's {attribute} {attributes[attribute]!r}",
        )
        for key, attribute in _FROM_ENVELOPE.items()
        if key in data and not _same(key, data[key], attributes[attribute])
    ]
    create = attributes["type"] in creates
    if create and data.get("operation") not in (None, CREATE):
        conflicts.append(
            (
                "data.operation",
                f"{data['operation']!r} disagrees with the CloudEvent's type "
                f"{attributes['type']!r}, a create type (LEADSYNC_CLOUDEVENTS_CREATE_TYPES)",
            )
        )
    if conflicts:
        raise InvalidEvent(conflicts)
    event = data | {"event_id": attributes["id"], "occurred_at": attributes["time"]}
    if create:
        event["operation"] = CREATE
    try:
        return LeadChange.from_dict(event)
    except InvalidEvent as exc:
        raise InvalidEvent(
            [(_attribute_path(path), message) for path, message in exc.errors]
        ) from None


def _attribute_path(path: str) -> str:
    head = path.partition(".")[0]
    if head in _FROM_ENVELOPE:
        return _FROM_ENVELOPE[head]
    return f"data.{path}" if path else "data"


def _same(key: str, given: Any, attribute: Any) -> bool:
    if given == attribute:
        return True
    if key != "occurred_at" or not isinstance(given, str) or not isinstance(attribute, str):
        return False
    try:  # the same instant written with another offset is no conflict
        return datetime.fromisoformat(given) == datetime.fromisoformat(attribute)
    except (TypeError, ValueError):
        return False


def _json_data(raw: bytes, where: str) -> Any:
    try:
        return json_text.parse(raw)
    except json_text.NotJson as exc:
        raise InvalidEvent([(where, f"the data is {exc}")]) from None


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _is_json(content_type: Any) -> bool:
    if not isinstance(content_type, str):
        return False
    subtype = _media_type(content_type).partition("/")[2]
    return subtype == "json" or subtype.endswith("+json")

"""The ``lead-change/v1`` event: one JSON object per Kafka record.

The contract is docs/reference/event-contract.md.

Validation is strict on purpose: an event with a typo or a wrong type is
rejected whole (``InvalidEvent``) rather than applied half-way, and the error
names every bad field on one line so it fits a dead-letter header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from contracts.json_text import why_not_json
from contracts.noojee import NO_CHANGE
from contracts.text import clip

EVENT_TYPE: Final = "lead-change/v1"
CREATE: Final = "create"
"""``operation`` of an event that creates its lead (insertLeadFast)."""
UPDATE: Final = "update"
SYSTEM_PREFIX: Final = "nj"
"""Noojee's system fields start with it; an event may only set them through their own keys."""

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?"
    r"(?P<offset>[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)?"
)
_NO_OFFSET = "Input should have a UTC offset (Z or +hh:mm)"
PHONE_PATTERN: Final = r"^(?:<No Change>|\+?[0-9 ()./-]*[0-9][0-9 ()./-]*)$"
_PHONE = re.compile(PHONE_PATTERN)
MAX_PROBLEMS: Final = 10
"""Problems an ``InvalidEvent`` names; the rest are counted (a bad event may have thousands)."""
MAX_PROBLEM_CHARS: Final = 300
"""Characters per problem: a message may quote a value, and a value may be megabytes."""


def phone_key(name: str) -> str:
    """What makes two phone field names the same field: the PBX ignores case.

    The one normalisation of phone names: validation, the request builder and
    coalescing all compare names through it, so they never disagree.
    """
    return name.lower()


def _rfc3339(value: Any) -> Any:
    # Parsed here rather than by pydantic: pydantic also takes "10:15" without
    # seconds and, outside strict JSON, Unix numbers; RFC 3339 allows neither.
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ValueError(_NO_OFFSET)
    if not isinstance(value, str):
        return value  # an aware datetime (from another envelope), or a wrong type
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("Input should be an RFC 3339 timestamp, e.g. 2026-11-26T10:15:00Z")
    if match["offset"] is None:
        raise ValueError(_NO_OFFSET)
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError as exc:
        raise ValueError(f"Input should be a valid date and time: {exc}") from None


def _not_system_name(name: str) -> str:
    if name[:2].lower() == SYSTEM_PREFIX:
        raise ValueError(f"may not use the {SYSTEM_PREFIX!r} prefix (reserved for system fields)")
    return name


def _phone_value(value: str) -> str:
    if _PHONE.fullmatch(value) is None:
        raise ValueError(f"Input should be a phone number or {NO_CHANGE!r}")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
"""An RFC 3339 timestamp with offset; naive or offset-less times are rejected."""

Identifier = Annotated[str, Field(min_length=1, max_length=200)]
FieldName = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(_not_system_name),
    WithJsonSchema({"type": "string", "minLength": 1, "not": {"pattern": "^[nN][jJ]"}}),
]
PhoneValue = Annotated[
    str,
    AfterValidator(_phone_value),
    WithJsonSchema({"type": "string", "pattern": PHONE_PATTERN}),
]


class Campaign(BaseModel):
    """Where the lead lives in the dialler; each id overrides the configured default."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    template_id: int | None = Field(default=None, description="fTemplateId")
    campaign_id: int | None = Field(default=None, description="fCampaignId")
    allocation_id: int | None = Field(default=None, description="fAllocationId")


class LeadChange(BaseModel):
    """What the CRM says changed about one lead. ``None`` means "not given"."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        title="lead-change/v1",
        json_schema_extra={"description": "One lead-change event (leadsync native format)."},
    )

    event_id: Identifier = Field(description="Unique id of the event, for tracing.")
    lead_id: Identifier = Field(description="The CRM's lead id; sent as njExternalLeadId.")
    occurred_at: Timestamp = Field(description="When the change happened (RFC 3339, offset).")
    disposition: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description=f"njDisposition; absent means {NO_CHANGE}."
    )
    callback_at: Timestamp | None = Field(
        default=None, description="njCallBackDate (RFC 3339, offset); sent in the PBX time zone."
    )
    priority: Annotated[int, Field(ge=0, le=100)] | None = Field(
        default=None, description="njPriority: 0-100, lower is called first."
    )
    phones: dict[FieldName, PhoneValue] | None = Field(
        default=None,
        description=f"Phone field -> number or {NO_CHANGE}; absent fields are sent as {NO_CHANGE}.",
    )
    fields: dict[FieldName, str] | None = Field(
        default=None, description="Other campaign fields (name -> value); no 'nj' prefix."
    )
    contact_hours: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="njContactHours: a contact-hours (time zone) name."
    )
    campaign: Campaign | None = Field(
        default=None, description="Overrides the configured fTemplateId/fCampaignId/fAllocationId."
    )
    operation: Literal["create", "update"] | None = Field(
        default=None,
        description="'create': the lead is new and the event is its whole state "
        "(insertLeadFast; updateLeadFast if the PBX already has it); absent or 'update': "
        "updateLeadFast.",
    )

    @property
    def creates(self) -> bool:
        """The event creates its lead (insertLeadFast first)."""
        return self.operation == CREATE

    @field_validator("phones")
    @classmethod
    def _one_spelling(cls, phones: dict[str, str] | None) -> Any:
        # A phone name matches the configured one ignoring case; two spellings would race.
        if phones and len({phone_key(name) for name in phones}) < len(phones):
            raise ValueError("a phone field is named twice (names ignore case)")
        return phones

    @field_validator("fields")
    @classmethod
    def _not_a_phone(cls, fields: dict[str, str] | None, info: ValidationInfo) -> Any:
        # Both would become one body key: which value wins must not be left to chance.
        phones = info.data.get("phones")
        if fields and phones:
            given = {phone_key(name) for name in phones}
            clash = sorted(name for name in fields if phone_key(name) in given)
            if clash:
                raise ValueError(f"{', '.join(clash)} also given in phones")
        return fields

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LeadChange:
        """Validate an already-decoded event (another envelope's payload), same rules."""
        try:
            return cls.model_validate(data, strict=True)
        except ValidationError as exc:
            raise InvalidEvent(_describe(exc, None)) from None


class InvalidEvent(Exception):
    """The record is not a valid ``lead-change/v1`` event.

    ``str()`` is one line naming the bad fields; ``errors`` holds every problem as
    ``(field path, message)`` pairs, the path empty when the whole record is bad.
    Each problem is clipped to ``MAX_PROBLEM_CHARS``, and ``str()`` names the first
    ``MAX_PROBLEMS`` and counts the rest, so its length is bounded whatever the record.
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = [
            (clip(path, MAX_PROBLEM_CHARS // 2), clip(message, MAX_PROBLEM_CHARS))
            for path, message in errors
        ]
        lines = [_line(path, message) for path, message in self.errors[:MAX_PROBLEMS]]
        if len(self.errors) > MAX_PROBLEMS:
            lines.append(f"and {len(self.errors) - MAX_PROBLEMS} more problems")
        super().__init__("; ".join(lines))


def parse_lead_change(raw: bytes) -> LeadChange:
    """Decode and validate one record value, or raise ``InvalidEvent``."""
    try:
        return LeadChange.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc, raw)) from None


def _line(path: str, message: str) -> str:
    text = message if not path or message.startswith("unknown field") else f"{path}: {message}"
    return " ".join(text.split())  # a dead-letter header value must stay on one line


def _describe(error: ValidationError, raw: bytes | None) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for item in error.errors(include_url=False):
        loc = [str(part) or "''" for part in item["loc"]]
        if loc and loc[-1] == "[key]":
            loc.pop()  # the key itself is bad: its path is the entry's
        path = ".".join(loc)
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            message = f"unknown field {path!r}"
        elif kind == "json_invalid" and raw is not None:
            message = _undecodable(raw, message)
        elif kind in {"model_type", "dict_type"} and not path:
            message = f"the event must be a JSON object, not {_json_kind(item['input'])}"
        problems.append((path, message))
    return problems


def _undecodable(raw: bytes, message: str) -> str:
    return why_not_json(raw, message)


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return {
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
    }.get(type(value), f"a {type(value).__name__}")


EXAMPLE_EVENT: Final[Mapping[str, Any]] = {  # the contract's example: docs, schema, tests
    "event_id": "8f1c2b9e-3a71-4b7e-9a55-0c1d2e3f4a5b",
    "lead_id": "CRM-000123",
    "occurred_at": "2026-11-26T10:15:00Z",
    "disposition": "Callback",
    "callback_at": "2026-11-27T09:30:00+11:00",
    "priority": 5,
    "phones": {"FirstPhone": "0383218199", "SecondPhone": NO_CHANGE},
    "fields": {"Name": "Jane Smith", "City": "Abbotsford"},
    "contact_hours": "Australia/Melbourne",
    "campaign": {"template_id": 41, "campaign_id": 41, "allocation_id": 38},
}

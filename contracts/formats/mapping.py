"""The Debezium mapping file (``LEADSYNC_MAPPING_FILE``, TOML): CRM columns to lead-change fields.

Read once at start-up. Every problem is reported as ``MappingError`` naming the
file, the key and what is wrong, so a typo stops the service before the first
record instead of dead-lettering every one. docs/input-formats.md is the reference.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.events import SYSTEM_PREFIX

UNAVAILABLE_VALUE: Final = "__debezium_unavailable_value"
"""Debezium's default ``unavailable.value.placeholder``: a TOASTed column the update left alone."""


class CallbackEncoding(StrEnum):
    """How the callback column arrives; Debezium's semantic type names are accepted too."""

    ISO = "iso"
    EPOCH_MILLIS = "epoch-millis"
    EPOCH_MICROS = "epoch-micros"
    EPOCH_NANOS = "epoch-nanos"


ENCODING_ALIASES: Final[Mapping[str, CallbackEncoding]] = MappingProxyType(
    {
        "io.debezium.time.ZonedTimestamp": CallbackEncoding.ISO,
        "io.debezium.time.Timestamp": CallbackEncoding.EPOCH_MILLIS,
        "org.apache.kafka.connect.data.Timestamp": CallbackEncoding.EPOCH_MILLIS,
        "io.debezium.time.MicroTimestamp": CallbackEncoding.EPOCH_MICROS,
        "io.debezium.time.NanoTimestamp": CallbackEncoding.EPOCH_NANOS,
    }
)


class DeletePolicy(StrEnum):
    IGNORE = "ignore"
    """Acknowledge and do nothing: the PBX keeps the lead as it was."""
    DEAD_LETTER = "dead-letter"
    """Set the record aside for a person to decide."""
    CLOSE = "close"
    """Send ``close_disposition`` (a closing disposition stops the dialler calling the lead)."""


class SnapshotPolicy(StrEnum):
    APPLY = "apply"
    """A snapshot row is sent as an update of every mapped column."""
    IGNORE = "ignore"
    CREATE = "create"
    """A snapshot row is a create, as ``op=c`` is (``events.create`` says how it is sent)."""


class CreatePolicy(StrEnum):
    INSERT = "insert"
    """A created row is a new lead: insertLeadFast, then updateLeadFast if the PBX has it."""
    UPDATE = "update"
    """A created row is sent as an update of every mapped column (the PBX already has it)."""


CAMPAIGN_KEYS: Final = ("template_id", "campaign_id", "allocation_id")


@dataclass(frozen=True, slots=True)
class Callback:
    column: str
    encoding: CallbackEncoding
    timezone: ZoneInfo
    """The zone of offset-less values (Debezium sends TIMESTAMP columns as UTC wall-clock)."""


@dataclass(frozen=True, slots=True)
class DebeziumMapping:
    """Column names of one CRM table, by the lead-change field each feeds."""

    lead_id: str
    disposition: str | None = None
    callback: Callback | None = None
    priority: str | None = None
    contact_hours: str | None = None
    campaign: Mapping[str, str] = field(default_factory=dict)
    """``template_id``/``campaign_id``/``allocation_id`` -> column."""
    phones: Mapping[str, str] = field(default_factory=dict)
    """Column -> the PBX phone field it feeds."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Column -> the PBX data field it feeds."""
    table: str | None = None
    """``schema.table`` (or ``table``) the records must come from; ``None`` accepts any."""
    on_delete: DeletePolicy = DeletePolicy.IGNORE
    on_snapshot: SnapshotPolicy = SnapshotPolicy.APPLY
    on_create: CreatePolicy = CreatePolicy.INSERT
    close_disposition: str | None = None
    unavailable_value: str = UNAVAILABLE_VALUE


class MappingError(Exception):
    """The mapping file is unusable; ``str()`` names the file, the key and the problem."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


def load_mapping(path: Path) -> DebeziumMapping:
    """Read and check the mapping file at ``path``, or raise ``MappingError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(str(path), "", f"cannot be read: {exc}") from None
    return parse_mapping(text, source=str(path))


def parse_mapping(text: str, source: str = "<mapping>") -> DebeziumMapping:
    """Check a mapping document; ``source`` names it in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(source, "", f"is not valid TOML: {exc}") from None
    return _Reader(source).mapping(document)


_Choice = TypeVar("_Choice", bound=StrEnum)

_TOP_LEVEL: Final = frozenset({"table", "columns", "callback", "phones", "fields", "events"})
_COLUMNS: Final = frozenset({"lead_id", "disposition", "priority", "contact_hours", *CAMPAIGN_KEYS})


class _Reader:
    """Walks the TOML document; each check names the dotted key it is about."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> MappingError:
        return MappingError(self.source, key, problem)

    def mapping(self, document: dict[str, Any]) -> DebeziumMapping:
        self.known(document, "", _TOP_LEVEL)
        if "columns" not in document:
            raise self.fail("columns", "missing: [columns] must name at least the lead_id column")
        columns = self.table(document, "columns")
        self.known(columns, "columns", _COLUMNS)
        if "lead_id" not in columns:
            raise self.fail("columns.lead_id", "missing: name the column holding the lead id")
        events = self.table(document, "events")
        self.known(
            events,
            "events",
            {"delete", "snapshot", "create", "close_disposition", "unavailable_value"},
        )
        on_delete = self.choice(events, "events.delete", DeletePolicy, DeletePolicy.IGNORE)
        close = self.optional_text(events, "close_disposition", "events")
        if on_delete is DeletePolicy.CLOSE and close is None:
            raise self.fail("events.close_disposition", 'missing: delete = "close" needs it')
        if on_delete is not DeletePolicy.CLOSE and close is not None:
            raise self.fail("events.close_disposition", 'only used with delete = "close"')
        phones = self.names(document, "phones")
        fields = self.names(document, "fields")
        taken = {name.lower(): column for column, name in phones.items()}
        for column, name in fields.items():
            if name.lower() in taken:
                raise self.fail(
                    f"fields.{column}", f"{name!r} is already fed by phones.{taken[name.lower()]}"
                )
        table = document.get("table")
        if table is not None and not (isinstance(table, str) and table):
            raise self.fail("table", "must be a non-empty string such as 'public.leads'")
        return DebeziumMapping(
            lead_id=self.text(columns, "lead_id", "columns"),
            disposition=self.optional_text(columns, "disposition", "columns"),
            callback=self.callback(document),
            priority=self.optional_text(columns, "priority", "columns"),
            contact_hours=self.optional_text(columns, "contact_hours", "columns"),
            campaign=MappingProxyType(
                {key: self.text(columns, key, "columns") for key in CAMPAIGN_KEYS if key in columns}
            ),
            phones=MappingProxyType(phones),
            fields=MappingProxyType(fields),
            table=table,
            on_delete=on_delete,
            on_snapshot=self.choice(
                events, "events.snapshot", SnapshotPolicy, SnapshotPolicy.APPLY
            ),
            on_create=self.choice(events, "events.create", CreatePolicy, CreatePolicy.INSERT),
            close_disposition=close,
            unavailable_value=self.optional_text(events, "unavailable_value", "events")
            or UNAVAILABLE_VALUE,
        )

    def callback(self, document: dict[str, Any]) -> Callback | None:
        if "callback" not in document:
            return None
        table = self.table(document, "callback")
        self.known(table, "callback", {"column", "encoding", "timezone"})
        if "column" not in table:
            raise self.fail("callback.column", "missing: name the column holding the callback time")
        if "encoding" not in table:
            choices = ", ".join(CallbackEncoding)
            raise self.fail(
                "callback.encoding", f"missing: one of {choices} (a guess could be off 1000x)"
            )
        raw = self.text(table, "encoding", "callback")
        encoding = ENCODING_ALIASES.get(raw) or _member(CallbackEncoding, raw)
        if encoding is None:
            choices = ", ".join([*CallbackEncoding, *ENCODING_ALIASES])
            raise self.fail("callback.encoding", f"unknown encoding {raw!r}; one of {choices}")
        zone = self.optional_text(table, "timezone", "callback") or "UTC"
        try:
            timezone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail("callback.timezone", f"unknown IANA time zone {zone!r}") from None
        return Callback(self.text(table, "column", "callback"), encoding, timezone)

    def names(self, document: dict[str, Any], section: str) -> dict[str, str]:
        """A ``column = "PBX field"`` table: names checked against the PBX's rules."""
        table = self.table(document, section)
        names: dict[str, str] = {}
        seen: dict[str, str] = {}
        for column in table:
            name = self.text(table, column, section)
            key = f"{section}.{column}"
            if name[:2].lower() == SYSTEM_PREFIX:
                raise self.fail(key, f"{name!r} uses the {SYSTEM_PREFIX!r} prefix of system fields")
            if name.lower() in seen:
                raise self.fail(key, f"{name!r} is already fed by {section}.{seen[name.lower()]}")
            seen[name.lower()] = column
            names[column] = name
        return names

    def table(self, document: dict[str, Any], key: str) -> dict[str, Any]:
        value = document.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table ([{key}]), not {type(value).__name__}")
        return value

    def known(self, table: dict[str, Any], where: str, allowed: frozenset[str] | set[str]) -> None:
        for key in table:
            if key not in allowed:
                choices = ", ".join(sorted(allowed))
                raise self.fail(
                    f"{where}.{key}" if where else key, f"unknown key; expected one of {choices}"
                )

    def text(self, table: dict[str, Any], key: str, where: str) -> str:
        value = table[key]
        if not isinstance(value, str) or not value:
            raise self.fail(f"{where}.{key}", f"must be a non-empty string, not {value!r}")
        return value

    def optional_text(self, table: dict[str, Any], key: str, where: str) -> str | None:
        return self.text(table, key, where) if key in table else None

    def choice(
        self, table: dict[str, Any], key: str, kind: type[_Choice], default: _Choice
    ) -> _Choice:
        name = key.rpartition(".")[2]
        if name not in table:
            return default
        value = table[name]
        member = _member(kind, value) if isinstance(value, str) else None
        if member is None:
            raise self.fail(key, f"must be one of {', '.join(kind)}, not {value!r}")
        return member


def _member(kind: type[_Choice], value: str) -> _Choice | None:
    try:
        return kind(value)
    except ValueError:
        return None

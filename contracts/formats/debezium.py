"""Debezium change events (the PostgreSQL connector's envelope) to lead changes.

The record value is the envelope, alone or inside the JsonConverter's schema
wrapper (``{"schema": {...}, "payload": {...}}``). What each ``op`` becomes::

    c  create         every mapped column of ``after``; mapping.on_create: insert (a
                      create event: insertLeadFast) | update (updateLeadFast)
    r  snapshot read  mapping.on_snapshot: apply (every column, an update) | create
                      (as c) | ignore → Skip
    u  update         only the mapped columns whose value changed (columns.py)
    d  delete         mapping.on_delete: ignore → Skip | dead-letter → InvalidEvent
                      | close → the close disposition, lead id from ``before``
    t, m              Skip: a truncate or a logical message names no lead
    (null value)      Skip: the tombstone after a delete (handled by detect.py)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from contracts.events import CREATE, InvalidEvent, LeadChange
from contracts.formats.columns import RowImage, columns_by_target, integer
from contracts.formats.mapping import CreatePolicy, DebeziumMapping, DeletePolicy, SnapshotPolicy

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ID_LIMIT: Final = 200


@dataclass(frozen=True, slots=True)
class Skip:
    """A record to acknowledge without applying; ``reason`` says why (for logs and metrics)."""

    reason: str


def change_of(document: Any) -> dict[str, Any] | None:
    """The change event inside ``document`` if it is a Debezium envelope (wrapped or not)."""
    if not isinstance(document, dict):
        return None
    payload = document.get("payload")
    if isinstance(payload, dict) and "op" in payload:
        return payload
    if "op" in document and "source" in document:
        return document
    return None


def decode_change(change: Mapping[str, Any], mapping: DebeziumMapping) -> LeadChange | Skip:
    """The lead change one Debezium change event asks for, ``Skip``, or ``InvalidEvent``."""
    op = change.get("op")
    if not isinstance(op, str):
        raise InvalidEvent([("op", f"should be a one-letter string, found {_kind(op)}")])
    if op == "t":
        return Skip("table truncated (op=t): a truncate names no lead")
    if op == "m":
        return Skip("logical decoding message (op=m): not a row change")
    if op not in {"c", "r", "u", "d"}:
        raise InvalidEvent([("op", f"unknown operation {op!r}; expected c, r, u, d, t or m")])
    source = change.get("source")
    if not isinstance(source, dict):
        raise InvalidEvent([("source", "missing: every Debezium change event carries it")])
    _check_table(source, mapping)
    if op == "r" and mapping.on_snapshot is SnapshotPolicy.IGNORE:
        return Skip("snapshot read (op=r) ignored: the mapping's snapshot policy is ignore")
    if op == "d":
        return _deleted(change, source, mapping)
    creates = mapping.on_create is CreatePolicy.INSERT and (
        op == "c" or (op == "r" and mapping.on_snapshot is SnapshotPolicy.CREATE)
    )
    after = _image(change, "after")
    row = RowImage(after, change.get("before"), mapping, only_changed=op == "u", create=creates)
    data = row.lead_change()
    if op == "u" and not row.any_change:
        return Skip("update changed no mapped column")
    if creates:
        data["operation"] = CREATE
    return _validated(data | _identity(source, op, data["lead_id"]), mapping, "after")


def _deleted(
    change: Mapping[str, Any], source: Mapping[str, Any], mapping: DebeziumMapping
) -> LeadChange | Skip:
    if mapping.on_delete is DeletePolicy.IGNORE:
        return Skip("row deleted in the CRM (op=d): the mapping's delete policy is ignore")
    if mapping.on_delete is DeletePolicy.DEAD_LETTER:
        raise InvalidEvent(
            [("op", "row deleted in the CRM (op=d) and the mapping's delete policy is dead-letter")]
        )
    before = change.get("before")
    if not isinstance(before, dict) or mapping.lead_id not in before:
        raise InvalidEvent(
            [
                (
                    f"before.{mapping.lead_id}",
                    "missing: a delete names its lead only in 'before'; make the lead id column "
                    "the primary key or set REPLICA IDENTITY FULL on the table",
                )
            ]
        )
    row = RowImage(before, None, mapping, only_changed=False, side="before")
    data: dict[str, Any] = {"lead_id": row.lead_id(), "disposition": mapping.close_disposition}
    if campaign := row.campaign():
        data["campaign"] = campaign
    return _validated(data | _identity(source, "d", data["lead_id"]), mapping, "before")


def _image(change: Mapping[str, Any], side: str) -> dict[str, Any]:
    row = change.get(side)
    if not isinstance(row, dict):
        raise InvalidEvent([(side, f"missing: op={change.get('op')} carries the row in {side!r}")])
    return row


def _check_table(source: Mapping[str, Any], mapping: DebeziumMapping) -> None:
    if mapping.table is None:
        return
    table, schema = source.get("table"), source.get("schema")
    if not isinstance(table, str):
        raise InvalidEvent([("source.table", f"should name a table, found {_kind(table)}")])
    if not isinstance(schema, str | None):
        raise InvalidEvent([("source.schema", f"should name a schema, found {_kind(schema)}")])
    qualified = f"{schema}.{table}"
    if mapping.table not in (table, qualified):
        raise InvalidEvent(
            [
                (
                    "source.table",
                    f"the row is from {qualified}, the mapping file maps {mapping.table}",
                )
            ]
        )


def _identity(source: Mapping[str, Any], op: str, lead_id: str) -> dict[str, Any]:
    """``event_id`` and ``occurred_at``: same record, same id (redeliveries stay recognisable)."""
    millis = _timestamp(source, "ts_ms")
    micros = _timestamp(source, "ts_us")
    if micros is None:
        micros = None if millis is None else millis * 1000
    if micros is None:
        raise InvalidEvent([("source.ts_ms", "missing: it is the commit time, our occurred_at")])
    origin = ".".join(
        str(source[key]) for key in ("name", "db", "schema", "table") if source.get(key)
    )
    lsn = source.get("lsn")
    event_id = f"{origin}:{'-' if lsn is None else lsn}:{millis}:{op}:{lead_id}"
    if len(event_id) > _ID_LIMIT:
        event_id = "debezium:" + hashlib.sha256(event_id.encode()).hexdigest()
    try:
        occurred_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise InvalidEvent([("source.ts_ms", f"{millis} is out of range")]) from None
    return {"event_id": event_id, "occurred_at": occurred_at}


def _timestamp(source: Mapping[str, Any], key: str) -> int | None:
    try:
        return integer(source.get(key))
    except ValueError as exc:
        raise InvalidEvent([(f"source.{key}", str(exc))]) from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, dict):
        return "a JSON object"
    return f"{type(value).__name__} {value!r}"


def _validated(data: dict[str, Any], mapping: DebeziumMapping, side: str) -> LeadChange:
    try:
        return LeadChange.from_dict(data)
    except InvalidEvent as exc:
        column_of = columns_by_target(mapping)
        raise InvalidEvent(
            [
                (f"{side}.{column_of[path]}", f"{message} (mapped to {path})")
                if path in column_of
                else (path, message)
                for path, message in exc.errors
            ]
        ) from None

"""CRM column values, read through the mapping file, as lead-change fields.

A row image (Debezium's ``after``, or ``before`` for a delete) becomes the dict
``LeadChange.from_dict`` validates. For an update only changed columns are
sent, where "changed" is what the event can prove:

- a column whose ``before`` value equals its ``after`` value is unchanged;
- a column ``before`` lacks (REPLICA IDENTITY DEFAULT or NOTHING) counts as changed:
  sending a value again is harmless, losing an edit is not;
- a column holding Debezium's unavailable-value placeholder (TOAST) is unchanged.

What an unchanged column becomes: a phone is sent as ``<No Change>``, anything
else is left out, so the PBX keeps its value; a disposition the CRM did not
change is not re-sent (re-sending would run its actions again). A create
(``create=True``) has no value to keep: a phone it does not hold is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from contracts.events import InvalidEvent
from contracts.formats.mapping import Callback, CallbackEncoding, DebeziumMapping
from contracts.noojee import NO_CHANGE

_EPOCH: Final = datetime(1970, 1, 1)  # naive: Debezium's epoch numbers are UTC wall-clock
_MICROS_PER: Final = {
    CallbackEncoding.EPOCH_MILLIS: (1000, 1),
    CallbackEncoding.EPOCH_MICROS: (1, 1),
    CallbackEncoding.EPOCH_NANOS: (1, 1000),
}


def columns_by_target(mapping: DebeziumMapping) -> dict[str, str]:
    """Lead-change field path -> the column feeding it (to name columns in errors)."""
    targets = {
        "lead_id": mapping.lead_id,
        "disposition": mapping.disposition,
        "priority": mapping.priority,
        "contact_hours": mapping.contact_hours,
        "callback_at": mapping.callback.column if mapping.callback else None,
        **{f"campaign.{key}": column for key, column in mapping.campaign.items()},
        **{f"phones.{name}": column for column, name in mapping.phones.items()},
        **{f"fields.{name}": column for column, name in mapping.fields.items()},
    }
    return {target: column for target, column in targets.items() if column}


class RowImage:
    """One row image read through the mapping; ``only_changed`` for updates."""

    def __init__(
        self,
        row: dict[str, Any],
        before: Any,
        mapping: DebeziumMapping,
        *,
        only_changed: bool,
        side: str = "after",
        create: bool = False,
    ) -> None:
        self.row, self.mapping, self.side, self.create = row, mapping, side, create
        self.before: dict[str, Any] | None = before if isinstance(before, dict) else None
        self.only_changed = only_changed
        self.any_change = False

    def changed(self, column: str) -> bool:
        if column not in self.row or self.row[column] == self.mapping.unavailable_value:
            return False  # not captured, or a TOASTed value the update left alone
        if not self.only_changed or self.before is None or column not in self.before:
            return True
        return bool(self.before[column] != self.row[column])

    def holds(self, column: str) -> bool:
        """The row has a value in ``column`` (captured, not null, not a placeholder)."""
        return self.changed(column) and self.row[column] is not None

    def value(self, column: str, convert: Callable[[Any], Any]) -> Any:
        try:
            return convert(self.row[column])
        except ValueError as exc:
            raise InvalidEvent([(f"{self.side}.{column}", str(exc))]) from None

    def lead_id(self) -> str:
        column = self.mapping.lead_id
        if column not in self.row or self.row[column] is None:
            raise InvalidEvent([(f"{self.side}.{column}", "missing: it is the lead id column")])
        return str(self.value(column, _text))

    def campaign(self) -> dict[str, int]:
        # Always sent when present: the ids say where the lead lives, changed or not.
        ids = {key: self.value(col, integer) for key, col in self.mapping.campaign.items()}
        return {key: value for key, value in ids.items() if value is not None}

    def lead_change(self) -> dict[str, Any]:
        """The lead-change fields; sets ``any_change`` (did anything but ids change?)."""
        mapping = self.mapping
        data: dict[str, Any] = {"lead_id": self.lead_id()}
        singles: list[tuple[str, str | None, Callable[[Any], Any]]] = [
            ("disposition", mapping.disposition, _text),
            ("priority", mapping.priority, integer),
            ("contact_hours", mapping.contact_hours, _text),
        ]
        if mapping.callback is not None:
            singles.append(("callback_at", mapping.callback.column, _moment(mapping.callback)))
        for key, column, convert in singles:
            if column and self.changed(column):
                value = self.value(column, convert)
                if value is not None:  # a cleared column cannot be cleared in the PBX
                    data[key] = value
        phones = {
            name: self.value(column, _phone) if self.changed(column) else NO_CHANGE
            for column, name in mapping.phones.items()
            if not self.create or self.holds(column)
        }
        fields = {
            name: self.value(column, _field)
            for column, name in mapping.fields.items()
            if self.changed(column)
        }
        self.any_change = (
            len(data) > 1 or bool(fields) or any(number != NO_CHANGE for number in phones.values())
        )
        if phones:
            data["phones"] = phones
        if fields:
            data["fields"] = fields
        if campaign := self.campaign():
            data["campaign"] = campaign
        return data


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"should be text, found {type(value).__name__} {value!r}")


def integer(value: Any) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"should be an integer, found {value!r}")


def _phone(value: Any) -> str:
    if value is None:
        return NO_CHANGE  # the API cannot blank a phone field; keep what the PBX has
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"should be a phone number, found {value!r}")
    return str(value)


def _field(value: Any) -> str:
    if value is None:
        return ""  # the CRM cleared it: clear it in the PBX too
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"should be a single value, found {type(value).__name__}")


def _moment(callback: Callback) -> Callable[[Any], datetime | None]:
    def convert(value: Any) -> datetime | None:
        if value is None:
            return None
        encoding = callback.encoding
        if encoding is CallbackEncoding.ISO:
            if not isinstance(value, str):
                raise ValueError(f"should be ISO 8601 text (encoding iso), found {value!r}")
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from None
        else:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"should be an integer (encoding {encoding}), found {value!r}")
            times, per = _MICROS_PER[encoding]
            try:
                moment = _EPOCH + timedelta(microseconds=value * times // per)
            except OverflowError:
                raise ValueError(f"{value} is out of range for encoding {encoding}") from None
        # Offset-less values are wall-clock time in the CRM's zone (the mapping says which).
        return moment if moment.tzinfo else moment.replace(tzinfo=callback.timezone)

    return convert

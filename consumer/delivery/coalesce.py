"""Merging a lead's waiting events into one call, without ever hiding a disposition.

A backlog (after a PBX maintenance window, or a CRM burst) often holds several
events for one lead; sending each spends scarce PBX capacity on states that are
already stale. Consecutive events merge, last write wins per field, but a group
never spans a change of disposition: every disposition the CRM set still
reaches the PBX, in order, so its configured actions still run. Nor does a group
span a change of campaign (the call goes to one campaign).

A create only ever heads a group: the updates after it merge into it, and the
group is one insert carrying the newest state (a ``<No Change>`` of a later
update keeps what the create set, and where the create set nothing there is
nothing to keep: the field is left out). An update never takes a create in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from contracts.events import LeadChange, phone_key
from contracts.noojee import NO_CHANGE

# Scalar fields where a later event that names a value replaces the earlier one.
_SCALARS = ("disposition", "callback_at", "priority", "contact_hours", "campaign")


def group_disposition(events: Sequence[LeadChange]) -> str | None:
    for event in reversed(events):
        if event.disposition is not None:
            return event.disposition
    return None


def can_join(group: Sequence[LeadChange], event: LeadChange) -> bool:
    """Whether ``event`` may merge into ``group`` (same lead, in offset order)."""
    if event.campaign != group[0].campaign or event.creates:
        return False
    if event.disposition is None:
        return True
    current = group_disposition(group)
    return current is None or current == event.disposition


def merge(events: Sequence[LeadChange]) -> LeadChange:
    """One event equivalent to applying ``events`` in order (last write wins per field)."""
    if len(events) == 1:
        return events[0]
    last = events[-1]
    update: dict[str, Any] = {}
    for name in _SCALARS:
        for event in reversed(events):
            value = getattr(event, name)
            if value is not None:
                update[name] = value
                break
    phones = _merged([event.phones for event in events], phone_key)
    if phones is not None:
        update["phones"] = phones
    fields = _merged([event.fields for event in events], _exact)
    if fields is not None:
        update["fields"] = fields
    if events[0].creates:
        update["operation"] = events[0].operation
        _drop_unknown(update, events[0])
    # The merged call stands for the last event: its id and time identify it.
    return last.model_copy(update=update)


def _exact(name: str) -> str:
    return name


def _drop_unknown(update: dict[str, Any], create: LeadChange) -> None:
    """Leaves out the ``<No Change>`` values a create's later updates brought in where the
    create itself set nothing: a new lead has no value to keep (the create's own are sent
    as given, and the PBX answers 108 for them as it would for the create alone)."""
    for name, key in (("phones", phone_key), ("fields", _exact)):
        given = {key(field) for field in getattr(create, name) or {}}
        values = update.get(name)
        if values is not None:
            update[name] = {
                field: value
                for field, value in values.items()
                if value != NO_CHANGE or key(field) in given
            }


def _merged(
    maps: Sequence[dict[str, str] | None], key: Callable[[str], str]
) -> dict[str, str] | None:
    """Name -> value over ``maps`` in order, last write wins; None when none was given.

    Names are compared through ``key`` (phones ignore case, as the request builder
    does), and ``<No Change>`` keeps what an earlier event of the group set.
    """
    merged: dict[str, tuple[str, str]] = {}
    seen = False
    for values in maps:
        if values is None:
            continue
        seen = True
        for name, value in values.items():
            folded = key(name)
            if value != NO_CHANGE or folded not in merged:
                merged[folded] = (name, value)
    return dict(merged.values()) if seen else None

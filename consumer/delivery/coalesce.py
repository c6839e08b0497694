"""Merging a lead's waiting events into one call, without ever hiding a disposition.

A backlog (after a PBX maintenance window, or a CRM burst) often holds several
events for one lead; sending each spends scarce PBX capacity on states that are
already stale. Consecutive events merge, last write wins per field, but a group
never spans a change of disposition: every disposition the CRM set still
reaches the PBX, in order, so its configured actions still run. Nor does a group
span a change of campaign (the call goes to one campaign).
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
    if event.campaign != group[0].campaign:
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
    # The merged call stands for the last event: its id and time identify it.
    return last.model_copy(update=update)


def _exact(name: str) -> str:
    return name


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

"""Merging a lead's waiting events into one call, without ever hiding a disposition.

A backlog (after a PBX maintenance window, or a CRM burst) often holds several
events for one lead; sending each spends scarce PBX capacity on states that are
already stale. Consecutive events merge, last write wins per field, but a group
never spans a change of disposition: every disposition the CRM set still
reaches the PBX, in order, so its configured actions still run. Nor does a group
span a change of campaign (the call goes to one campaign).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.events import LeadChange
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
    for name in ("phones", "fields"):
        merged: dict[str, str] = {}
        seen = False
        for event in events:
            values = getattr(event, name)
            if values is not None:
                # "<No Change>" keeps what an earlier event in the group set.
                merged.update(
                    (key, value)
                    for key, value in values.items()
                    if value != NO_CHANGE or key not in merged
                )
                seen = True
        if seen:
            update[name] = merged
    # The merged call stands for the last event: its id and time identify it.
    return last.model_copy(update=update)

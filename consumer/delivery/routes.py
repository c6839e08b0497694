"""Which call an event makes next after the PBX refused one: the fallback rules, pure.

An event's first call is an insert when it creates its lead, an update
otherwise. Three refusals have a documented way on (docs/reference/noojee-api.md)::

    insert  answered 112 (the lead exists)        → update, the same fields
    update  answered 101, LEADSYNC_CREATE_MISSING  → insert, if the event can be one
    update  answered 107, LEADSYNC_NOOJEE_UNDIALLED_DISPOSITION set
                                                   → the same update with that disposition

Each way is taken at most once per event, so the chain is bounded (a second
107 is a dead letter), and anything else ends the event as before.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from contracts.deadletter import Failure
from contracts.events import LeadChange
from contracts.insert import build_insert_lead_fast
from contracts.insert_reasons import reason_on_insert
from contracts.noojee import NO_CHANGE, Endpoint, LeadCall, NoojeeCode
from contracts.request import RequestDefaults, build_update_lead_fast


class Route(StrEnum):
    """Why a call goes where it goes; the value is the metric label of a fallback."""

    UPDATE = "update"
    CREATE = "create"
    """The event creates its lead: insertLeadFast."""
    UPDATE_EXISTING = "update_existing"
    """The insert answered 112: the lead exists, so it is updated with the same fields."""
    CREATE_MISSING = "create_missing"
    """The update answered 101 and LEADSYNC_CREATE_MISSING is on: the lead is inserted."""
    UNDIALLED = "undialled_resend"
    """The update answered 107: sent again with LEADSYNC_NOOJEE_UNDIALLED_DISPOSITION."""

    @property
    def endpoint(self) -> Endpoint:
        inserts = self in (Route.CREATE, Route.CREATE_MISSING)
        return Endpoint.INSERT if inserts else Endpoint.UPDATE


_WHY: dict[Route, str] = {
    Route.CREATE: "the event creates the lead",
    Route.UPDATE_EXISTING: "the PBX already has the lead",
    Route.CREATE_MISSING: "LEADSYNC_CREATE_MISSING: the PBX lacks the lead",
    Route.UNDIALLED: "LEADSYNC_NOOJEE_UNDIALLED_DISPOSITION: the lead was never dialled",
}


def first_route(event: LeadChange) -> Route:
    return Route.CREATE if event.creates else Route.UPDATE


@dataclass(frozen=True, slots=True)
class Fallbacks:
    """The settings that open the ways on (``LEADSYNC_CREATE_MISSING`` and friends)."""

    create_missing: bool = False
    undialled_disposition: str | None = None

    def __post_init__(self) -> None:
        if self.undialled_disposition in ("", NO_CHANGE):
            raise ValueError(f"the undialled disposition must be a real one, not {NO_CHANGE!r}")

    def after(self, route: Route, code: int | None, taken: Collection[Route]) -> Route | None:
        """The next route after ``route`` was refused with ``code``; None: a dead letter."""
        if route.endpoint is Endpoint.INSERT:
            found = Route.UPDATE_EXISTING if code == NoojeeCode.DUPLICATE_EXTERNAL_ID else None
        elif code == NoojeeCode.COULDNT_FIND_THE_LEAD and self.create_missing:
            found = Route.CREATE_MISSING
        elif code == NoojeeCode.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED:
            found = Route.UNDIALLED if self.undialled_disposition else None
        else:
            found = None
        return None if found in taken else found

    def call_for(self, route: Route, event: LeadChange, defaults: RequestDefaults) -> LeadCall:
        """The call ``route`` makes for ``event``; ``RequestError`` as the builders raise it."""
        if route.endpoint is Endpoint.INSERT:
            return build_insert_lead_fast(event, defaults)
        if route is Route.UNDIALLED and self.undialled_disposition:
            event = event.model_copy(update={"disposition": self.undialled_disposition})
        return build_update_lead_fast(event, defaults)


@dataclass(frozen=True, slots=True)
class Step:
    """One route an event took and how it ended (a ``Failure`` unless it was the last)."""

    route: Route
    failure: Failure
    sent: LeadCall | None
    """The last call sent on this route (None if none was)."""


def no_change_names(call: LeadCall | None) -> list[str]:
    """The fields of ``call`` that hold ``<No Change>`` (what a 108 on an insert is about)."""
    if call is None:
        return []
    return [name for name, value in call.body.items() if value == NO_CHANGE]


def combined(steps: Sequence[Step], *, refused: str | None = None) -> Failure:
    """The one failure the dead letter carries: the last step's answer, every attempt
    counted, the time of the first failure, and a message that says which calls were
    made and why. ``refused`` says why the last step's fallback could not be taken."""
    last = steps[-1]
    failure = last.failure
    message = failure.message
    row = reason_on_insert(failure.code) if last.route.endpoint is Endpoint.INSERT else None
    if row is not None:
        message = row.message
        names = no_change_names(last.sent)
        if failure.code == NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED and names:
            message = (
                f"The insert carried {NO_CHANGE!r} for {', '.join(names[:10])}, which a new lead "
                "cannot take: have the CRM send a value for each (or leave it out), then replay."
            )
    if refused is not None:
        message += f" LEADSYNC_CREATE_MISSING could not create it: {refused}."
    if len(steps) > 1 or last.route is not Route.UPDATE:
        message = f"{_trail(steps)}: {message}"
    return replace(
        failure,
        message=message,
        attempts=sum(step.failure.attempts for step in steps),
        first_failed_at=steps[0].failure.first_failed_at or failure.first_failed_at,
        endpoint=last.route.endpoint.value,
    )


def _trail(steps: Sequence[Step]) -> str:
    said = []
    for step in steps:
        why = _WHY.get(step.route)
        code, reason = step.failure.code, step.failure.reason
        answer = reason if code is None else f"{code} {reason}"
        said.append(f"{step.route.endpoint.value}{f' ({why})' if why else ''} answered {answer}")
    return "; then ".join(said)

"""From a ``LeadChange`` to the ``insertLeadFast`` call, and whether an update can be one.

An insert carries the new lead's whole state as the event gives it: the system
fields it names, the phones it names (a configured phone it leaves out is left
out, not sent as ``<No Change>``) and its data fields. ``<No Change>`` means
"keep the PBX's value", which a new lead does not have: an event that carries
one is still sent as it is, and the PBX answers 108 (docs/reference/noojee-api.md,
"Creating leads").
"""

from __future__ import annotations

from contracts.events import LeadChange, phone_key
from contracts.noojee import ALLOW_DUPLICATES, NO_CHANGE, InsertLeadFast, encode_insert_body
from contracts.request import RequestDefaults, add_fields, add_schedule, campaign_query, encoded


def build_insert_lead_fast(event: LeadChange, defaults: RequestDefaults) -> InsertLeadFast:
    """The call that creates ``event``'s lead, or ``RequestError`` (as for an update)."""
    query = campaign_query(event, defaults)
    if defaults.allow_duplicates:
        query[ALLOW_DUPLICATES] = "true"
    body: dict[str, str | int] = {"njExternalLeadId": event.lead_id}
    if event.disposition is not None:
        body["njDisposition"] = event.disposition
    add_schedule(body, event, defaults)
    spelling = {phone_key(name): name for name in defaults.phone_fields}
    for name, number in (event.phones or {}).items():
        body[spelling.setdefault(phone_key(name), name)] = number
    if event.fields:
        add_fields(body, event, set(spelling))
    payload = encoded(event, body, encode_insert_body)
    return InsertLeadFast(lead_id=event.lead_id, query=query, body=body, payload=payload)


def not_insertable(event: LeadChange) -> str | None:
    """Why ``event`` cannot become an insert of its lead, or None when it can.

    An update may stand for a lead the PBX lacks only when it carries what an
    insert needs: no ``<No Change>`` (a value the event does not know) and at
    least one phone number.
    """
    unknown = [name for name, value in (event.phones or {}).items() if value == NO_CHANGE]
    unknown += [name for name, value in (event.fields or {}).items() if value == NO_CHANGE]
    if unknown:
        names = ", ".join(unknown[:10]) + (
            f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        )
        return f"the event carries {NO_CHANGE!r} for {names}, and a new lead needs every value"
    if not any(value != NO_CHANGE for value in (event.phones or {}).values()):
        return "the event names no phone number, and a new lead needs at least one"
    return None

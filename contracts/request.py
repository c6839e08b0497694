"""From a validated ``LeadChange`` to the ``updateLeadFast`` call (docs/reference/noojee-api.md).

Runs once per event on the hot path, so it only reads the already-validated
model: plain dict building, no pydantic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from contracts.events import SYSTEM_PREFIX, LeadChange, phone_key
from contracts.noojee import NO_CHANGE, UpdateLeadFast, encode_body
from contracts.text import clip

_CAMPAIGN_IDS: Final = (
    # (query parameter, event's campaign key, the setting that provides a default)
    ("fTemplateId", "template_id", "LEADSYNC_NOOJEE_TEMPLATE_ID"),
    ("fCampaignId", "campaign_id", "LEADSYNC_NOOJEE_CAMPAIGN_ID"),
    ("fAllocationId", "allocation_id", "LEADSYNC_NOOJEE_ALLOCATION_ID"),
)


MAX_MESSAGE_CHARS: Final = 1000


class RequestError(Exception):
    """The event is valid on its own but cannot become a call with this configuration.

    The message is clipped: it quotes names from the event, which may be long.
    """

    def __init__(self, message: str) -> None:
        super().__init__(clip(message, MAX_MESSAGE_CHARS))


@dataclass(frozen=True, slots=True)
class RequestDefaults:
    """What the configuration adds to every call (``LEADSYNC_NOOJEE_*``)."""

    template_id: int | None
    campaign_id: int | None
    allocation_id: int | None
    timezone: ZoneInfo
    """The PBX's local zone: ``njCallBackDate`` carries no offset."""
    phone_fields: tuple[str, ...]
    """The campaign's phone fields; each is sent on every update (``<No Change>`` if not given)."""
    allow_duplicates: bool = False
    """insertLeadFast's ``allowDuplicates`` (``LEADSYNC_NOOJEE_ALLOW_DUPLICATES``)."""

    def __post_init__(self) -> None:
        if not self.phone_fields:
            # The PBX refuses a call without one (102); fail at start-up, not per event.
            raise ValueError("name at least one phone field of the campaign")


def build_update_lead_fast(event: LeadChange, defaults: RequestDefaults) -> UpdateLeadFast:
    """The call that applies ``event``, or ``RequestError`` naming what is missing or clashes."""
    query = campaign_query(event, defaults)
    body: dict[str, str | int] = {
        "njExternalLeadId": event.lead_id,
        "njDisposition": event.disposition or NO_CHANGE,
    }
    add_schedule(body, event, defaults)
    phone_names = _add_phones(body, event, defaults.phone_fields)
    if event.fields:
        add_fields(body, event, phone_names)
    payload = encoded(event, body, encode_body)
    return UpdateLeadFast(lead_id=event.lead_id, query=query, body=body, payload=payload)


def add_schedule(body: dict[str, str | int], event: LeadChange, defaults: RequestDefaults) -> None:
    """``njCallBackDate``, ``njPriority`` and ``njContactHours``, those the event gives."""
    if event.callback_at is not None:
        body["njCallBackDate"] = callback_date(event.callback_at, defaults.timezone)
    if event.priority is not None:
        body["njPriority"] = event.priority
    if event.contact_hours is not None:
        body["njContactHours"] = event.contact_hours


def encoded(
    event: LeadChange,
    body: dict[str, str | int],
    encode: Callable[[dict[str, str | int]], bytes],
) -> bytes:
    """``encode(body)``, or ``RequestError`` for text no UTF-8 encoder can send."""
    try:
        return encode(body)
    except UnicodeEncodeError as exc:
        raise RequestError(
            f"lead {event.lead_id!r} holds text that is not valid Unicode (a lone surrogate "
            f"at character {exc.start} of the body), which cannot be sent"
        ) from None


def callback_date(when: datetime, timezone: ZoneInfo) -> str:
    """``yyyy/MM/dd HH:mm`` in the PBX's zone; seconds are dropped, not rounded."""
    try:
        local = when.astimezone(timezone)
    except OverflowError:
        raise RequestError(
            f"callback_at {when.isoformat()} is out of range in {timezone.key}"
        ) from None
    return f"{local.year:04d}/{local.month:02d}/{local.day:02d} {local.hour:02d}:{local.minute:02d}"


def campaign_query(event: LeadChange, defaults: RequestDefaults) -> dict[str, str]:
    """``fTemplateId``, ``fCampaignId``, ``fAllocationId``: the event's, else the defaults."""
    query: dict[str, str] = {}
    for parameter, key, variable in _CAMPAIGN_IDS:
        value = getattr(event.campaign, key, None) if event.campaign is not None else None
        if value is None:
            value = getattr(defaults, key)
        if value is None:
            raise RequestError(
                f"no {parameter} for lead {event.lead_id!r}: set {variable} "
                f"or give campaign.{key} in the event"
            )
        query[parameter] = str(value)
    return query


def _add_phones(
    body: dict[str, str | int], event: LeadChange, configured: tuple[str, ...]
) -> set[str]:
    """Adds every phone field to ``body``; returns their names as ``phone_key`` gives them."""
    spelling = {phone_key(name): name for name in configured}
    for name in configured:
        body[name] = NO_CHANGE
    if event.phones:
        for name, number in event.phones.items():
            # "firstphone" means the configured "FirstPhone", not a second field; names
            # the configuration does not know are sent as given.
            body[spelling.setdefault(phone_key(name), name)] = number
    return set(spelling)


def add_fields(body: dict[str, str | int], event: LeadChange, phone_names: set[str]) -> None:
    """The event's data fields; ``phone_names`` (``phone_key`` spelling) may not be among them."""
    for name, value in (event.fields or {}).items():
        if name[: len(SYSTEM_PREFIX)].lower() == SYSTEM_PREFIX:
            raise RequestError(
                f"field {name!r} of lead {event.lead_id!r} uses the {SYSTEM_PREFIX!r} prefix "
                "of the PBX's system fields"
            )
        if phone_key(name) in phone_names:
            raise RequestError(
                f"field {name!r} of lead {event.lead_id!r} is a phone field: send it in 'phones'"
            )
        body[name] = value

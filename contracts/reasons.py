"""Every way an event can end, one row each: the Noojee codes and leadsync's own reasons.

A row says how leadsync handles the reason (``Handling``), the sentence a dead
letter and the log carry (``message``: what failed, what to do), and what
``leadsync dlq show`` tells an operator (``meaning``, ``fix``, ``replay_helps``).
For a Noojee code it also says the HTTP status the PBX answers it with.

Everything that needs one of these reads it here, so a new code is one row:

- ``consumer.pbx.outcomes.classify``: the handling and the message of a code;
- ``consumer.deadletters.tools.advice``: meaning, fix, whether a replay helps;
- ``consumer.sandbox.simulator``: the HTTP status of each code it answers;
- docs/operations.md: the runbook's reason table (a test compares the two);
- ``contracts.insert_reasons``: a refused insert's own sentence and advice, where they differ.

Importing this module fails if a ``NoojeeCode`` or a ``DeadLetterReason`` has no row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from contracts.deadletter import DeadLetterReason
from contracts.noojee import NoojeeCode


class Handling(StrEnum):
    APPLIED = "applied"
    """The update was applied."""
    RETRY = "retry"
    """Transient: retried with backoff until the retry deadline, then RETRIES_EXHAUSTED."""
    PERMANENT = "permanent"
    """The same event will never succeed: dead-lettered at once."""
    FATAL = "fatal"
    """No event can succeed: the service stops."""


@dataclass(frozen=True, slots=True)
class Reason:
    name: str
    handling: Handling
    message: str
    """The dead letter's and the log's sentence: what failed and what to do."""
    meaning: str
    """``dlq show``: what happened."""
    fix: str
    """``dlq show``: what an operator does about it."""
    replay_helps: bool
    """Whether replaying the unchanged event can succeed once ``fix`` is done."""
    code: NoojeeCode | None = None
    http_status: int | None = None
    """The HTTP status the PBX answers this code with."""


_C = NoojeeCode
_R = Handling


def _code(  # noqa: PLR0917 - a table row reads best positionally
    code: NoojeeCode,
    handling: Handling,
    message: str,
    meaning: str,
    fix: str,
    replay_helps: bool = True,
) -> Reason:
    status = 200 if code is _C.OK else 500 if code is _C.EXCEPTION else 400
    return Reason(code.name, handling, message, meaning, fix, replay_helps, code, status)


_CODE_ROWS = (
    _code(_C.OK, _R.APPLIED, "The PBX applied the update.", "Applied.", "Nothing.", False),
    _code(
        _C.COULDNT_FIND_THE_LEAD,
        _R.PERMANENT,
        "The PBX has no lead with this njExternalLeadId: create the lead in the campaign or "
        "fix the CRM id, then replay.",
        "The PBX has no lead with this njExternalLeadId in the campaign.",
        "Create the lead in the campaign, or correct the CRM's id. LEADSYNC_CREATE_MISSING=true "
        "inserts it from an event with a phone and no '<No Change>' (the message says why not).",
    ),
    _code(
        _C.NO_PHONE_FIELDS,
        _R.PERMANENT,
        "The update named no phone field the campaign knows: list them in "
        "LEADSYNC_NOOJEE_PHONE_FIELDS or give the lead a phone, then replay.",
        "The update named no phone field the campaign has.",
        "List the campaign's phone fields in LEADSYNC_NOOJEE_PHONE_FIELDS and restart the "
        "service, or give the lead a phone number in the CRM.",
    ),
    _code(
        _C.EXCEPTION,
        _R.RETRY,
        "The PBX failed internally (code 103); the update will be retried.",
        "The PBX failed internally (103). The service retries this code, so it only ends here "
        "as the last error of RETRIES_EXHAUSTED.",
        "Check the PBX's logs and health with Noojee support.",
    ),
    _code(
        _C.DNC,
        _R.PERMANENT,
        "The lead's numbers are on the PBX's do-not-call list: take them off the list, then "
        "replay, or drop the event if the lead must not be called.",
        "A number of the lead is on the PBX's do-not-call list.",
        "If the number may be called, take it off the DNC list; if not, do not replay.",
    ),
    _code(
        _C.DUPLICATE,
        _R.PERMANENT,
        "Another lead in the campaign has this phone number: merge or correct the leads in "
        "the CRM, then replay.",
        "Another lead in the campaign has this phone number.",
        "Merge or correct the two leads (in the dialler or the CRM).",
    ),
    _code(
        _C.INVALID_DISPOSTION,
        _R.PERMANENT,
        "The PBX has no such disposition: create it in the campaign or correct the CRM's "
        "disposition, then replay.",
        "The campaign has no disposition by this name (the vendor spells the code this way).",
        "Create the disposition in the campaign, or correct the CRM's disposition mapping.",
    ),
    _code(
        _C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED,
        _R.PERMANENT,
        "The lead was never dialled, so its disposition cannot be '<No Change>': have the CRM "
        "send the change with a real disposition (a replay of this event as-is fails again).",
        "The lead was never dialled, so its disposition cannot be '<No Change>'.",
        "Set LEADSYNC_NOOJEE_UNDIALLED_DISPOSITION to an action-free disposition (such updates "
        "are then resent with it) and replay, or have the CRM send a real disposition.",
    ),
    _code(
        _C.IMPORT_BUT_NOCHANGE_SPECIFIED,
        _R.PERMANENT,
        "The PBX would create this lead, and a new lead cannot take '<No Change>': create the "
        "lead in the campaign first, then replay.",
        "The PBX would create this lead, and a new lead cannot take '<No Change>'.",
        "Create the lead in the campaign first (then the update applies), or have the CRM "
        "send every field.",
    ),
    _code(
        _C.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS,
        _R.RETRY,
        "The PBX queued the call over a minute behind others (code 109); the update will be "
        "retried with fewer calls at once.",
        "The PBX queued the call for over a minute (109). The service retries this code, so "
        "it only ends here as the last error of RETRIES_EXHAUSTED.",
        "Lower LEADSYNC_MAX_CONCURRENCY / LEADSYNC_RATE_LIMIT or find what else loads the PBX.",
    ),
    _code(
        _C.LEAD_NOT_UPDATED_DUE_TO_CONFLICT,
        _R.PERMANENT,
        "Someone edited the lead in the dialler at the same moment: check the lead by hand, "
        "then replay only if the event still applies.",
        "Someone edited the lead in the dialler at the same moment.",
        "Look at the lead in the dialler; replay only if this event should still apply.",
    ),
    _code(
        _C.INVALID_TIMEZONE_SPECIFIED,
        _R.PERMANENT,
        "The PBX does not know these contact hours (njContactHours): create them on the PBX "
        "or correct the CRM's value, then replay.",
        "The PBX does not know these contact hours (njContactHours).",
        "Create the contact hours on the PBX, or correct the CRM's value.",
    ),
    _code(
        _C.DUPLICATE_EXTERNAL_ID,
        _R.PERMANENT,
        "Another lead in the campaign already has this njExternalLeadId: remove the duplicate "
        "in the dialler, then replay.",
        "Two leads in the campaign have this njExternalLeadId.",
        "Remove or re-key the duplicate lead in the dialler.",
    ),
)

_D = DeadLetterReason
_LEADSYNC_ROWS = (
    Reason(
        _D.INVALID_EVENT,
        _R.PERMANENT,
        "The record is not a valid lead-change event: the message names the field.",
        "The record is not a valid lead-change event (not UTF-8, not JSON, or a field breaks "
        "the schema: the message names it).",
        "Fix the producer (`leadsync schema` prints the contract). Replaying the same bytes "
        "fails again: have the CRM send a corrected event instead.",
        False,
    ),
    Reason(
        _D.INVALID_REQUEST,
        _R.PERMANENT,
        "A valid event that cannot become a call with this configuration.",
        "A valid event that cannot become a call: no campaign id configured or given, or a "
        "field clashes with the configuration.",
        "Set LEADSYNC_NOOJEE_TEMPLATE_ID / _CAMPAIGN_ID / _ALLOCATION_ID (or fix the mapping) "
        "and restart the service, or have the CRM send the campaign.",
        True,
    ),
    Reason(
        _D.RETRIES_EXHAUSTED,
        _R.PERMANENT,
        "A transient failure lasted past LEADSYNC_RETRY_DEADLINE_S.",
        "A transient error lasted past LEADSYNC_RETRY_DEADLINE_S; the message names the last "
        "error.",
        "Make sure the PBX is healthy (leadsync check), then replay.",
        True,
    ),
    Reason(
        _D.UNAUTHORIZED,
        _R.FATAL,
        "The PBX refused the API key: set LEADSYNC_NOOJEE_API_KEY to a key issued by Noojee "
        "support, then restart the service.",
        "The PBX refused the API key.",
        "Set LEADSYNC_NOOJEE_API_KEY to a valid key and restart the service.",
        True,
    ),
    Reason(
        _D.HTTP_ERROR,
        _R.PERMANENT,
        "The PBX answered a permanent HTTP error without a Noojee code.",
        "The PBX answered a permanent HTTP error without a Noojee code.",
        "Read leadsync.dlq.response; fix the URL, proxy or event it points at.",
        True,
    ),
    Reason(
        _D.INTERNAL_ERROR,
        _R.PERMANENT,
        "leadsync failed while handling this event: a bug; the traceback header says where.",
        "leadsync itself failed while handling the event: a bug, which the "
        "leadsync.dlq.traceback header locates. The event may be fine.",
        "Report the traceback; once a fixed version runs, replay the event.",
        True,
    ),
)

HTTP_STATUS_FAMILY: Final = Reason(
    "HTTP_<status>",
    _R.PERMANENT,
    "The PBX rejected the update with this HTTP status and no Noojee code.",
    "The PBX (or a proxy in front of it) rejected the call with this HTTP status and no "
    "Noojee code.",
    "Read leadsync.dlq.response: a 404 usually means LEADSYNC_NOOJEE_URL is wrong, a 413 an "
    "oversized event. Fix that, then replay.",
    True,
)
UNDOCUMENTED_CODE_FAMILY: Final = Reason(
    "NOOJEE_<code>",
    _R.PERMANENT,
    "The PBX answered a result code the vendor does not document.",
    "The PBX answered a result code the vendor does not document.",
    "Ask Noojee support what the code means (it is in leadsync.dlq.response).",
    True,
)
UNKNOWN: Final = Reason(
    "?",
    _R.PERMANENT,
    "A reason this version of leadsync does not know.",
    "A reason this version of leadsync does not know (a newer service wrote it?).",
    "Read leadsync.dlq.message: it says what failed and what to do.",
    True,
)

CODES: Mapping[NoojeeCode, Reason] = MappingProxyType(
    {row.code: row for row in _CODE_ROWS if row.code is not None}
)
REASONS: Mapping[str, Reason] = MappingProxyType(
    {row.name: row for row in (*_CODE_ROWS, *_LEADSYNC_ROWS)}
)
HTTP_STATUS_OF_CODE: Mapping[NoojeeCode, int] = MappingProxyType(
    {code: row.http_status or 400 for code, row in CODES.items()}
)
"""The HTTP status the PBX answers each code with."""


def reason_named(name: str) -> Reason:
    """The row for a dead letter's reason; the ``HTTP_<status>`` and ``NOOJEE_<code>``
    families, and names this version does not know, have a row each too."""
    found = REASONS.get(name.upper())
    if found is not None:
        return found
    if name.startswith("HTTP_"):
        return HTTP_STATUS_FAMILY
    if name.startswith("NOOJEE_"):
        return UNDOCUMENTED_CODE_FAMILY
    return UNKNOWN


def _complete() -> None:
    missing = [code.name for code in NoojeeCode if code not in CODES]
    missing += [reason.value for reason in DeadLetterReason if reason.value not in REASONS]
    if missing:
        raise RuntimeError(f"contracts.reasons has no row for {', '.join(missing)}")


_complete()

"""What an operator should do about a dead letter, per reason (``leadsync dlq show``).

One entry per reason the service writes: every Noojee code name, every
``DeadLetterReason``, and the ``HTTP_<status>`` / ``NOOJEE_<code>`` families
for answers the vendor does not document. A unit test fails when a code or a
reason has no entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.deadletter import DeadLetterReason
from contracts.noojee import NoojeeCode


@dataclass(frozen=True, slots=True)
class Advice:
    meaning: str
    fix: str
    replay_helps: bool
    """Whether replaying the unchanged event can succeed once ``fix`` is done."""


_RESEND = "Replaying the same bytes fails again: have the CRM send a corrected event instead."

ADVICE: dict[str, Advice] = {
    NoojeeCode.COULDNT_FIND_THE_LEAD.name: Advice(
        "The PBX has no lead with this njExternalLeadId in the campaign.",
        "Create (import) the lead in the campaign, or correct the lead id in the CRM.",
        True,
    ),
    NoojeeCode.NO_PHONE_FIELDS.name: Advice(
        "The update named no phone field the campaign has.",
        "List the campaign's phone fields in LEADSYNC_NOOJEE_PHONE_FIELDS and restart the "
        "service, or give the lead a phone number in the CRM.",
        True,
    ),
    NoojeeCode.EXCEPTION.name: Advice(
        "The PBX failed internally (103). The service retries this code, so it only ends here "
        "as the last error of RETRIES_EXHAUSTED.",
        "Check the PBX's logs and health with Noojee support.",
        True,
    ),
    NoojeeCode.DNC.name: Advice(
        "A number of the lead is on the PBX's do-not-call list.",
        "If the number may be called, take it off the DNC list; if not, do not replay.",
        True,
    ),
    NoojeeCode.DUPLICATE.name: Advice(
        "Another lead in the campaign has this phone number.",
        "Merge or correct the two leads (in the dialler or the CRM).",
        True,
    ),
    NoojeeCode.INVALID_DISPOSTION.name: Advice(
        "The campaign has no disposition by this name (the vendor spells the code this way).",
        "Create the disposition in the campaign, or correct the CRM's disposition mapping.",
        True,
    ),
    NoojeeCode.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED.name: Advice(
        "The lead was never dialled, so its disposition cannot be '<No Change>'.",
        "Have the CRM send the change with a real disposition. " + _RESEND,
        False,
    ),
    NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED.name: Advice(
        "The PBX would create this lead, and a new lead cannot take '<No Change>'.",
        "Create the lead in the campaign first (then the update applies), or have the CRM "
        "send every field.",
        True,
    ),
    NoojeeCode.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS.name: Advice(
        "The PBX queued the call for over a minute (109). The service retries this code, so "
        "it only ends here as the last error of RETRIES_EXHAUSTED.",
        "Lower LEADSYNC_MAX_CONCURRENCY / LEADSYNC_RATE_LIMIT or find what else loads the PBX.",
        True,
    ),
    NoojeeCode.LEAD_NOT_UPDATED_DUE_TO_CONFLICT.name: Advice(
        "Someone edited the lead in the dialler at the same moment.",
        "Look at the lead in the dialler; replay only if this event should still apply.",
        True,
    ),
    NoojeeCode.INVALID_TIMEZONE_SPECIFIED.name: Advice(
        "The PBX does not know these contact hours (njContactHours).",
        "Create the contact hours on the PBX, or correct the CRM's value.",
        True,
    ),
    NoojeeCode.DUPLICATE_EXTERNAL_ID.name: Advice(
        "Two leads in the campaign have this njExternalLeadId.",
        "Remove or re-key the duplicate lead in the dialler.",
        True,
    ),
    DeadLetterReason.INVALID_EVENT: Advice(
        "The record is not a valid lead-change event (not UTF-8, not JSON, or a field breaks "
        "the schema: the message names it).",
        "Fix the producer (`leadsync schema` prints the contract). " + _RESEND,
        False,
    ),
    DeadLetterReason.INVALID_REQUEST: Advice(
        "A valid event that cannot become a call: no campaign id configured or given, or a "
        "field clashes with the configuration.",
        "Set LEADSYNC_NOOJEE_TEMPLATE_ID / _CAMPAIGN_ID / _ALLOCATION_ID (or fix the mapping) "
        "and restart the service, or have the CRM send the campaign.",
        True,
    ),
    DeadLetterReason.RETRIES_EXHAUSTED: Advice(
        "A transient error lasted past LEADSYNC_RETRY_DEADLINE_S; the message names the last "
        "error.",
        "Make sure the PBX is healthy (leadsync check), then replay.",
        True,
    ),
    DeadLetterReason.UNAUTHORIZED: Advice(
        "The PBX refused the API key.",
        "Set LEADSYNC_NOOJEE_API_KEY to a valid key and restart the service.",
        True,
    ),
    DeadLetterReason.HTTP_ERROR: Advice(
        "The PBX answered a permanent HTTP error without a Noojee code.",
        "Read leadsync.dlq.response; fix the URL, proxy or event it points at.",
        True,
    ),
    DeadLetterReason.INTERNAL_ERROR: Advice(
        "leadsync itself failed while handling the event: a bug, which the "
        "leadsync.dlq.traceback header locates. The event may be fine.",
        "Report the traceback; once a fixed version runs, replay the event.",
        True,
    ),
}

_HTTP_STATUS = Advice(
    "The PBX (or a proxy in front of it) rejected the call with this HTTP status and no "
    "Noojee code.",
    "Read leadsync.dlq.response: a 404 usually means LEADSYNC_NOOJEE_URL is wrong, a 413 "
    "an oversized event. Fix that, then replay.",
    True,
)
_UNDOCUMENTED_CODE = Advice(
    "The PBX answered a result code the vendor does not document.",
    "Ask Noojee support what the code means (it is in leadsync.dlq.response).",
    True,
)
_UNKNOWN = Advice(
    "A reason this version of leadsync does not know (a newer service wrote it?).",
    "Read leadsync.dlq.message: it says what failed and what to do.",
    True,
)


def advice_for(reason: str) -> Advice:
    known = ADVICE.get(reason.upper())
    if known is not None:
        return known
    if reason.startswith("HTTP_"):
        return _HTTP_STATUS
    if reason.startswith("NOOJEE_"):
        return _UNDOCUMENTED_CODE
    return _UNKNOWN

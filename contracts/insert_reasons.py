"""The rows of ``contracts.reasons`` that read differently when ``insertLeadFast`` answered.

An insert refused with one of these codes is dead-lettered under the code's name,
as an update would be; what differs is what it means (the call was creating the
lead) and what an operator does about it. ``consumer.delivery.routes`` takes the
dead letter's message from here when the failed call was an insert, and
``leadsync dlq show`` its advice when the dead letter's ``leadsync.dlq.endpoint``
is ``insertLeadFast``. Codes without a row here read as in ``contracts.reasons``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from contracts.noojee import NoojeeCode
from contracts.reasons import CODES, Reason


def _insert(code: NoojeeCode, message: str, meaning: str, fix: str, replay_helps: bool) -> Reason:
    return replace(
        CODES[code], message=message, meaning=meaning, fix=fix, replay_helps=replay_helps
    )


INSERT_REASONS: Mapping[NoojeeCode, Reason] = MappingProxyType(
    {
        row.code: row
        for row in (
            _insert(
                NoojeeCode.NO_PHONE_FIELDS,
                "The new lead has no phone field the campaign knows: give the lead a phone in "
                "the CRM (or list the campaign's phone fields in LEADSYNC_NOOJEE_PHONE_FIELDS), "
                "then replay.",
                "An insert: the new lead named no phone field the campaign has.",
                "Give the lead a phone number in the CRM and have it send the create again, or "
                "list the campaign's phone fields in LEADSYNC_NOOJEE_PHONE_FIELDS and replay.",
                True,
            ),
            _insert(
                NoojeeCode.DUPLICATE,
                "Another lead in the campaign has this phone number, so the PBX did not create "
                "this one: merge the leads, or set LEADSYNC_NOOJEE_ALLOW_DUPLICATES=true if two "
                "leads may share a number, then replay.",
                "An insert: another lead in the campaign has this phone number.",
                "Merge or correct the two leads, or set LEADSYNC_NOOJEE_ALLOW_DUPLICATES=true "
                "(no duplicate-phone check on inserts) and restart, then replay.",
                True,
            ),
            _insert(
                NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED,
                "The insert carried '<No Change>', which a new lead cannot take: have the CRM "
                "send a value for each field of a new lead (a replay as-is fails again).",
                "An insert carried '<No Change>' (the message names the fields).",
                "Have the CRM send the create again with a value for each field it names (or "
                "without them). The same bytes fail again.",
                False,
            ),
            _insert(
                NoojeeCode.DUPLICATE_EXTERNAL_ID,
                "The lead already exists, and the update sent instead did not apply either (the "
                "message says why): check the lead in the dialler, then replay.",
                "An insert found the lead already there, after the update leadsync sent instead "
                "had failed (the message tells the calls in order).",
                "Read the message: fix what the update failed on, then replay.",
                True,
            ),
        )
        if row.code is not None
    }
)


def reason_on_insert(code: int | None) -> Reason | None:
    """The insert's row for ``code``, or None when it reads as for an update."""
    if code is None or code not in INSERT_REASONS:
        return None
    return INSERT_REASONS[NoojeeCode(code)]

"""The simulated PBX's leads, and the decision tables of updateLeadFast's and
insertLeadFast's codes.

Pure: the declarations come from ``SimulatorConfig``; what calls change since
(a lead dialled, a lead inserted, a conflict consumed) is kept here, so the
frozen configuration is never copied per call. Rules cite docs/reference/noojee-api.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

from consumer.sandbox.simulator.config import SimulatorConfig
from contracts.noojee import NO_CHANGE, NoojeeCode
from contracts.reasons import HTTP_STATUS_OF_CODE

INVALID_JSON: Final = "INVALID_JSON"
"""Message of the HTTP 400 answered to a body that is not a JSON object (vendor silent)."""


class LeadStore:
    """The leads as the PBX sees them: the declarations plus what calls changed since."""

    __slots__ = (
        "_config",
        "_conflicts_used",
        "_dialled",
        "_held",
        "_inserted",
        "_numbers",
        "_undisposed",
    )

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._dialled: set[str] = set()
        self._inserted: set[str] = set()
        self._undisposed: set[str] = set()
        """Leads inserted without a disposition: never dialled until one is set."""
        self._numbers: dict[str, str] = {}
        """Phone number -> the inserted lead holding it (105 for another insert)."""
        self._held: dict[str, dict[str, str]] = {}
        """Inserted lead -> its phone field -> number (what ``_numbers`` must forget)."""
        self._conflicts_used: Counter[str] = Counter()

    def redeclare(self, config: SimulatorConfig, changed: Iterable[str]) -> None:
        """Adopt new declarations; a redeclared option forgets what calls changed in it."""
        changed = set(changed)
        self._config = config
        if "never_dialled" in changed:
            self._dialled.clear()
        if changed & {"unknown_leads", "known_leads", "importing_leads"}:
            self._inserted.clear()
            self._undisposed.clear()
            self._numbers.clear()
            self._held.clear()
        if "conflict_leads" in changed:
            self._conflicts_used.clear()

    def never_dialled(self, lead_id: str) -> bool:
        declared = lead_id in self._config.never_dialled or lead_id in self._undisposed
        return declared and lead_id not in self._dialled

    def importing(self, lead_id: str) -> bool:
        return lead_id in self._config.importing_leads and lead_id not in self._inserted

    def unknown(self, lead_id: str) -> bool:
        config = self._config
        if lead_id in self._inserted or self.importing(lead_id):
            return False
        whitelist = config.known_leads
        return lead_id in config.unknown_leads or (
            whitelist is not None and lead_id not in whitelist
        )

    def answer(self, body: object, *, fail: bool) -> NoojeeCode | None:
        """The code of one call (checks in a fixed order), applying the update on OK.

        None when the body is not a JSON object. ``fail`` is the roll of the
        injected 103 ratio, consulted only when every data check passed.
        """
        if not isinstance(body, dict):
            return None
        lead = body.get("njExternalLeadId")
        if not isinstance(lead, str) or not lead or self.unknown(lead):
            return NoojeeCode.COULDNT_FIND_THE_LEAD
        config = self._config
        if lead in config.duplicate_external_ids:
            return NoojeeCode.DUPLICATE_EXTERNAL_ID
        phones = [body[name] for name in config.phone_fields if name in body]
        if not phones:
            return NoojeeCode.NO_PHONE_FIELDS
        numbers = {str(value) for value in phones if value != NO_CHANGE}
        if not numbers.isdisjoint(config.dnc_numbers):
            return NoojeeCode.DNC
        if not numbers.isdisjoint(config.duplicate_numbers):
            return NoojeeCode.DUPLICATE
        disposition = body.get("njDisposition")
        if disposition != NO_CHANGE and not self._known_disposition(disposition):
            return NoojeeCode.INVALID_DISPOSTION
        if disposition == NO_CHANGE and self.never_dialled(lead):
            return NoojeeCode.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED
        if self.importing(lead) and NO_CHANGE in body.values():
            return NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED
        if not self._known_hours(body.get("njContactHours")):
            return NoojeeCode.INVALID_TIMEZONE_SPECIFIED
        if self._conflicts_used[lead] < config.conflict_leads.get(lead, 0):
            self._conflicts_used[lead] += 1
            return NoojeeCode.LEAD_NOT_UPDATED_DUE_TO_CONFLICT
        if fail:
            return NoojeeCode.EXCEPTION
        if self.importing(lead):
            self._inserted.add(lead)
        if disposition != NO_CHANGE:
            self._dialled.add(lead)
        if lead in self._held:
            self._hold_numbers(lead, body)
        return NoojeeCode.OK

    def _known_disposition(self, disposition: object) -> bool:
        valid = self._config.valid_dispositions
        return isinstance(disposition, str) and (valid is None or disposition in valid)

    def _known_hours(self, hours: object) -> bool:
        zones = self._config.valid_contact_hours
        return hours is None or zones is None or (isinstance(hours, str) and hours in zones)

    def answer_insert(
        self, body: object, *, allow_duplicates: bool, fail: bool
    ) -> NoojeeCode | None:
        """The code of one insertLeadFast call (checks in a fixed order: **assumption**,
        the vendor lists the codes, not their order), inserting the lead on OK."""
        if not isinstance(body, dict):
            return None
        if NO_CHANGE in body.values():
            return NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED
        config = self._config
        phones = [str(body[name]) for name in config.phone_fields if name in body]
        if not phones:
            return NoojeeCode.NO_PHONE_FIELDS
        lead = body.get("njExternalLeadId")
        lead = lead if isinstance(lead, str) and lead else None
        if lead is not None and (self._exists(lead) or lead in config.duplicate_external_ids):
            return NoojeeCode.DUPLICATE_EXTERNAL_ID
        numbers = set(phones)
        if not numbers.isdisjoint(config.dnc_numbers):
            return NoojeeCode.DNC
        if not allow_duplicates and (
            not numbers.isdisjoint(config.duplicate_numbers)
            or any(number in self._numbers for number in numbers)
        ):
            return NoojeeCode.DUPLICATE
        disposition = body.get("njDisposition")
        if disposition is not None and not self._known_disposition(disposition):
            return NoojeeCode.INVALID_DISPOSTION
        if not self._known_hours(body.get("njContactHours")):
            return NoojeeCode.INVALID_TIMEZONE_SPECIFIED
        if fail:
            return NoojeeCode.EXCEPTION
        if lead is not None:
            self._inserted.add(lead)
            if disposition is None:
                self._undisposed.add(lead)
            else:
                self._dialled.add(lead)
            self._held[lead] = {}
            self._hold_numbers(lead, body)
        return NoojeeCode.OK

    def _exists(self, lead_id: str) -> bool:
        """The PBX holds the lead: inserted, or neither declared unknown nor being imported."""
        if lead_id in self._inserted:
            return True
        return not self.importing(lead_id) and not self.unknown(lead_id)

    def _hold_numbers(self, lead_id: str, body: dict[str, Any]) -> None:
        held = self._held[lead_id]
        for name in self._config.phone_fields:
            number = body.get(name)
            if number is None or number == NO_CHANGE:
                continue
            old = held.get(name)
            if old is not None and self._numbers.get(old) == lead_id:
                del self._numbers[old]
            held[name] = text = str(number)
            self._numbers[text] = lead_id

    def to_json(self) -> dict[str, Any]:
        """The declarations as they stand now (calls dial, insert and consume conflicts)."""
        config = self._config
        conflicts = {
            lead: count - self._conflicts_used[lead]
            for lead, count in config.conflict_leads.items()
        }
        return {
            "never_dialled": sorted((config.never_dialled | self._undisposed) - self._dialled),
            "importing_leads": sorted(config.importing_leads - self._inserted),
            "unknown_leads": sorted(config.unknown_leads - self._inserted),
            "known_leads": None
            if config.known_leads is None
            else sorted(config.known_leads | self._inserted),
            "conflict_leads": {lead: left for lead, left in conflicts.items() if left > 0},
        }


def response_of(code: NoojeeCode | None) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body answering ``code`` (None: the body was not a JSON object)."""
    if code is None:
        return 400, {"message": INVALID_JSON, "error": "the body must be a JSON object"}
    return HTTP_STATUS_OF_CODE[code], {"code": int(code), "message": code.name}

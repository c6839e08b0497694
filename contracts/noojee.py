"""The updateLeadFast call as the vendor documents it (see noojee-api.md).

The response codes are the vendor's, spelling included (``INVALID_DISPOSTION``):
dead-letter headers carry these names, so operators can search the vendor docs
for them verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from pydantic import BaseModel, ConfigDict

NO_CHANGE = "<No Change>"
"""Keeps a field's current value in the dialler (angle brackets included)."""

UPDATE_LEAD_FAST_PATH = "/servicemanager/rest/CampaignAPI/updateLeadFast"


class NoojeeCode(IntEnum):
    """Every ``code`` the endpoint documents."""

    OK = 0
    COULDNT_FIND_THE_LEAD = 101
    NO_PHONE_FIELDS = 102
    EXCEPTION = 103
    DNC = 104
    DUPLICATE = 105
    INVALID_DISPOSTION = 106
    DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED = 107
    IMPORT_BUT_NOCHANGE_SPECIFIED = 108
    TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS = 109
    LEAD_NOT_UPDATED_DUE_TO_CONFLICT = 110
    INVALID_TIMEZONE_SPECIFIED = 111
    DUPLICATE_EXTERNAL_ID = 112


HTTP_STATUS_OF_CODE: dict[NoojeeCode, int] = {
    code: (200 if code is NoojeeCode.OK else 500 if code is NoojeeCode.EXCEPTION else 400)
    for code in NoojeeCode
}
"""The HTTP status the PBX answers each code with."""


class NoojeeResponse(BaseModel):
    """The JSON body of every answer: ``{"code": <int>, "message": "<NAME>"}``."""

    model_config = ConfigDict(frozen=True)

    code: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class UpdateLeadFast:
    """One call, ready to send: everything but the base URL and the API key.

    ``query`` holds ``fTemplateId``/``fCampaignId``/``fAllocationId`` as strings and
    never ``apiKey`` (the client adds it at the last moment); ``body`` is the JSON
    object of lead fields.
    """

    lead_id: str
    query: Mapping[str, str]
    body: Mapping[str, str | int]

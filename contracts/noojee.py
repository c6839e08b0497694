"""The updateLeadFast call as the vendor documents it (docs/reference/noojee-api.md).

The response codes are the vendor's, spelling included (``INVALID_DISPOSTION``):
dead-letter headers carry these names, so operators can search the vendor docs
for them verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from pydantic import BaseModel, ConfigDict

NO_CHANGE = "<No Change>"
"""Keeps a field's current value in the dialler (angle brackets included)."""

UPDATE_LEAD_FAST_PATH = "/servicemanager/rest/CampaignAPI/updateLeadFast"

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""``json.dumps`` with these options builds a new encoder on every call: one serves all."""


def encode_body(body: Mapping[str, str | int]) -> bytes:
    """The JSON body as sent: compact, UTF-8.

    Raises ``UnicodeEncodeError`` for text no UTF-8 encoder can send (a lone
    surrogate), which the request builder turns into a ``RequestError``.
    """
    return _ENCODER.encode(body if type(body) is dict else dict(body)).encode()


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
    payload: bytes = b""
    """``body`` as it goes on the wire (``encode_body``); encoded here when not given."""

    def __post_init__(self) -> None:
        if not self.payload:
            object.__setattr__(self, "payload", encode_body(self.body))

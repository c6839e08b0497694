"""The updateLeadFast and insertLeadFast calls as the vendor documents them
(docs/reference/noojee-api.md).

The response codes are the vendor's, spelling included (``INVALID_DISPOSTION``):
dead-letter headers carry these names, so operators can search the vendor docs
for them verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import ClassVar, Final

from pydantic import BaseModel, ConfigDict

NO_CHANGE = "<No Change>"
"""Keeps a field's current value in the dialler (angle brackets included)."""

UPDATE_LEAD_FAST_PATH = "/servicemanager/rest/CampaignAPI/updateLeadFast"
INSERT_LEAD_FAST_PATH = "/servicemanager/rest/CampaignAPI/insertLeadFast"
ALLOW_DUPLICATES: Final = "allowDuplicates"
"""insertLeadFast's query parameter: ``true`` skips the duplicate-phone check (105)."""


class Endpoint(StrEnum):
    """The two calls leadsync makes; the value is the vendor's name, as headers show it."""

    UPDATE = "updateLeadFast"
    INSERT = "insertLeadFast"

    @property
    def path(self) -> str:
        return UPDATE_LEAD_FAST_PATH if self is Endpoint.UPDATE else INSERT_LEAD_FAST_PATH


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""``json.dumps`` with these options builds a new encoder on every call: one serves all."""


def encode_body(body: Mapping[str, str | int]) -> bytes:
    """The JSON body as sent: compact, UTF-8.

    Raises ``UnicodeEncodeError`` for text no UTF-8 encoder can send (a lone
    surrogate), which the request builder turns into a ``RequestError``.
    """
    return _ENCODER.encode(body if type(body) is dict else dict(body)).encode()


def encode_insert_body(body: Mapping[str, str | int]) -> bytes:
    """insertLeadFast's body: a JSON array holding the one lead object (**assumption**:
    the vendor shows arrays of leads, and one answer cannot speak for several)."""
    return _ENCODER.encode([body if type(body) is dict else dict(body)]).encode()


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
class _Call:
    """What both calls carry: ``query`` holds ``fTemplateId``/``fCampaignId``/
    ``fAllocationId`` as strings and never ``apiKey`` (the client adds it at the last
    moment); ``body`` is the JSON object of lead fields."""

    lead_id: str
    query: Mapping[str, str]
    body: Mapping[str, str | int]
    payload: bytes = b""
    """``body`` as it goes on the wire; encoded here when not given."""

    def __post_init__(self) -> None:
        if not self.payload:
            object.__setattr__(self, "payload", self.encode(self.body))

    @staticmethod
    def encode(body: Mapping[str, str | int]) -> bytes:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class UpdateLeadFast(_Call):
    """One updateLeadFast call, ready to send: everything but the base URL and the API key."""

    endpoint: ClassVar[Endpoint] = Endpoint.UPDATE

    @staticmethod
    def encode(body: Mapping[str, str | int]) -> bytes:
        return encode_body(body)


@dataclass(frozen=True, slots=True)
class InsertLeadFast(_Call):
    """One insertLeadFast call, ready to send: like ``UpdateLeadFast``, but ``body`` is
    the new lead's whole state (no ``<No Change>``) and the payload wraps it in an array."""

    endpoint: ClassVar[Endpoint] = Endpoint.INSERT

    @staticmethod
    def encode(body: Mapping[str, str | int]) -> bytes:
        return encode_insert_body(body)


LeadCall = UpdateLeadFast | InsertLeadFast
"""Either call: both go through the same client, throttle, breaker and retries."""

"""contracts.insert: from a LeadChange to the insertLeadFast call, and when an update can be one.

Each test names the line of docs/reference/noojee-api.md ("Creating leads") it checks.
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka.structs import ConsumerRecord

from consumer.delivery.work import Ready
from consumer.intake.preparing import RecordPreparer
from contracts.events import InvalidEvent, LeadChange, parse_lead_change
from contracts.formats import DecoderConfig
from contracts.insert import build_insert_lead_fast, not_insertable
from contracts.noojee import (
    INSERT_LEAD_FAST_PATH,
    NO_CHANGE,
    Endpoint,
    InsertLeadFast,
    UpdateLeadFast,
)
from contracts.request import RequestDefaults, RequestError

MELBOURNE = ZoneInfo("Australia/Melbourne")
DEFAULTS = RequestDefaults(
    template_id=1,
    campaign_id=2,
    allocation_id=3,
    timezone=MELBOURNE,
    phone_fields=("FirstPhone", "SecondPhone"),
)


def event(**changes: Any) -> LeadChange:
    base = {"event_id": "e-1", "lead_id": "CRM-1", "occurred_at": "2026-11-26T10:15:00Z"}
    return parse_lead_change(json.dumps(base | changes).encode())


def test_an_insert_carries_what_the_event_gives_and_nothing_it_does_not() -> None:
    """'The same system fields as updates ... and at least one phone field': phones the
    event leaves out are left out (no '<No Change>' filling), and so is a disposition."""
    call = build_insert_lead_fast(
        event(
            operation="create",
            phones={"firstphone": "0383218199"},
            fields={"Name": "Jane Smith"},
            callback_at="2026-11-27T09:30:00+11:00",
            priority=5,
            contact_hours="Australia/Melbourne",
        ),
        DEFAULTS,
    )
    assert isinstance(call, InsertLeadFast)
    assert call.endpoint is Endpoint.INSERT
    assert Endpoint.INSERT.path == INSERT_LEAD_FAST_PATH
    assert call.query == {"fTemplateId": "1", "fCampaignId": "2", "fAllocationId": "3"}
    assert call.body == {
        "njExternalLeadId": "CRM-1",
        "njCallBackDate": "2026/11/27 09:30",
        "njPriority": 5,
        "njContactHours": "Australia/Melbourne",
        "FirstPhone": "0383218199",  # the configured spelling
        "Name": "Jane Smith",
    }


def test_the_body_is_a_json_array_of_the_one_lead() -> None:
    """Assumption: 'send a JSON array holding one lead object per call'."""
    call = build_insert_lead_fast(event(phones={"FirstPhone": "1"}, disposition="New"), DEFAULTS)
    assert json.loads(call.payload) == [dict(call.body)]
    assert call.body["njDisposition"] == "New"


def test_allow_duplicates_travels_in_the_query_only_when_set() -> None:
    """'plus optional allowDuplicates (true: no duplicate-phone check)'."""
    lenient = RequestDefaults(
        template_id=1,
        campaign_id=2,
        allocation_id=3,
        timezone=MELBOURNE,
        phone_fields=("FirstPhone",),
        allow_duplicates=True,
    )
    assert build_insert_lead_fast(event(), lenient).query["allowDuplicates"] == "true"
    assert "allowDuplicates" not in build_insert_lead_fast(event(), DEFAULTS).query


def test_a_no_change_value_is_sent_as_given_for_the_pbx_to_refuse() -> None:
    """'<No Change> is not allowed in an insert: code 108' — the PBX's verdict, not ours."""
    call = build_insert_lead_fast(event(phones={"SecondPhone": NO_CHANGE}), DEFAULTS)
    assert call.body["SecondPhone"] == NO_CHANGE


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"campaign": {"campaign_id": 9}}, None),
        ({"fields": {"FirstPhone": "1"}}, "phone field"),
    ],
)
def test_an_insert_fails_where_an_update_would(fields: dict[str, Any], problem: str | None) -> None:
    defaults = RequestDefaults(
        template_id=None,
        campaign_id=2,
        allocation_id=3,
        timezone=MELBOURNE,
        phone_fields=("FirstPhone",),
    )
    with pytest.raises(RequestError) as caught:
        build_insert_lead_fast(event(**fields), defaults if problem is None else DEFAULTS)
    assert (problem or "LEADSYNC_NOOJEE_TEMPLATE_ID") in str(caught.value)


def test_the_first_call_of_a_create_is_an_insert_of_anything_else_an_update() -> None:
    """What intake makes of each (consumer/intake/preparing.py)."""
    prepare = RecordPreparer(DecoderConfig("native"), DEFAULTS)
    for operation, kind in (("create", InsertLeadFast), ("update", UpdateLeadFast)):
        record = ConsumerRecord(
            "t", 0, 0, 0, 0, None, json.dumps(
                {"event_id": "e", "lead_id": "L", "occurred_at": "2026-11-26T10:15:00Z",
                 "operation": operation}
            ).encode(), None, 0, 0, []
        )  # fmt: skip
        ready = prepare(record)
        assert isinstance(ready, Ready)
        assert isinstance(ready.request, kind)


def test_operation_takes_create_or_update_only() -> None:
    with pytest.raises(InvalidEvent) as caught:
        event(operation="delete")
    assert "operation" in str(caught.value)


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"phones": {"FirstPhone": "0383218199"}}, None),
        ({"phones": {"FirstPhone": "1"}, "fields": {"City": "Richmond"}}, None),
        (
            {"phones": {"FirstPhone": "1", "SecondPhone": NO_CHANGE}},
            "'<No Change>' for SecondPhone",
        ),
        ({"phones": {"FirstPhone": "1"}, "fields": {"City": NO_CHANGE}}, "for City"),
        ({}, "no phone number"),
        ({"fields": {"City": "Richmond"}}, "no phone number"),
    ],
)
def test_an_update_can_stand_for_a_missing_lead_only_when_it_is_whole(
    values: dict[str, Any], why: str | None
) -> None:
    """LEADSYNC_CREATE_MISSING: 'no <No Change> values, and at least one phone'."""
    found = not_insertable(event(**values))
    assert (found is None) if why is None else (found is not None and why in found)

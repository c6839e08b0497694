"""contracts.request: from a LeadChange to the updateLeadFast call."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.events import EXAMPLE_EVENT, InvalidEvent, LeadChange, parse_lead_change
from contracts.noojee import NO_CHANGE
from contracts.request import (
    RequestDefaults,
    RequestError,
    build_update_lead_fast,
    callback_date,
)

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


def body_of(defaults: RequestDefaults = DEFAULTS, **changes: Any) -> dict[str, str | int]:
    return dict(build_update_lead_fast(event(**changes), defaults).body)


def test_interface_example() -> None:
    call = build_update_lead_fast(parse_lead_change(json.dumps(EXAMPLE_EVENT).encode()), DEFAULTS)
    assert call.lead_id == "CRM-000123"
    assert call.query == {"fTemplateId": "41", "fCampaignId": "41", "fAllocationId": "38"}
    assert call.body == {
        "njExternalLeadId": "CRM-000123",
        "njDisposition": "Callback",
        "njCallBackDate": "2026/11/27 09:30",
        "njPriority": 5,
        "njContactHours": "Australia/Melbourne",
        "FirstPhone": "0383218199",
        "SecondPhone": NO_CHANGE,
        "Name": "Jane Smith",
        "City": "Abbotsford",
    }


def test_minimal_event_changes_nothing_but_says_so() -> None:
    assert body_of() == {
        "njExternalLeadId": "CRM-1",
        "njDisposition": NO_CHANGE,
        "FirstPhone": NO_CHANGE,
        "SecondPhone": NO_CHANGE,
    }


@pytest.mark.parametrize(
    ("callback_at", "zone", "expected"),
    [
        pytest.param(
            "2026-11-27T09:30:00+11:00", "Australia/Melbourne", "2026/11/27 09:30", id="same"
        ),
        pytest.param("2026-11-26T22:30:00Z", "Australia/Melbourne", "2026/11/27 09:30", id="aedt"),
        pytest.param("2026-06-30T23:45:00Z", "Australia/Melbourne", "2026/07/01 09:45", id="aest"),
        # DST starts 2026-10-04 02:00 AEST: 01:59 is followed by 03:00.
        pytest.param(
            "2026-10-03T15:59:00Z", "Australia/Melbourne", "2026/10/04 01:59", id="pre-dst"
        ),
        pytest.param(
            "2026-10-03T16:00:00Z", "Australia/Melbourne", "2026/10/04 03:00", id="dst-on"
        ),
        # DST ends 2026-04-05 03:00 AEDT: 02:00-02:59 happens twice.
        pytest.param("2026-04-04T15:30:00Z", "Australia/Melbourne", "2026/04/05 02:30", id="first"),
        pytest.param("2026-04-04T16:30:00Z", "Australia/Melbourne", "2026/04/05 02:30", id="again"),
        pytest.param("2026-11-27T09:30:59+11:00", "UTC", "2026/11/26 22:30", id="secs-dropped"),
        pytest.param("2027-01-01T05:00:00+05:00", "UTC", "2027/01/01 00:00", id="new-year"),
        pytest.param("0999-01-01T00:00:00Z", "UTC", "0999/01/01 00:00", id="4-digit-year"),
    ],
)
def test_callback_date_in_pbx_zone(callback_at: str, zone: str, expected: str) -> None:
    defaults = RequestDefaults(1, 2, 3, ZoneInfo(zone), ("FirstPhone",))
    assert body_of(defaults, callback_at=callback_at)["njCallBackDate"] == expected


def test_callback_out_of_range_in_the_zone() -> None:
    with pytest.raises(RequestError, match="out of range in Australia/Melbourne"):
        body_of(callback_at="9999-12-31T23:00:00Z")


def test_optional_system_fields_only_when_given() -> None:
    body = body_of(disposition="Sale", priority=0, contact_hours="NSW")
    assert (body["njDisposition"], body["njPriority"], body["njContactHours"]) == ("Sale", 0, "NSW")
    assert "njCallBackDate" not in body
    assert {"njPriority", "njContactHours", "njCallBackDate"}.isdisjoint(body_of())


@pytest.mark.parametrize(
    ("phones", "expected"),
    [
        pytest.param(None, {"FirstPhone": NO_CHANGE, "SecondPhone": NO_CHANGE}, id="absent"),
        pytest.param({}, {"FirstPhone": NO_CHANGE, "SecondPhone": NO_CHANGE}, id="empty"),
        pytest.param(
            {"SecondPhone": "0400000000"},
            {"FirstPhone": NO_CHANGE, "SecondPhone": "0400000000"},
            id="one-given",
        ),
        pytest.param(
            {"FirstPhone": NO_CHANGE, "SecondPhone": "1"},
            {"FirstPhone": NO_CHANGE, "SecondPhone": "1"},
            id="explicit-no-change",
        ),
        pytest.param(
            {"WorkPhone": "0383218199"},
            {"FirstPhone": NO_CHANGE, "SecondPhone": NO_CHANGE, "WorkPhone": "0383218199"},
            id="not-configured-sent-as-given",
        ),
        pytest.param(
            {"firstphone": "0383218199"},
            {"FirstPhone": "0383218199", "SecondPhone": NO_CHANGE},
            id="configured-spelling-wins",
        ),
    ],
)
def test_phones(phones: dict[str, str] | None, expected: dict[str, str]) -> None:
    body = body_of(phones=phones)
    assert {k: v for k, v in body.items() if not k.startswith("nj")} == expected


@pytest.mark.parametrize(
    ("campaign", "expected"),
    [
        pytest.param(None, ("1", "2", "3"), id="defaults"),
        pytest.param({}, ("1", "2", "3"), id="empty-campaign"),
        pytest.param({"template_id": 9}, ("9", "2", "3"), id="template"),
        pytest.param({"campaign_id": 9}, ("1", "9", "3"), id="campaign"),
        pytest.param({"allocation_id": 0}, ("1", "2", "0"), id="allocation-zero"),
        pytest.param({"template_id": 7, "campaign_id": 8, "allocation_id": 9}, ("7", "8", "9")),
    ],
)
def test_campaign_overrides_each_default(
    campaign: dict[str, int] | None, expected: tuple[str, str, str]
) -> None:
    call = build_update_lead_fast(event(campaign=campaign), DEFAULTS)
    assert call.query == dict(
        zip(("fTemplateId", "fCampaignId", "fAllocationId"), expected, strict=True)
    )


@pytest.mark.parametrize(
    ("missing", "parameter", "variable", "key"),
    [
        ("template_id", "fTemplateId", "LEADSYNC_NOOJEE_TEMPLATE_ID", "campaign.template_id"),
        ("campaign_id", "fCampaignId", "LEADSYNC_NOOJEE_CAMPAIGN_ID", "campaign.campaign_id"),
        (
            "allocation_id",
            "fAllocationId",
            "LEADSYNC_NOOJEE_ALLOCATION_ID",
            "campaign.allocation_id",
        ),
    ],
)
def test_missing_campaign_id(missing: str, parameter: str, variable: str, key: str) -> None:
    ids: dict[str, Any] = {"template_id": 1, "campaign_id": 2, "allocation_id": 3, missing: None}
    defaults = RequestDefaults(**ids, timezone=MELBOURNE, phone_fields=("FirstPhone",))
    with pytest.raises(RequestError) as caught:
        build_update_lead_fast(event(), defaults)
    assert parameter in str(caught.value)
    assert variable in str(caught.value)
    assert key in str(caught.value)
    # the event can supply what the configuration lacks
    build_update_lead_fast(event(campaign={missing: 5}), defaults)


@pytest.mark.parametrize("name", ["FirstPhone", "secondphone"])
def test_field_clashing_with_a_configured_phone(name: str) -> None:
    with pytest.raises(RequestError, match=f"field '{name}' of lead 'CRM-1' is a phone field"):
        body_of(fields={name: "x"})


def test_field_with_system_name_refused_even_unvalidated() -> None:
    # model_copy skips validation, as a future envelope adapter might by mistake.
    forged = event().model_copy(update={"fields": {"njDisposition": "Sale"}})
    with pytest.raises(RequestError, match="'nj' prefix"):
        build_update_lead_fast(forged, DEFAULTS)


def test_defaults_need_a_phone_field() -> None:
    with pytest.raises(ValueError, match="phone field"):
        RequestDefaults(1, 2, 3, MELBOURNE, ())


def test_callback_date_drops_seconds() -> None:
    when = parse_lead_change(json.dumps(EXAMPLE_EVENT).encode()).callback_at
    assert when is not None
    assert callback_date(when.replace(second=59), ZoneInfo("UTC")) == "2026/11/26 22:30"


names = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12).filter(
    lambda name: not name.lower().startswith("nj")
)
numbers = st.one_of(st.just(NO_CHANGE), st.from_regex(r"\+?[0-9]{1,15}", fullmatch=True))


def entries(values: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, str]]:
    pairs = st.lists(st.tuples(names, values), max_size=4, unique_by=lambda p: p[0].lower())
    return pairs.map(dict)


@given(
    configured=st.lists(names, min_size=1, max_size=4, unique_by=str.lower).map(tuple),
    phones=st.none() | entries(numbers),
    fields=st.none() | entries(st.text(max_size=8)),
)
def test_any_valid_event_sends_every_configured_phone(
    configured: tuple[str, ...],
    phones: dict[str, str] | None,
    fields: dict[str, str] | None,
) -> None:
    phone_names = {name.lower() for name in [*configured, *(phones or {})]}
    clash = any(name.lower() in phone_names for name in fields or {})
    raw: dict[str, Any] = {"event_id": "e", "lead_id": "l", "occurred_at": "2026-11-26T10:15:00Z"}
    if phones is not None:
        raw["phones"] = phones
    if fields is not None:
        raw["fields"] = fields
    defaults = defaults_with(configured)
    if clash:
        with pytest.raises((InvalidEvent, RequestError)):
            build_update_lead_fast(LeadChange.from_dict(raw), defaults)
        return
    body = build_update_lead_fast(LeadChange.from_dict(raw), defaults).body
    assert set(configured) <= set(body)
    sent = {name.lower(): value for name, value in body.items()}
    assert all(sent[name.lower()] == number for name, number in (phones or {}).items())
    assert all(body[name] == value for name, value in (fields or {}).items())


def defaults_with(phone_fields: tuple[str, ...]) -> RequestDefaults:
    return RequestDefaults(1, 2, 3, MELBOURNE, phone_fields)

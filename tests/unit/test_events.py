"""contracts.events: one case per rule of docs/reference/event-contract.md's field table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.events import EXAMPLE_EVENT, Campaign, InvalidEvent, LeadChange, parse_lead_change
from contracts.noojee import NO_CHANGE

REQUIRED = {"event_id": "e-1", "lead_id": "CRM-1", "occurred_at": "2026-11-26T10:15:00Z"}
_DROP = object()


def encode(**changes: Any) -> bytes:
    event = dict(REQUIRED) | changes
    return json.dumps({k: v for k, v in event.items() if v is not _DROP}).encode()


def rejection(raw: bytes) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse_lead_change(raw)
    return caught.value


def test_interface_example_is_valid() -> None:
    event = parse_lead_change(json.dumps(EXAMPLE_EVENT).encode())
    assert event.lead_id == "CRM-000123"
    assert event.callback_at == datetime(2026, 11, 26, 22, 30, tzinfo=UTC)
    assert event.phones == {"FirstPhone": "0383218199", "SecondPhone": NO_CHANGE}
    assert event.campaign == Campaign(template_id=41, campaign_id=41, allocation_id=38)


def test_only_required_fields_leaves_the_rest_unset() -> None:
    event = parse_lead_change(encode())
    assert event.occurred_at == datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
    optional = ("disposition", "callback_at", "priority", "phones", "fields", "contact_hours")
    assert all(getattr(event, name) is None for name in (*optional, "campaign"))


VALID = [
    pytest.param({"event_id": "x" * 200}, id="event_id-200-chars"),
    pytest.param({"lead_id": "L"}, id="lead_id-1-char"),
    pytest.param({"occurred_at": "2026-11-26T21:15:00+11:00"}, id="occurred_at-offset"),
    pytest.param({"occurred_at": "2026-11-26T10:15:00.123456Z"}, id="occurred_at-fraction"),
    pytest.param({"occurred_at": "2026-11-26 10:15:00-05:30"}, id="occurred_at-space"),
    pytest.param({"disposition": "Sale"}, id="disposition"),
    pytest.param({"callback_at": "2026-11-27T09:30:00+11:00"}, id="callback_at"),
    pytest.param({"priority": 0}, id="priority-0"),
    pytest.param({"priority": 100}, id="priority-100"),
    pytest.param({"phones": {"FirstPhone": "+61 (3) 8321-8199"}}, id="phones-number"),
    pytest.param({"phones": {"FirstPhone": NO_CHANGE}}, id="phones-no-change"),
    pytest.param({"phones": {}}, id="phones-empty"),
    pytest.param({"fields": {"Name": "Jane", "Notes": ""}}, id="fields"),
    pytest.param({"fields": {"Ninja": "n-j-not-prefix"}}, id="fields-n-not-nj"),
    pytest.param({"contact_hours": "Australia/Melbourne"}, id="contact_hours"),
    pytest.param({"campaign": {}}, id="campaign-empty"),
    pytest.param({"campaign": {"allocation_id": 38}}, id="campaign-partial"),
    pytest.param({"disposition": None}, id="null-is-absent"),
]


@pytest.mark.parametrize("changes", VALID)
def test_valid(changes: dict[str, Any]) -> None:
    parse_lead_change(encode(**changes))


INVALID = [
    pytest.param({"event_id": _DROP}, "event_id", "Field required", id="event_id-missing"),
    pytest.param({"event_id": ""}, "event_id", "at least 1 character", id="event_id-empty"),
    pytest.param({"event_id": "x" * 201}, "event_id", "at most 200", id="event_id-long"),
    pytest.param({"event_id": 7}, "event_id", "valid string", id="event_id-number"),
    pytest.param({"lead_id": _DROP}, "lead_id", "Field required", id="lead_id-missing"),
    pytest.param({"lead_id": ""}, "lead_id", "at least 1 character", id="lead_id-empty"),
    pytest.param({"lead_id": "L" * 201}, "lead_id", "at most 200", id="lead_id-long"),
    pytest.param({"lead_id": 123}, "lead_id", "valid string", id="lead_id-number"),
    pytest.param({"occurred_at": _DROP}, "occurred_at", "Field required", id="occurred-missing"),
    pytest.param(
        {"occurred_at": "2026-11-26T10:15:00"}, "occurred_at", "UTC offset", id="occurred-naive"
    ),
    pytest.param({"occurred_at": "2026-11-26"}, "occurred_at", "RFC 3339", id="occurred-date"),
    pytest.param(
        {"occurred_at": "2026-11-26T10:15Z"}, "occurred_at", "RFC 3339", id="occurred-no-seconds"
    ),
    pytest.param({"occurred_at": 1764152100}, "occurred_at", "datetime", id="occurred-unix"),
    pytest.param(
        {"occurred_at": "2026-02-30T10:15:00Z"}, "occurred_at", "day", id="occurred-no-such-day"
    ),
    pytest.param({"disposition": ""}, "disposition", "at least 1", id="disposition-empty"),
    pytest.param({"disposition": 5}, "disposition", "valid string", id="disposition-number"),
    pytest.param(
        {"callback_at": "2026-11-27T09:30:00"}, "callback_at", "UTC offset", id="callback-naive"
    ),
    pytest.param({"callback_at": "tomorrow"}, "callback_at", "RFC 3339", id="callback-text"),
    pytest.param({"priority": -1}, "priority", "greater than or equal to 0", id="priority-low"),
    pytest.param({"priority": 101}, "priority", "less than or equal to 100", id="priority-high"),
    pytest.param({"priority": True}, "priority", "valid integer", id="priority-bool"),
    pytest.param({"priority": "5"}, "priority", "valid integer", id="priority-string"),
    pytest.param({"priority": 5.0}, "priority", "valid integer", id="priority-float"),
    pytest.param({"phones": ["0383218199"]}, "phones", "object", id="phones-list"),
    pytest.param({"phones": {"": "0383218199"}}, "phones.''", "at least 1", id="phone-no-name"),
    pytest.param({"phones": {"FirstPhone": ""}}, "phones.FirstPhone", "phone", id="phone-empty"),
    pytest.param(
        {"phones": {"FirstPhone": "call Jane"}}, "phones.FirstPhone", "phone", id="phone-words"
    ),
    pytest.param(
        {"phones": {"FirstPhone": "<no change>"}}, "phones.FirstPhone", "phone", id="phone-case"
    ),
    pytest.param({"phones": {"FirstPhone": 383}}, "phones.FirstPhone", "string", id="phone-int"),
    pytest.param(
        {"phones": {"njDisposition": "1"}}, "phones.njDisposition", "'nj'", id="phone-system"
    ),
    pytest.param(
        {"phones": {"FirstPhone": "1", "firstPhone": "2"}}, "phones", "twice", id="phone-twice"
    ),
    pytest.param({"fields": {"njPriority": "1"}}, "fields.njPriority", "'nj'", id="field-nj"),
    pytest.param({"fields": {"NJthing": "1"}}, "fields.NJthing", "'nj'", id="field-NJ"),
    pytest.param({"fields": {"": "x"}}, "fields.''", "at least 1", id="field-no-name"),
    pytest.param({"fields": {"Age": 42}}, "fields.Age", "valid string", id="field-int"),
    pytest.param(
        {"phones": {"City": "1"}, "fields": {"city": "x"}},
        "fields",
        "city also given in phones",
        id="field-is-phone",
    ),
    pytest.param({"contact_hours": ""}, "contact_hours", "at least 1", id="contact-empty"),
    pytest.param({"contact_hours": 10}, "contact_hours", "valid string", id="contact-number"),
    pytest.param({"campaign": 41}, "campaign", "object", id="campaign-number"),
    pytest.param(
        {"campaign": {"template_id": "41"}}, "campaign.template_id", "integer", id="id-string"
    ),
    pytest.param(
        {"campaign": {"campaign_id": False}}, "campaign.campaign_id", "integer", id="id-bool"
    ),
    pytest.param(
        {"campaign": {"campaignid": 4}}, "campaign.campaignid", "unknown field", id="campaign-typo"
    ),
]


@pytest.mark.parametrize(("changes", "path", "fragment"), INVALID)
def test_invalid_names_the_field(changes: dict[str, Any], path: str, fragment: str) -> None:
    error = rejection(encode(**changes))
    assert [p for p, _ in error.errors] == [path]
    assert path in str(error)
    assert fragment in str(error)


def test_unknown_top_level_field_is_rejected_by_name() -> None:
    error = rejection(encode(dispositon="Sale"))
    assert error.errors == [("dispositon", "unknown field 'dispositon'")]
    assert str(error) == "unknown field 'dispositon'"


def test_every_bad_field_on_one_line() -> None:
    error = rejection(encode(priority=101, lead_id=_DROP, colour="red"))
    assert str(error) == (
        "lead_id: Field required; priority: Input should be less than or equal to 100; "
        "unknown field 'colour'"
    )


def test_newlines_in_names_stay_out_of_the_message() -> None:
    error = rejection(encode(**{"bad\nname": 1}))
    assert "\n" not in str(error)
    assert "bad" in str(error)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"\xff\xfe{}", "not UTF-8: invalid byte at offset 0", id="bom-utf16"),
        pytest.param(b'{"lead_id": "\xe9"}', "not UTF-8: invalid byte at offset 13", id="latin1"),
        pytest.param(b"lead 123 changed", "not JSON: expected value at line 1 column 1", id="text"),
        pytest.param(b"", "not JSON: EOF while parsing a value at line 1 column 0", id="empty"),
        pytest.param(b'{"lead_id": ', "not JSON: EOF", id="truncated"),
        pytest.param(b"[1, 2]", "the event must be a JSON object, not an array", id="array"),
        pytest.param(b'"CRM-1"', "the event must be a JSON object, not a string", id="string"),
        pytest.param(b"42", "the event must be a JSON object, not a number", id="number"),
        pytest.param(b"null", "the event must be a JSON object, not null", id="null"),
        pytest.param(b"true", "the event must be a JSON object, not a boolean", id="bool"),
    ],
)
def test_not_an_event_at_all(raw: bytes, message: str) -> None:
    error = rejection(raw)
    assert str(error).startswith(message)
    assert [path for path, _ in error.errors] == [""]


def test_event_is_frozen() -> None:
    event = parse_lead_change(encode())
    with pytest.raises(ValueError, match="frozen"):
        event.lead_id = "other"  # type: ignore[misc]


def test_from_dict_applies_the_same_rules() -> None:
    assert LeadChange.from_dict(EXAMPLE_EVENT) == parse_lead_change(
        json.dumps(EXAMPLE_EVENT).encode()
    )
    with pytest.raises(InvalidEvent, match=r"^priority: Input should be a valid integer$"):
        LeadChange.from_dict(REQUIRED | {"priority": True})
    with pytest.raises(InvalidEvent, match="occurred_at: Input should have a UTC offset"):
        LeadChange.from_dict(REQUIRED | {"occurred_at": datetime(2026, 11, 26, 10, 15)})


def test_from_dict_takes_aware_datetimes() -> None:
    when = datetime(2026, 11, 26, 10, 15, tzinfo=timezone(timedelta(hours=11)))
    assert LeadChange.from_dict(REQUIRED | {"occurred_at": when}).occurred_at == when


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-9, minutes=-30))]),
    )
)
def test_any_rfc3339_timestamp_round_trips(when: datetime) -> None:
    event = parse_lead_change(encode(occurred_at=when.isoformat()))
    assert event.occurred_at == when
    assert event.occurred_at.utcoffset() == when.utcoffset()

"""CloudEvents 1.0 over Kafka (tests/fixtures/formats/cloudevents) to lead changes."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.events import InvalidEvent, LeadChange
from contracts.formats import DecoderConfig, decode_record

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats" / "cloudevents"
TYPES = frozenset({"lead.changed", "crm.lead.updated"})
Headers = list[tuple[str, bytes]]


def fixture(name: str) -> tuple[Any, Headers]:
    record = json.loads((FIXTURES / name).read_text())
    return copy.deepcopy(record["value"]), [(k, v.encode()) for k, v in record["headers"]]


def decode(value: Any, headers: Headers, mode: str = "cloudevents") -> LeadChange:
    raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
    event = decode_record(raw, headers, DecoderConfig(mode, TYPES))
    assert isinstance(event, LeadChange)
    return event


def rejection(value: Any, headers: Headers, mode: str = "cloudevents") -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        decode(value, headers, mode)
    return caught.value


def paths(error: InvalidEvent) -> list[str]:
    return [path for path, _ in error.errors[1:]]


EXPECTED = {
    "lead_id": "CRM-000123",
    "occurred_at": datetime(2026, 11, 26, 10, 15, tzinfo=UTC),
    "disposition": "Callback",
    "callback_at": datetime(2026, 11, 26, 22, 30, tzinfo=UTC),
    "priority": 5,
    "phones": {"FirstPhone": "0383218199", "SecondPhone": "<No Change>"},
    "fields": {"Name": "Jane Smith", "City": "Abbotsford"},
}
ALL = [
    "structured.json",
    "structured-no-content-type.json",
    "structured-base64.json",
    "binary.json",
]


@pytest.mark.parametrize("mode", ["cloudevents", "auto"])
@pytest.mark.parametrize("name", ALL)
def test_every_content_mode_gives_the_same_lead_change(name: str, mode: str) -> None:
    event = decode(*fixture(name), mode=mode)
    assert event.model_dump(exclude_none=True, exclude={"event_id"}) == EXPECTED


def test_id_becomes_the_event_id() -> None:
    assert decode(*fixture("structured.json")).event_id == "8f1c2b9e-3a71-4b7e-9a55-0c1d2e3f4a5b"
    assert decode(*fixture("binary.json")).event_id == "b7d1a3c5-0000-4000-8000-000000000003"


def test_a_type_not_configured_is_rejected_naming_the_accepted_ones() -> None:
    value, headers = fixture("structured.json")
    value["type"] = "lead.deleted"
    error = rejection(value, headers)
    assert error.errors[0] == (
        "",
        "read as a CloudEvent (structured mode), LEADSYNC_INPUT_FORMAT=cloudevents",
    )
    assert error.errors[1] == (
        "type",
        "'lead.deleted' is not accepted; LEADSYNC_CLOUDEVENTS_TYPES is crm.lead.updated, "
        "lead.changed",
    )


@pytest.mark.parametrize("name", ["structured.json", "binary.json"])
@pytest.mark.parametrize("attribute", ["id", "source", "specversion", "type", "time"])
def test_missing_attributes_are_named(name: str, attribute: str) -> None:
    value, headers = fixture(name)
    if name == "binary.json":
        headers = [(k, v) for k, v in headers if k != f"ce_{attribute}"]
        expected = f"ce_{attribute}"
    else:
        del value[attribute]
        expected = attribute
    if attribute == "specversion" and name == "structured.json":
        headers = []  # with neither header nor specversion it is no CloudEvent at all
        assert "expected a CloudEvent" in str(rejection(value, headers))
        return
    error = rejection(value, headers)
    assert expected in paths(error)
    if attribute == "time":
        assert "occurred_at" in str(error)


def test_time_must_be_rfc3339_with_offset() -> None:
    value, headers = fixture("structured.json")
    value["time"] = "2026-11-26 10:15"
    assert paths(rejection(value, headers)) == ["time"]


@pytest.mark.parametrize(
    ("attribute", "bad"),
    [
        pytest.param("specversion", "0.3", id="specversion"),
        pytest.param("datacontenttype", "application/xml", id="xml-data"),
        pytest.param("id", "", id="empty-id"),
    ],
)
def test_unreadable_attributes(attribute: str, bad: str) -> None:
    value, headers = fixture("structured.json")
    value[attribute] = bad
    assert attribute in paths(rejection(value, headers))


def test_json_flavoured_content_types_are_json() -> None:
    value, headers = fixture("structured.json")
    value["datacontenttype"] = "application/vnd.crm.lead+json; charset=utf-8"
    assert decode(value, headers).lead_id == "CRM-000123"


def test_an_event_format_other_than_json_is_rejected() -> None:
    value, _ = fixture("structured.json")
    error = rejection(value, [("content-type", b"application/cloudevents+avro")])
    assert paths(error) == ["content-type"]


@pytest.mark.parametrize(
    ("data", "found"),
    [
        pytest.param("CRM-000123", "str data", id="string"),
        pytest.param([1], "list data", id="array"),
        pytest.param(None, "no data", id="null"),
    ],
)
def test_data_must_be_an_object(data: Any, found: str) -> None:
    value, headers = fixture("structured.json")
    value["data"] = data
    error = rejection(value, headers)
    assert paths(error) == ["data"]
    assert found in str(error)


def test_data_errors_are_reported_under_data() -> None:
    value, headers = fixture("structured.json")
    value["data"] |= {"priority": 500, "colour": "red"}
    del value["data"]["lead_id"]
    error = rejection(value, headers)
    assert set(paths(error)) == {"data.lead_id", "data.priority", "data.colour"}
    assert "unknown field 'colour'" in str(error)


def test_data_may_repeat_event_id_and_occurred_at_when_they_agree() -> None:
    value, headers = fixture("structured.json")
    value["data"] |= {"event_id": value["id"], "occurred_at": "2026-11-26T21:15:00+11:00"}
    event = decode(value, headers)
    assert event.occurred_at == datetime(2026, 11, 26, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "given"),
    [("event_id", "another-id"), ("occurred_at", "2026-11-26T10:16:00Z"), ("occurred_at", 5)],
)
def test_data_that_disagrees_with_the_envelope_is_rejected(key: str, given: Any) -> None:
    value, headers = fixture("structured.json")
    value["data"][key] = given
    error = rejection(value, headers)
    assert paths(error) == [f"data.{key}"]
    assert "disagrees" in str(error)


def test_null_attributes_count_as_absent() -> None:
    value, headers = fixture("structured.json")
    value["time"] = None
    assert paths(rejection(value, headers)) == ["time"]


def test_base64_data_must_decode() -> None:
    value, headers = fixture("structured-base64.json")
    value["data_base64"] = "not base64!"
    assert paths(rejection(value, headers)) == ["data_base64"]
    value["data_base64"] = base64.b64encode(b"{not json").decode()
    assert paths(rejection(value, headers)) == ["data_base64"]


def test_data_and_data_base64_together_are_rejected() -> None:
    value, headers = fixture("structured-base64.json")
    value["data"] = {"lead_id": "CRM-000123"}
    assert "data_base64" in paths(rejection(value, headers))


def test_a_structured_value_that_is_not_json_is_rejected() -> None:
    _, headers = fixture("structured.json")
    error = rejection(b"<lead/>", headers)
    assert error.errors[0][1].startswith("read as a CloudEvent (structured mode)")
    assert "not JSON" in str(error)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        pytest.param(None, "has no data", id="no-value"),
        pytest.param(b"\xff\xfe", "not UTF-8", id="not-utf8"),
        pytest.param(b"lead=CRM-1", "not JSON", id="not-json"),
    ],
)
def test_binary_data_must_be_a_json_value(value: bytes | None, needle: str) -> None:
    _, headers = fixture("binary.json")
    error = rejection(value, headers)
    assert (
        error.errors[0][1]
        == "read as a CloudEvent (binary mode), LEADSYNC_INPUT_FORMAT=cloudevents"
    )
    assert needle in str(error)


def test_binary_data_content_type_must_be_json() -> None:
    value, headers = fixture("binary.json")
    headers = [(k, b"application/avro" if k == "content-type" else v) for k, v in headers]
    assert paths(rejection(value, headers)) == ["ce_datacontenttype"]


def test_binary_headers_must_be_utf8() -> None:
    value, headers = fixture("binary.json")
    headers = [(k, b"\xff" if k == "ce_id" else v) for k, v in headers]
    assert "ce_id" in str(rejection(value, headers))


def test_binary_attributes_come_from_headers_only() -> None:
    # In binary mode the value is the data: a specversion inside it is just a data field.
    value, headers = fixture("binary.json")
    value["specversion"] = "1.0"
    assert paths(rejection(value, headers)) == ["data.specversion"]


# --- creates: LEADSYNC_CLOUDEVENTS_CREATE_TYPES ---------------------------------------

CREATES = frozenset({"lead.created"})


def decode_with_creates(value: Any, headers: Headers) -> LeadChange:
    raw = json.dumps(value).encode() if value is not None else None
    event = decode_record(
        raw, headers, DecoderConfig("auto", TYPES, cloudevents_create_types=CREATES)
    )
    assert isinstance(event, LeadChange)
    return event


@pytest.mark.parametrize("name", ["structured.json", "binary.json"])
def test_a_create_type_makes_a_create(name: str) -> None:
    value, headers = fixture(name)
    assert not decode_with_creates(value, headers).creates
    if name == "binary.json":
        headers = [(k, b"lead.created" if k == "ce_type" else v) for k, v in headers]
    else:
        value["type"] = "lead.created"
    created = decode_with_creates(value, headers)
    assert created.creates
    assert created.model_dump(exclude={"operation"}) == decode(*fixture(name)).model_dump(
        exclude={"operation"}
    )


def test_data_may_say_create_but_not_contradict_a_create_type() -> None:
    value, headers = fixture("structured.json")
    value["data"]["operation"] = "create"
    assert decode_with_creates(value, headers).creates  # a wrapped native create
    value["type"] = "lead.created"
    value["data"]["operation"] = "update"
    with pytest.raises(InvalidEvent) as caught:
        decode_with_creates(value, headers)
    assert caught.value.errors[1][0] == "data.operation"
    assert "LEADSYNC_CLOUDEVENTS_CREATE_TYPES" in caught.value.errors[1][1]


def test_a_rejected_type_names_the_create_types_too() -> None:
    value, headers = fixture("structured.json")
    value["type"] = "lead.deleted"
    with pytest.raises(InvalidEvent) as caught:
        decode_with_creates(value, headers)
    assert caught.value.errors[1][1].endswith("; LEADSYNC_CLOUDEVENTS_CREATE_TYPES is lead.created")

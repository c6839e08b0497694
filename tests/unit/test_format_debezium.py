"""Debezium change events (tests/fixtures/formats/debezium, PostgreSQL envelope) to lead changes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.events import InvalidEvent, LeadChange
from contracts.formats import (
    DebeziumMapping,
    DecoderConfig,
    Skip,
    decode_record,
    load_mapping,
    parse_mapping,
)
from contracts.noojee import NO_CHANGE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats" / "debezium"
MAPPING = load_mapping(FIXTURES / "mapping.toml")
MELBOURNE = ZoneInfo("Australia/Melbourne")


def fixture(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return record


def encode(value: Any) -> bytes | None:
    return None if value is None else json.dumps(value).encode()


def decode(
    value: Any, mapping: DebeziumMapping | None = MAPPING, mode: str = "debezium"
) -> LeadChange | Skip:
    return decode_record(encode(value), [], DecoderConfig(mode, frozenset(), mapping))


def change(name: str) -> LeadChange:
    result = decode(fixture(name)["value"])
    assert isinstance(result, LeadChange), result
    return result


def rejection(value: Any, mapping: DebeziumMapping = MAPPING) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        decode(value, mapping)
    return caught.value


def payload(name: str) -> dict[str, Any]:
    """The envelope of a plain fixture, a copy to edit."""
    return copy.deepcopy(fixture(name)["value"])


def with_mapping(**changes: str) -> DebeziumMapping:
    events = "".join(f'{key} = "{value}"\n' for key, value in changes.items())
    text = (FIXTURES / "mapping.toml").read_text().replace('delete = "ignore"\n', "")
    return parse_mapping(text.replace('snapshot = "apply"\n', events))


CREATED = {
    "lead_id": "CRM-000123",
    "occurred_at": datetime(2026, 11, 26, 10, 15, tzinfo=UTC),
    "disposition": "New",
    "priority": 10,
    "contact_hours": "Australia/Melbourne",
    # A create is a new lead: a phone column it leaves null is left out (no value to keep).
    "phones": {"FirstPhone": "0383218199"},
    "fields": {"Name": "Jane Smith", "City": "Abbotsford", "Notes": "Met at the expo"},
    "campaign": {"campaign_id": 41},
    "operation": "create",
}


def without_id(event: LeadChange) -> dict[str, Any]:
    return event.model_dump(exclude_none=True, exclude={"event_id"})


@pytest.mark.parametrize("name", ["create.schema.json", "create.plain.json"])
def test_create_sends_every_mapped_column(name: str) -> None:
    assert without_id(change(name)) == CREATED


def test_schema_wrapped_and_plain_envelopes_decode_alike() -> None:
    for op in ("create", "update"):
        assert change(f"{op}.schema.json") == change(f"{op}.plain.json")


def test_an_update_sends_only_what_changed() -> None:
    event = change("update.schema.json")
    assert event.disposition == "Callback"
    assert event.callback_at == datetime(2026, 11, 27, 9, 30, tzinfo=MELBOURNE)
    assert event.fields == {"City": "Richmond"}
    # Phones the update left alone keep their value in the PBX.
    assert event.phones == {"FirstPhone": NO_CHANGE, "SecondPhone": NO_CHANGE}
    assert event.priority is None
    assert event.contact_hours is None
    # The campaign says where the lead lives: always sent.
    assert event.campaign is not None
    assert event.campaign.campaign_id == 41
    assert event.occurred_at == datetime(2026, 11, 26, 10, 20, 0, 123000, tzinfo=UTC)


def test_an_unchanged_disposition_is_not_resent() -> None:
    value = payload("update.plain.json")
    value["after"]["status"] = value["before"]["status"]
    event = decode(value)
    assert isinstance(event, LeadChange)
    assert event.disposition is None
    assert event.fields == {"City": "Richmond"}


def test_without_a_full_before_image_every_column_counts_as_changed() -> None:
    event = change("update.default-identity.json")
    assert event.disposition == "Callback"
    assert event.priority == 3
    assert event.contact_hours == "Australia/Melbourne"
    assert event.phones == {"FirstPhone": "0383218199", "SecondPhone": "0398765432"}
    assert event.fields == {"Name": "Jane Smith", "City": "Richmond", "Notes": "Met at the expo"}


def test_a_toasted_column_is_not_sent() -> None:
    event = change("update.toasted.json")
    assert event.fields is not None
    assert "Notes" not in event.fields
    assert event.priority == 3


def test_an_update_of_unmapped_columns_only_is_skipped() -> None:
    assert decode(fixture("update.unmapped-only.json")["value"]) == Skip(
        "update changed no mapped column"
    )


def test_an_update_that_only_blanked_a_phone_is_skipped() -> None:
    # The API cannot blank a phone, so the PBX would be sent nothing new.
    value = payload("update.plain.json")
    value["before"] = dict(value["after"])
    value["after"]["mobile"] = None
    assert decode(value) == Skip("update changed no mapped column")


@pytest.mark.parametrize("name", ["snapshot.schema.json", "snapshot.plain.json"])
def test_snapshot_reads_apply_by_default(name: str) -> None:
    event = change(name)
    assert event.occurred_at == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert event.disposition == "New"
    assert event.fields == CREATED["fields"]


@pytest.mark.parametrize("name", ["snapshot.schema.json", "snapshot.plain.json"])
def test_snapshot_reads_are_updates_unless_the_mapping_says_they_are_creates(name: str) -> None:
    applied = change(name)
    assert not applied.creates
    assert applied.phones is not None
    assert applied.phones["SecondPhone"] == NO_CHANGE
    created = decode(fixture(name)["value"], with_mapping(snapshot="create"))
    assert isinstance(created, LeadChange)
    assert created.creates
    # A null phone: nothing to keep on a new lead, so it is left out.
    assert created.phones == {"FirstPhone": applied.phones["FirstPhone"]}
    assert created.model_dump(exclude={"operation", "phones"}) == applied.model_dump(
        exclude={"operation", "phones"}
    )


def test_creates_can_be_sent_as_updates() -> None:
    """events.create = "update": the PBX already holds the CRM's rows (as before creates)."""
    mapping = with_mapping(create="update", snapshot="create")
    for name in ("create.plain.json", "snapshot.plain.json"):
        event = decode(fixture(name)["value"], mapping)
        assert isinstance(event, LeadChange)
        assert not event.creates
        assert event.phones is not None
        assert event.phones["SecondPhone"] == NO_CHANGE


def test_an_update_is_never_a_create() -> None:
    assert not change("update.plain.json").creates


def test_snapshot_reads_can_be_ignored() -> None:
    result = decode(fixture("snapshot.schema.json")["value"], with_mapping(snapshot="ignore"))
    assert isinstance(result, Skip)
    assert "op=r" in result.reason


@pytest.mark.parametrize("name", ["delete.schema.json", "delete.default-identity.json"])
def test_deletes_are_ignored_by_default(name: str) -> None:
    result = decode(fixture(name)["value"])
    assert isinstance(result, Skip)
    assert "op=d" in result.reason


def test_deletes_can_be_dead_lettered() -> None:
    error = rejection(fixture("delete.schema.json")["value"], with_mapping(delete="dead-letter"))
    assert "op=d" in str(error)
    assert "dead-letter" in str(error)


def test_deletes_can_close_the_lead() -> None:
    mapping = with_mapping(delete="close", close_disposition="Deleted")
    event = decode(fixture("delete.schema.json")["value"], mapping)
    assert isinstance(event, LeadChange)
    assert without_id(event) == {
        "lead_id": "CRM-000123",
        "occurred_at": datetime(2026, 11, 26, 10, 30, tzinfo=UTC),
        "disposition": "Deleted",
        "campaign": {"campaign_id": 41},
    }


def test_closing_needs_the_lead_id_in_before() -> None:
    mapping = with_mapping(delete="close", close_disposition="Deleted")
    error = rejection(fixture("delete.default-identity.json")["value"], mapping)
    assert error.errors[-1][0] == "before.crm_id"
    assert "REPLICA IDENTITY FULL" in str(error)


@pytest.mark.parametrize("mode", ["debezium", "auto"])
def test_tombstones_are_skipped(mode: str) -> None:
    assert fixture("tombstone.json")["value"] is None
    result = decode(None, mode=mode)
    assert isinstance(result, Skip)
    assert "tombstone" in result.reason


def test_truncates_are_skipped() -> None:
    result = decode(fixture("truncate.plain.json")["value"])
    assert isinstance(result, Skip)
    assert "op=t" in result.reason


def test_event_ids_are_stable_unique_and_short() -> None:
    names = [
        "create.schema.json",
        "update.schema.json",
        "update.default-identity.json",
        "update.toasted.json",
        "snapshot.schema.json",
        "snapshot.plain.json",
    ]
    ids = [change(name).event_id for name in names]
    assert len(set(ids)) == len(ids)
    assert ids == [change(name).event_id for name in names]
    assert ids[0] == "crm.crmdb.public.leads:24023128:1795688100000:c:CRM-000123"


def test_a_long_event_id_is_hashed_to_fit() -> None:
    value = payload("create.plain.json")
    value["source"]["name"] = "n" * 300
    event = decode(value)
    assert isinstance(event, LeadChange)
    assert event.event_id.startswith("debezium:")
    assert len(event.event_id) <= 200


def test_occurred_at_falls_back_to_ts_ms() -> None:
    value = payload("update.plain.json")
    del value["source"]["ts_us"]
    event = decode(value)
    assert isinstance(event, LeadChange)
    assert event.occurred_at == datetime(2026, 11, 26, 10, 20, 0, 123000, tzinfo=UTC)


def test_a_change_without_commit_time_is_rejected() -> None:
    value = payload("update.plain.json")
    del value["source"]["ts_us"], value["source"]["ts_ms"]
    assert rejection(value).errors[-1][0] == "source.ts_ms"


CALLBACKS = [
    pytest.param("iso", "2026-11-26T22:30:00Z", "UTC", id="zoned-timestamp"),
    pytest.param("iso", "2026-11-27T09:30:00", "Australia/Melbourne", id="iso-local"),
    pytest.param("iso", "2026-11-27 09:30:00+11:00", "UTC", id="iso-offset"),
    pytest.param("epoch-millis", 1795771800000, "Australia/Melbourne", id="millis"),
    pytest.param("epoch-micros", 1795771800000000, "Australia/Melbourne", id="micros"),
    pytest.param("epoch-nanos", 1795771800000000000, "Australia/Melbourne", id="nanos"),
    pytest.param("epoch-millis", 1795732200000, "UTC", id="millis-utc"),
]


@pytest.mark.parametrize(("encoding", "stored", "zone"), CALLBACKS)
def test_callback_encodings(encoding: str, stored: Any, zone: str) -> None:
    text = (FIXTURES / "mapping.toml").read_text()
    text = text.replace('"io.debezium.time.MicroTimestamp"', f'"{encoding}"')
    text = text.replace('timezone = "Australia/Melbourne"', f'timezone = "{zone}"')
    value = payload("create.plain.json")
    value["after"]["call_back_at"] = stored
    event = decode(value, parse_mapping(text))
    assert isinstance(event, LeadChange)
    assert event.callback_at == datetime(2026, 11, 26, 22, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("column", "stored", "needle"),
    [
        pytest.param("call_back_at", "2026-11-27T09:30:00", "integer", id="callback-text"),
        pytest.param("call_back_at", 10**30, "out of range", id="callback-overflow"),
        pytest.param("call_back_at", True, "integer", id="callback-bool"),
        pytest.param("mobile", "call me", "phones.FirstPhone", id="phone-text"),
        pytest.param("mobile", 3.5, "phone number", id="phone-float"),
        pytest.param("dial_priority", 500, "priority", id="priority-range"),
        pytest.param("dial_priority", "high", "integer", id="priority-text"),
        pytest.param("status", ["a"], "text", id="disposition-list"),
        pytest.param("city", {"a": 1}, "single value", id="field-struct"),
        pytest.param("pbx_campaign", "x", "integer", id="campaign-text"),
        pytest.param("crm_id", None, "lead id", id="lead-id-null"),
        pytest.param("crm_id", "", "crm_id", id="lead-id-empty"),
    ],
)
def test_a_bad_column_value_names_the_column(column: str, stored: Any, needle: str) -> None:
    value = payload("create.plain.json")
    value["after"][column] = stored
    error = rejection(value)
    assert error.errors[0] == (
        "",
        "read as a Debezium change event, LEADSYNC_INPUT_FORMAT=debezium",
    )
    assert any(path == f"after.{column}" for path, _ in error.errors), error.errors
    assert needle in str(error)


@pytest.mark.parametrize(
    ("column", "stored", "sent"),
    [
        pytest.param("mobile", 383218199, ("phones", "FirstPhone", "383218199"), id="int-phone"),
        pytest.param("mobile", None, ("phones", "FirstPhone", None), id="null-phone"),
        pytest.param("city", None, ("fields", "City", ""), id="null-field"),
        pytest.param("city", 3067, ("fields", "City", "3067"), id="int-field"),
        pytest.param("city", False, ("fields", "City", "false"), id="bool-field"),
        pytest.param("dial_priority", "7", ("priority", None, 7), id="text-priority"),
        pytest.param("crm_id", 123, ("lead_id", None, "123"), id="int-lead-id"),
        pytest.param("status", None, ("disposition", None, None), id="null-disposition"),
    ],
)
def test_column_values_are_converted(column: str, stored: Any, sent: tuple[str, Any, Any]) -> None:
    value = payload("create.plain.json")
    value["after"][column] = stored
    event = decode(value)
    assert isinstance(event, LeadChange)
    key, name, expected = sent
    got = getattr(event, key)
    assert ((got or {}).get(name) if name else got) == expected


def test_records_from_another_table_are_rejected() -> None:
    value = payload("create.plain.json")
    value["source"]["table"] = "contacts"
    error = rejection(value)
    assert error.errors[-1] == (
        "source.table",
        "the row is from public.contacts, the mapping file maps public.leads",
    )


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        pytest.param(lambda v: v.update(op="x"), "op", id="unknown-op"),
        pytest.param(lambda v: v.update(after=None), "after", id="create-without-after"),
        pytest.param(lambda v: v.pop("source"), "source", id="no-source"),
    ],
)
def test_malformed_envelopes_are_rejected(edit: Any, path: str) -> None:
    value = payload("create.plain.json")
    edit(value)
    assert rejection({"schema": {}, "payload": value}).errors[-1][0] == path


def test_a_plain_envelope_needs_op_and_source_to_be_recognised() -> None:
    value = payload("create.plain.json")
    del value["source"]
    error = rejection(value)
    assert str(error).startswith(
        "expected a Debezium change event, found a JSON object with keys before, after,"
    )


def test_without_a_mapping_debezium_records_are_rejected_in_auto_mode() -> None:
    with pytest.raises(InvalidEvent, match="LEADSYNC_MAPPING_FILE"):
        decode(fixture("create.schema.json")["value"], mapping=None, mode="auto")


COLUMN_VALUES = st.one_of(st.none(), st.sampled_from(["a", "b"]))
ROW_COLUMNS = ["status", "mobile", "home_phone", "first_name", "city", "notes", "contact_tz"]


@given(
    before=st.fixed_dictionaries(dict.fromkeys(ROW_COLUMNS, COLUMN_VALUES)),
    after=st.fixed_dictionaries(dict.fromkeys(ROW_COLUMNS, COLUMN_VALUES)),
)
def test_an_update_sends_exactly_the_changed_columns(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    def digits(row: dict[str, Any]) -> dict[str, Any]:
        # Phones must look like numbers; "a"/"b" become two distinct ones.
        swap = {"a": "0311111111", "b": "0322222222"}
        return row | {k: swap.get(row[k], row[k]) for k in ("mobile", "home_phone")}

    value = payload("update.plain.json")
    value["before"] = value["before"] | digits(before)
    value["after"] = value["after"] | digits(after)
    value["after"]["call_back_at"] = value["before"]["call_back_at"]
    changed = {column for column in ROW_COLUMNS if before[column] != after[column]}
    result = decode(value)
    sent_phones = {c for c in ("mobile", "home_phone") if c in changed and after[c] is not None}
    fields = {"first_name": "Name", "city": "City", "notes": "Notes"}
    effective = (
        sent_phones
        | (changed & set(fields))
        | {c for c in ("status", "contact_tz") if c in changed and after[c] is not None}
    )
    if not effective:
        assert isinstance(result, Skip)
        return
    assert isinstance(result, LeadChange)
    assert set(result.fields or {}) == {fields[c] for c in changed & set(fields)}
    assert result.phones is not None
    for column, name in (("mobile", "FirstPhone"), ("home_phone", "SecondPhone")):
        assert (result.phones[name] != NO_CHANGE) == (column in sent_phones)
    assert (result.disposition is not None) == ("status" in effective)
    assert (result.contact_hours is not None) == ("contact_tz" in effective)

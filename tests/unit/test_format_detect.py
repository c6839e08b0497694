"""contracts.formats.detect: which format a record is read as, per mode, and what errors say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import contracts.formats
from contracts.events import EXAMPLE_EVENT, InvalidEvent, LeadChange, parse_lead_change
from contracts.formats import (
    DecoderConfig,
    RecordFormat,
    Skip,
    decode_record,
    detect_format,
    load_mapping,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats"
MAPPING = load_mapping(FIXTURES / "debezium" / "mapping.toml")
TYPES = frozenset({"lead.changed"})
Headers = list[tuple[str, bytes]]


def record(name: str) -> tuple[bytes | None, Headers]:
    data = json.loads((FIXTURES / name).read_text())
    value = None if data["value"] is None else json.dumps(data["value"]).encode()
    return value, [(k, v.encode()) for k, v in data["headers"]]


def config(mode: str) -> DecoderConfig:
    return DecoderConfig(mode, TYPES, MAPPING)


NATIVE = json.dumps(EXAMPLE_EVENT).encode()
CE_JSON = [("content-type", b"application/cloudevents+json")]

DETECTION = [
    pytest.param(*record("native/event.json"), RecordFormat.NATIVE, id="native"),
    pytest.param(
        json.dumps({**EXAMPLE_EVENT, "fields": {"Shop": "op", "Notes": "payload"}}).encode(),
        [],
        RecordFormat.NATIVE,
        id="native-with-marker-words-as-values",
    ),
    pytest.param(NATIVE, [("content-type", b"application/json")], RecordFormat.NATIVE, id="json"),
    pytest.param(b"not json", [], RecordFormat.NATIVE, id="not-json"),
    pytest.param(b'{"op": ', [], RecordFormat.NATIVE, id="broken-json-with-marker"),
    pytest.param(b'["op"]', [], RecordFormat.NATIVE, id="array"),
    pytest.param(b'{"op": "c"}', [], RecordFormat.NATIVE, id="op-without-source"),
    pytest.param(b'{"payload": {"x": 1}}', [], RecordFormat.NATIVE, id="payload-without-op"),
    pytest.param(None, [], RecordFormat.TOMBSTONE, id="tombstone"),
    pytest.param(*record("debezium/tombstone.json"), RecordFormat.TOMBSTONE, id="dbz-tombstone"),
    pytest.param(*record("cloudevents/structured.json"), RecordFormat.CLOUDEVENTS_STRUCTURED),
    pytest.param(
        *record("cloudevents/structured-no-content-type.json"),
        RecordFormat.CLOUDEVENTS_STRUCTURED,
        id="structured-without-header",
    ),
    pytest.param(
        NATIVE,
        [("Content-Type", b"Application/CloudEvents+JSON; charset=UTF-8")],
        RecordFormat.CLOUDEVENTS_STRUCTURED,
        id="structured-header-any-case",
    ),
    pytest.param(
        b"\x00avro",
        [("content-type", b"application/cloudevents+avro")],
        RecordFormat.CLOUDEVENTS_STRUCTURED,
        id="structured-other-event-format",
    ),
    pytest.param(*record("cloudevents/binary.json"), RecordFormat.CLOUDEVENTS_BINARY),
    pytest.param(None, [("ce_specversion", b"1.0")], RecordFormat.CLOUDEVENTS_BINARY, id="no-data"),
    pytest.param(NATIVE, [("ce_id", b"x")], RecordFormat.CLOUDEVENTS_BINARY, id="ce-id-only"),
    pytest.param(NATIVE, [("ce_partitionkey", b"x")], RecordFormat.NATIVE, id="ce-extension-only"),
    pytest.param(*record("debezium/create.schema.json"), RecordFormat.DEBEZIUM),
    pytest.param(*record("debezium/create.plain.json"), RecordFormat.DEBEZIUM),
    pytest.param(*record("debezium/truncate.plain.json"), RecordFormat.DEBEZIUM),
]


@pytest.mark.parametrize(("value", "headers", "expected"), DETECTION)
def test_detection_table(value: bytes | None, headers: Headers, expected: RecordFormat) -> None:
    assert detect_format(value, headers) is expected


FIXTURE_FORMATS = {
    "native/event.json": "native",
    "cloudevents/structured.json": "cloudevents",
    "cloudevents/structured-no-content-type.json": "cloudevents",
    "cloudevents/binary.json": "cloudevents",
    "debezium/create.schema.json": "debezium",
    "debezium/update.plain.json": "debezium",
}


@pytest.mark.parametrize("name", list(FIXTURE_FORMATS))
def test_auto_decodes_like_the_matching_mode(name: str) -> None:
    value, headers = record(name)
    auto = decode_record(value, headers, config("auto"))
    assert isinstance(auto, LeadChange)
    assert auto == decode_record(value, headers, config(FIXTURE_FORMATS[name]))


def test_a_mixed_stream_in_auto_mode() -> None:
    results = [decode_record(*record(name), config("auto")) for name in FIXTURE_FORMATS]
    results.append(decode_record(*record("debezium/tombstone.json"), config("auto")))
    assert [type(result) for result in results] == [LeadChange] * 6 + [Skip]


WRONG_MODE = [
    pytest.param(
        "cloudevents",
        "native/event.json",
        "expected a CloudEvent, found a JSON object with keys event_id, lead_id, occurred_at,",
        id="native-in-cloudevents-mode",
    ),
    pytest.param(
        "cloudevents",
        "debezium/create.plain.json",
        "expected a CloudEvent, found a Debezium change event (it has op)",
        id="debezium-in-cloudevents-mode",
    ),
    pytest.param(
        "cloudevents",
        "debezium/tombstone.json",
        "expected a CloudEvent, found a record with no value (a tombstone)",
        id="tombstone-in-cloudevents-mode",
    ),
    pytest.param(
        "debezium",
        "native/event.json",
        "expected a Debezium change event, found a JSON object with keys event_id,",
        id="native-in-debezium-mode",
    ),
    pytest.param(
        "debezium",
        "cloudevents/structured-no-content-type.json",
        "expected a Debezium change event, found a CloudEvent (it has specversion)",
        id="cloudevent-in-debezium-mode",
    ),
]


@pytest.mark.parametrize(("mode", "name", "message"), WRONG_MODE)
def test_a_record_in_the_wrong_format_says_what_was_expected_and_found(
    mode: str, name: str, message: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_record(*record(name), config(mode))
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (b"\xff", "bytes that are not UTF-8"),
        (b"lead", "text that is not JSON"),
        (b"[]", "JSON an array"),
        (b"7", "JSON a number"),
        (b"{}", "an empty JSON object"),
        (json.dumps({f"k{i}": i for i in range(9)}).encode(), "k0, k1, k2, k3, k4, k5, ..."),
    ],
)
def test_what_was_found_is_described(value: bytes, found: str) -> None:
    with pytest.raises(InvalidEvent, match="expected a Debezium change event, found") as caught:
        decode_record(value, [], config("debezium"))
    assert str(caught.value).endswith(found)


def test_native_mode_ignores_headers_and_keeps_tombstones_invalid() -> None:
    value, headers = record("native/event.json")
    event = decode_record(value, CE_JSON, config("native"))
    assert event == parse_lead_change(NATIVE) == decode_record(value, headers, config("native"))
    with pytest.raises(InvalidEvent, match="no value"):
        decode_record(None, [], config("native"))
    with pytest.raises(InvalidEvent, match="unknown field 'specversion'"):
        decode_record(*record("cloudevents/structured-no-content-type.json"), config("native"))


def test_auto_mode_errors_say_what_the_record_was_read_as() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_record(b'{"lead_id": "L"}', [], config("auto"))
    assert caught.value.errors[0] == ("", "read as a native lead-change/v1 event, auto-detected")
    with pytest.raises(InvalidEvent, match=r"^read as a CloudEvent \(binary mode\), auto-detected"):
        decode_record(None, [("ce_specversion", b"1.0")], config("auto"))


def test_headers_without_a_value_are_ignored() -> None:
    assert detect_format(NATIVE, [("ce_id", None), ("content-type", None)]) is RecordFormat.NATIVE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_format": "xml"}, "input format 'xml'"),
        ({"input_format": "debezium"}, "LEADSYNC_MAPPING_FILE"),
        (
            {"input_format": "cloudevents", "cloudevents_types": frozenset()},
            "LEADSYNC_CLOUDEVENTS_TYPES",
        ),
    ],
)
def test_unusable_configurations_fail_at_start_up(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DecoderConfig(**kwargs)


def test_defaults_read_every_format_but_debezium() -> None:
    default = DecoderConfig()
    assert default.input_format == "auto"
    assert default.cloudevents_types == frozenset({"lead.changed"})
    assert isinstance(decode_record(*record("cloudevents/binary.json"), default), LeadChange)
    with pytest.raises(InvalidEvent, match="no mapping file"):
        decode_record(*record("debezium/create.plain.json"), default)


def test_the_public_names_exist() -> None:
    for name in contracts.formats.__all__:
        assert getattr(contracts.formats, name) is not None


# What a producer of native events might send: valid events, events with wrong
# types or typos, and values that are not events at all.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 200), st.text(max_size=12), st.floats(allow_nan=False)
)
FIELD_VALUES = {
    "event_id": st.one_of(st.text(min_size=1, max_size=40), SCALARS),
    "lead_id": st.one_of(st.text(min_size=1, max_size=40), SCALARS),
    "occurred_at": st.one_of(
        st.sampled_from(["2026-11-26T10:15:00Z", "2026-11-26T10:15:00+11:00", "2026-11-26"]),
        SCALARS,
    ),
    "disposition": st.one_of(st.sampled_from(["Callback", "Sale", "op", "payload"]), SCALARS),
    "callback_at": st.one_of(st.just("2026-11-27T09:30:00+11:00"), SCALARS),
    "priority": SCALARS,
    "phones": st.one_of(
        st.dictionaries(st.sampled_from(["FirstPhone", "firstphone", "njX"]), st.text(max_size=12)),
        SCALARS,
    ),
    "fields": st.one_of(
        st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=8), SCALARS)), SCALARS
    ),
    "contact_hours": SCALARS,
    "campaign": st.one_of(st.fixed_dictionaries({}, optional={"campaign_id": SCALARS}), SCALARS),
    "colour": SCALARS,
}
REQUIRED = {"event_id", "lead_id", "occurred_at"}
NATIVE_LIKE = st.one_of(
    st.fixed_dictionaries(
        {
            "event_id": st.text(min_size=1, max_size=40),
            "lead_id": st.text(min_size=1, max_size=40),
            "occurred_at": st.just("2026-11-26T10:15:00Z"),
        },
        optional={k: v for k, v in FIELD_VALUES.items() if k not in REQUIRED},
    ),
    st.fixed_dictionaries({}, optional=FIELD_VALUES),
).map(lambda event: json.dumps(event).encode())
ANY_VALUE = st.one_of(
    NATIVE_LIKE,
    st.binary(max_size=40),
    st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=5).map(
        lambda document: json.dumps(document).encode()
    ),
)


def outcome(decode: Any, value: bytes) -> LeadChange | list[tuple[str, str]]:
    try:
        result: LeadChange = decode(value)
    except InvalidEvent as exc:
        return exc.errors
    return result


@given(ANY_VALUE)
def test_auto_reads_native_events_exactly_as_native_mode(value: bytes) -> None:
    assert detect_format(value, []) is RecordFormat.NATIVE
    native = outcome(parse_lead_change, value)
    auto = outcome(lambda raw: decode_record(raw, [], config("auto")), value)
    if isinstance(native, LeadChange):
        assert auto == native
    else:
        assert auto == [("", "read as a native lead-change/v1 event, auto-detected"), *native]


def test_auto_without_a_mapping_sets_tombstones_aside_as_invalid() -> None:
    # No mapping: no Debezium stream is expected, so a null value is a poison record.
    with pytest.raises(InvalidEvent, match="LEADSYNC_MAPPING_FILE"):
        decode_record(None, [], DecoderConfig("auto", TYPES, None))

"""Whatever a producer sends, one record ends as a call, a skip or a dead-letter verdict.

Two layers are held to it. ``decode_record`` then ``build_update_lead_fast`` (through
the encoded body) may raise ``InvalidEvent`` or ``RequestError`` and nothing else,
with a bounded message; and ``RecordPreparer``, the one step the pipeline calls,
never raises at all. The examples are the bugs issue 14 found; the properties try
the same against every field of every format.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.delivery.work import Ready
from consumer.intake.preparing import RecordPreparer
from contracts.deadletter import DeadLetterReason, Failure
from contracts.events import EXAMPLE_EVENT, InvalidEvent
from contracts.formats import DecoderConfig, Skip, decode_record, load_mapping
from contracts.request import RequestDefaults, RequestError, build_update_lead_fast
from tests.telemetry_helpers import record as consumer_record

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats"
MAPPING = load_mapping(FIXTURES / "debezium" / "mapping.toml")
TYPES = frozenset({"lead.changed"})
DEFAULTS = RequestDefaults(
    template_id=1,
    campaign_id=2,
    allocation_id=3,
    timezone=ZoneInfo("Australia/Melbourne"),
    phone_fields=("FirstPhone", "SecondPhone"),
)
MESSAGE_BOUND = 6000
"""Longest verdict text allowed: ten problems of 300 characters, paths and separators."""

Headers = list[tuple[str, bytes | None]]


def fixture(name: str) -> tuple[Any, Headers]:
    data = json.loads((FIXTURES / name).read_text())
    return data["value"], [(k, v.encode()) for k, v in data["headers"]]


TEMPLATES: list[tuple[str, Any, Headers]] = [
    ("native", dict(EXAMPLE_EVENT), []),
    ("cloudevents-structured", *fixture("cloudevents/structured.json")),
    ("cloudevents-binary", *fixture("cloudevents/binary.json")),
    ("debezium-create", *fixture("debezium/create.plain.json")),
    ("debezium-update", *fixture("debezium/update.plain.json")),
    ("debezium-schema", *fixture("debezium/update.schema.json")),
    ("debezium-delete", *fixture("debezium/delete.schema.json")),
]


def config(mode: str = "auto", max_bytes: int = 1 << 20) -> DecoderConfig:
    return DecoderConfig(mode, TYPES, MAPPING, max_bytes=max_bytes)


def verdict(value: bytes | None, headers: Headers | None = None, mode: str = "auto") -> object:
    """What the unguarded layers make of a record: a call, a Skip, or the verdict raised.

    Any other exception fails the test: it would have reached the pipeline.
    """
    found: object
    try:
        event = decode_record(value, headers or [], config(mode))
        found = event if isinstance(event, Skip) else build_update_lead_fast(event, DEFAULTS)
    except (InvalidEvent, RequestError) as exc:
        found = exc
    if isinstance(found, Exception):
        assert len(str(found)) <= MESSAGE_BOUND, len(str(found))
        assert "\n" not in str(found)
    return found


def prepared(value: bytes | None, headers: Headers | None = None) -> Ready | Skip | Failure:
    record = consumer_record(offset=7, headers=tuple(headers or ()), value=value, key=b"k")  # type: ignore[arg-type]
    return RecordPreparer(config(), DEFAULTS)(record)


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def dumps(document: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as the escape "\ud800"; allow_nan writes NaN.
    return json.dumps(document, ensure_ascii=True, allow_nan=True).encode()


# -- the bugs of issue 14, item 1 and 2: each raised something else before ---------------

CE = fixture("cloudevents/structured.json")[0]
DBZ = fixture("debezium/update.plain.json")[0]


def with_source(**changes: Any) -> bytes:
    value = copy.deepcopy(DBZ)
    value["source"].update(changes)
    return dumps(value)


EXAMPLES = [
    pytest.param(
        b'{"op": ' + deep(300).encode() + b', "source": {}}',
        "nested deeper than 200",
        id="deep-json-with-op-marker",  # RecursionError in auto mode
    ),
    pytest.param(
        b'{"payload": ' + deep(5000).encode() + b"}", "nested deeper", id="deep-json-payload"
    ),
    pytest.param(
        dumps({**CE, "data": json.loads(deep(150))}) + b" " * 0,
        "data",
        id="cloudevent-with-nested-data",
    ),
    pytest.param(
        dumps({**copy.deepcopy(DBZ), "op": ["u"]}), "op: should be a one-letter", id="op-list"
    ),
    pytest.param(
        dumps({**copy.deepcopy(DBZ), "op": {"u": 1}}), "op: should be a one-letter", id="op-dict"
    ),
    pytest.param(with_source(table=["leads"]), "source.table", id="table-list"),
    pytest.param(with_source(ts_ms="yesterday"), "source.ts_ms", id="ts-ms-text"),
    pytest.param(with_source(ts_us=1.5), "source.ts_us", id="ts-us-float"),
    pytest.param(
        dumps({**CE, "data": {**CE["data"], "lead_id": "L\ud800"}}),
        "lone surrogate",
        id="cloudevent-lone-surrogate",
    ),
    pytest.param(
        dumps({**copy.deepcopy(DBZ), "after": {**DBZ["after"], "first_name": "\udcff"}}),
        "surrogate",
        id="debezium-lone-surrogate",
    ),
    pytest.param(b'{"specversion": NaN}', "specversion", id="nan"),
    pytest.param(b"\xef\xbb\xbf" + dumps(EXAMPLE_EVENT), "JSON", id="bom"),
    pytest.param(b'{"op": 1' + b"0" * 5000 + b', "source": {}}', "not JSON", id="huge-number"),
    pytest.param(
        dumps({**CE, "id": "x" * 300_000}), "id", id="huge-attribute-repr"
    ),  # the message used to quote it whole
]


@pytest.mark.parametrize(("value", "named"), EXAMPLES)
def test_each_bug_of_issue_14_is_an_invalid_event_naming_its_field(
    value: bytes, named: str
) -> None:
    found = verdict(value)
    assert isinstance(found, InvalidEvent), found
    assert named in str(found)
    outcome = prepared(value)
    assert isinstance(outcome, Failure)
    assert outcome.reason == DeadLetterReason.INVALID_EVENT
    assert len(outcome.message) <= MESSAGE_BOUND


def test_a_record_over_the_size_limit_is_not_parsed() -> None:
    value = dumps({**EXAMPLE_EVENT, "fields": {"Notes": "x" * 2000}})
    with pytest.raises(InvalidEvent, match=r"over the limit of 1000 \(LEADSYNC_MAX_EVENT_BYTES"):
        decode_record(value, [], config(max_bytes=1000))


def test_a_header_name_that_is_not_utf8_is_a_verdict_not_a_crash() -> None:
    # How consumer.kafka.lenient_records hands over such a name: its bytes as surrogate escapes.
    outcome = prepared(
        dumps(EXAMPLE_EVENT), [(b"\xff\xfe".decode("utf-8", "surrogateescape"), b"")]
    )
    assert isinstance(outcome, Failure)
    assert "header name is not UTF-8" in outcome.message


def test_an_unforeseen_exception_in_a_decoder_is_named_by_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise KeyError("x" * 10_000)

    monkeypatch.setattr("consumer.intake.preparing.decode_record", broken)
    outcome = prepared(dumps(EXAMPLE_EVENT))
    assert isinstance(outcome, Failure)
    assert outcome.reason == DeadLetterReason.INVALID_EVENT
    assert "decoding it failed with KeyError: " in outcome.message
    assert len(outcome.message) < 500


def test_an_unforeseen_exception_building_the_call_is_an_invalid_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("consumer.intake.preparing.build_update_lead_fast", broken)
    outcome = prepared(dumps(EXAMPLE_EVENT))
    assert isinstance(outcome, Failure)
    assert outcome.reason == DeadLetterReason.INVALID_REQUEST
    assert "ZeroDivisionError: division by zero" in outcome.message


def test_a_valid_record_is_ready_with_its_body_encoded() -> None:
    outcome = prepared(dumps(EXAMPLE_EVENT))
    assert isinstance(outcome, Ready)
    assert json.loads(outcome.request.payload) == dict(outcome.request.body)


# -- properties: every field of every format, every kind of hostile value ---------------

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=20),
    st.text(st.one_of(SURROGATES, st.characters()), max_size=8),
    st.sampled_from(["", "<No Change>", "nj", "\ufeff", "2026-13-45T99:99:99Z", "c", "u", "d"]),
)
HOSTILE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**310),
    st.floats(),  # NaN and the infinities too
    HOSTILE_TEXT,
)
HOSTILE_JSON = st.recursive(
    HOSTILE_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(HOSTILE_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
DEEP = st.integers(min_value=150, max_value=400).map(lambda n: json.loads(deep(n)))


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copied = copy.copy(document)
    copied[path[0]] = replaced(document[path[0]], path[1:], value)
    return copied


@st.composite
def hostile_records(draw: st.DrawFn) -> tuple[bytes | None, Headers]:
    """A template of some format with one field replaced by something hostile."""
    _, template, headers = draw(st.sampled_from(TEMPLATES))
    path = draw(st.sampled_from(paths(template)))
    document = replaced(template, path, draw(st.one_of(HOSTILE_JSON, DEEP)))
    value = dumps(document)
    if draw(st.booleans()):
        value = draw(st.sampled_from([b"\xef\xbb\xbf", b"", b" ", b"\x00"])) + value
    if draw(st.integers(0, 9)) == 0:
        value = value[: draw(st.integers(0, len(value)))]  # cut short
    headers = list(headers)
    if draw(st.booleans()):
        headers[draw(st.integers(0, len(headers))) :] = draw(
            st.lists(
                st.tuples(
                    st.one_of(st.sampled_from(["content-type", "ce_type", "ce_id"]), HOSTILE_TEXT),
                    st.one_of(st.none(), st.binary(max_size=12)),
                ),
                max_size=3,
            )
        )
    return value, headers


RAW = st.tuples(
    st.one_of(st.none(), st.binary(max_size=200)),
    st.lists(st.tuples(HOSTILE_TEXT, st.one_of(st.none(), st.binary(max_size=12))), max_size=3),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(hostile_records(), RAW))
def test_the_unguarded_layers_raise_only_verdicts(record: tuple[bytes | None, Headers]) -> None:
    value, headers = record
    for mode in ("auto", "native", "cloudevents", "debezium"):
        found = verdict(value, headers, mode)
        if not isinstance(found, InvalidEvent | RequestError | Skip):
            found.payload.decode("utf-8")  # type: ignore[attr-defined]  # a call: sendable


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(hostile_records(), RAW))
def test_the_pipeline_step_never_raises_and_its_verdicts_are_bounded(
    record: tuple[bytes | None, Headers],
) -> None:
    value, headers = record
    outcome = prepared(value, headers)
    if isinstance(outcome, Failure):
        assert outcome.reason in {DeadLetterReason.INVALID_EVENT, DeadLetterReason.INVALID_REQUEST}
        assert len(outcome.message) <= MESSAGE_BOUND + 100
    elif isinstance(outcome, Ready):
        body = json.loads(outcome.request.payload)
        if isinstance(body, list):  # an insert: the one lead, in an array
            (body,) = body
        assert all(not isinstance(v, float) or math.isfinite(v) for v in body.values())

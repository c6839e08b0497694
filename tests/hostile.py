"""A corpus of hostile records: every kind of bad input a producer can send, and what its
dead letter must name. Fault scenario 10 mixes it into a stream of valid events and runs
``leadsync run`` over it; the unit properties in ``tests/unit/test_hostile_records.py``
generate more of the same kinds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.kafka_helpers import Outgoing, RawHeaderName

_EVENT: dict[str, Any] = {
    "event_id": "e-1",
    "lead_id": "POISON",
    "occurred_at": "2026-11-26T10:15:00Z",
    "phones": {"FirstPhone": "0383218199"},
}
_CE: dict[str, Any] = {
    "specversion": "1.0",
    "type": "lead.changed",
    "source": "/crm",
    "id": "ce-1",
    "time": "2026-11-26T10:15:00Z",
    "data": {"lead_id": "POISON"},
}
_DBZ: dict[str, Any] = {
    "op": "u",
    "before": {"crm_id": "POISON"},
    "after": {"crm_id": "POISON", "status": "Sale"},
    "source": {"ts_ms": 1795688400123, "schema": "public", "table": "leads"},
}
_CE_BINARY = [
    ("ce_specversion", b"1.0"),
    ("ce_type", b"lead.changed"),
    ("ce_source", b"/crm"),
    ("ce_id", b"ce-2"),
    ("ce_time", b"2026-11-26T10:15:00Z"),
]
ONE_MIB = 1 << 20


def _json(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=True, allow_nan=True).encode()


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@dataclass(frozen=True)
class Hostile:
    kind: str
    record: Outgoing
    named: str
    """Text the dead letter's message must contain."""


def _h(kind: str, value: bytes | None, named: str, headers: Any = ()) -> Hostile:
    return Hostile(kind, Outgoing(f"POISON-{kind}".encode(), value, headers=headers), named)


CORPUS: list[Hostile] = [
    _h("not-json", b"CRM outbox row 17 {not json", "JSON"),
    _h("not-utf8", b"\xff\xfe\x00 binary", "UTF-8"),
    _h("empty-value", b"", "JSON"),
    _h("tombstone", None, "value"),
    _h("json-array", b"[1, 2, 3]", "object"),
    _h("json-string", b'"CRM-1"', "object"),
    _h("json-number", b"42", "object"),
    _h("json-null", b"null", "object"),
    _h("bom", b"\xef\xbb\xbf" + _json(_EVENT), "JSON"),
    _h("deep-native", _deep(600).encode(), "JSON"),
    _h("deep-with-op", b'{"op": ' + _deep(600).encode() + b', "source": {}}', "nested deeper"),
    _h("deep-payload", b'{"payload": ' + _deep(600).encode() + b"}", "nested deeper"),
    _h("deep-cloudevent", _json({**_CE, "data": json.loads(_deep(190))}), "data"),
    _h("nan", _json({**_EVENT, "priority": float("nan")}), "priority"),
    _h("infinity", _json({**_EVENT, "fields": {"Score": float("inf")}}), "fields"),
    _h("huge-int", _json({**_EVENT, "priority": 10**400}), "priority"),
    _h("endless-digits", b'{"priority": 1' + b"0" * 6000 + b"}", "JSON"),
    _h("surrogate-native", _json({**_EVENT, "lead_id": "P\ud800"}), "surrogate"),
    _h("surrogate-cloudevent", _json({**_CE, "data": {"lead_id": "P\udcff"}}), "surrogate"),
    _h("dbz-op-list", _json({**_DBZ, "op": ["u"]}), "mapping"),
    _h("dbz-table-list", _json({**_DBZ, "source": {**_DBZ["source"], "table": [1]}}), "mapping"),
    _h("dbz-ts-text", _json({**_DBZ, "source": {"ts_ms": "yesterday"}}), "mapping"),
    _h("ce-old-spec", _json({**_CE, "specversion": "0.3"}), "specversion"),
    _h("ce-type", _json({**_CE, "type": "lead.deleted"}), "type"),
    _h("ce-binary-no-id", _json({"lead_id": "P"}), "ce_id", _CE_BINARY[:3] + _CE_BINARY[4:]),
    _h("ce-binary-bad-header", _json({"lead_id": "P"}), "UTF-8", [("ce_type", b"\xff")]),
    _h(
        "ce-binary-xml",
        b"<lead/>",
        "datacontenttype",
        [*_CE_BINARY, ("content-type", b"application/xml")],
    ),
    _h("ce-huge-id", _json({**_CE, "id": 7, "source": "x" * 300_000}), "id"),
    _h("huge-field-name", _json({**_EVENT, "x" * 100_000: 1}), "unknown field"),
    _h("wide", _json({**_EVENT, **{f"f{n}": n for n in range(3000)}}), "unknown field"),
    _h("nj-field", _json({**_EVENT, "fields": {"njPriority": "1"}}), "fields"),
    _h("phone-twice", _json({**_EVENT, "phones": {"FirstPhone": "1", "firstphone": "2"}}), "phone"),
    _h("priority-text", _json({**_EVENT, "priority": "5"}), "priority"),
    _h("no-offset", _json({**_EVENT, "occurred_at": "2026-11-26T10:15:00"}), "occurred_at"),
    _h(
        "missing-time",
        _json({k: v for k, v in _EVENT.items() if k != "occurred_at"}),
        "occurred_at",
    ),
    _h("nested-field", _json({**_EVENT, "fields": {"Name": {"first": "J"}}}), "fields"),
    _h("campaign-float", _json({**_EVENT, "campaign": {"campaign_id": 4.5}}), "campaign"),
    _h("over-size", _json({**_EVENT, "attachment": "x" * ONE_MIB}), "LEADSYNC_MAX_EVENT_BYTES"),
    _h(
        "header-name-not-utf8",
        _json(_EVENT),
        "header name is not UTF-8",
        [(RawHeaderName(b"\xff\xfeorigin"), b"crm")],
    ),
    _h(
        "native-as-cloudevent",
        _json(_EVENT),
        "specversion",
        [("content-type", b"application/cloudevents+json"), ("ce_note", None)],
    ),
]
"""Forty kinds. Every record is keyed by its kind, so its dead letter is found by key."""

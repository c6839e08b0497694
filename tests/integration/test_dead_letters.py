"""Every permanent code and every invalid-event rule ends as one complete dead letter."""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from consumer.wiring import service_version
from contracts import deadletter as h
from contracts.deadletter import parse_dead_letter_headers
from tests.kafka_helpers import (
    Outgoing,
    create_topics,
    event_record,
    produce,
    read_topic,
    unique_topic,
)
from tests.service_helpers import running_service, service_settings, wait_until

PHONE = {"FirstPhone": "0383218199"}

# lead id -> (event fields, expected reason, expected code)
PERMANENT_CASES: dict[str, tuple[dict[str, object], str, int]] = {
    "P-101": ({"phones": PHONE, "disposition": "Sale"}, "COULDNT_FIND_THE_LEAD", 101),
    "P-102": ({"disposition": "Sale"}, "NO_PHONE_FIELDS", 102),
    "P-104": ({"phones": {"FirstPhone": "0400000104"}, "disposition": "Sale"}, "DNC", 104),
    "P-105": ({"phones": {"FirstPhone": "0400000105"}, "disposition": "Sale"}, "DUPLICATE", 105),
    "P-106": ({"phones": PHONE, "disposition": "Bogus"}, "INVALID_DISPOSTION", 106),
    "P-107": ({"phones": PHONE}, "DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED", 107),
    "P-108": ({"disposition": "Sale", "phones": PHONE}, "IMPORT_BUT_NOCHANGE_SPECIFIED", 108),
    "P-110": ({"phones": PHONE, "disposition": "Sale"}, "LEAD_NOT_UPDATED_DUE_TO_CONFLICT", 110),
    "P-111": (
        {"phones": PHONE, "disposition": "Sale", "contact_hours": "Mars/Olympus"},
        "INVALID_TIMEZONE_SPECIFIED",
        111,
    ),
    "P-112": ({"phones": PHONE, "disposition": "Sale"}, "DUPLICATE_EXTERNAL_ID", 112),
}

_BASE = {"event_id": "e1", "lead_id": "I-1", "occurred_at": "2026-11-26T10:15:00Z"}

# value -> the field the validation message must name
INVALID_CASES: list[tuple[bytes | None, str]] = [
    (json.dumps({**_BASE, "event_id": ""}).encode(), "event_id"),
    (json.dumps({**_BASE, "event_id": "x" * 201}).encode(), "event_id"),
    (json.dumps({k: v for k, v in _BASE.items() if k != "lead_id"}).encode(), "lead_id"),
    (json.dumps({**_BASE, "lead_id": ""}).encode(), "lead_id"),
    (json.dumps({**_BASE, "occurred_at": "2026-11-26T10:15:00"}).encode(), "occurred_at"),
    (json.dumps({**_BASE, "callback_at": "tomorrow"}).encode(), "callback_at"),
    (json.dumps({**_BASE, "priority": 101}).encode(), "priority"),
    (json.dumps({**_BASE, "priority": "5"}).encode(), "priority"),
    (json.dumps({**_BASE, "phones": ["0383218199"]}).encode(), "phones"),
    (json.dumps({**_BASE, "fields": {"njPriority": "1"}}).encode(), "fields"),
    (json.dumps({**_BASE, "contact_hours": 7}).encode(), "contact_hours"),
    (json.dumps({**_BASE, "campaign": {"template": 1}}).encode(), "campaign"),
    (json.dumps({**_BASE, "dispositon": "Sale"}).encode(), "dispositon"),
    (b"not json at all", "JSON"),
    (b"\xff\xfe not utf-8", "UTF-8"),
    (b"[1, 2, 3]", "object"),
    (None, "value"),
]


async def test_every_permanent_code_and_invalid_rule_gives_one_complete_dead_letter(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic = unique_topic()
    dlq = f"{topic}.dlq"
    await create_topics(kafka_broker.bootstrap, {topic: 2, dlq: 1, f"{topic}.progress": 2})
    origin = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    records = [
        Outgoing(r.key, r.value, headers=[*origin, ("crm.source", b"outbox")])
        for r in (event_record(lead, **fields) for lead, (fields, _, _) in PERMANENT_CASES.items())
    ]
    records += [Outgoing(b"I-1", value) for value, _ in INVALID_CASES]
    produced = await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    config = SimulatorConfig(
        api_key=key,
        threads=8,
        min_service_ms=1,
        unknown_leads=frozenset({"P-101"}),
        dnc_numbers=frozenset({"0400000104"}),
        duplicate_numbers=frozenset({"0400000105"}),
        valid_dispositions=frozenset({"Sale"}),
        never_dialled=frozenset({"P-107"}),
        importing_leads=frozenset({"P-108"}),
        conflict_leads={"P-110": 5},
        valid_contact_hours=frozenset({"Australia/Melbourne"}),
        duplicate_external_ids=frozenset({"P-112"}),
    )
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap,
            topic,
            sim.url,
            key,
            # Configured phone field the simulator's campaign lacks: an event without
            # phones sends only it, which is how the PBX comes to answer 102.
            noojee_phone_fields="AltPhone",
        )
        async with running_service(settings) as pipeline:
            await wait_until(
                lambda: pipeline.counts.finished >= len(records), timeout_s=60, what="all"
            )
        assert sim.state.stats_json()["applied"] == 0
    dead = await read_topic(kafka_broker.bootstrap, dlq, expect=len(records))
    assert len(dead) == len(records)

    placement = {(p, o): records[i] for i, (p, o) in enumerate(produced.placements)}
    seen_codes: dict[str, str] = {}
    invalid_seen = 0
    for record in dead:
        headers = parse_dead_letter_headers(record.headers)
        source = (int(headers[h.SOURCE_PARTITION]), int(headers[h.SOURCE_OFFSET]))
        original = placement.pop(source)  # exactly one dead letter per source record
        assert record.key == original.key
        assert record.value == original.value
        assert headers[h.SOURCE_TOPIC] == topic
        assert int(headers[h.SOURCE_TIMESTAMP]) > 0
        assert headers[h.CONSUMER_GROUP] == settings.group_id
        assert headers[h.VERSION] == service_version()
        for name in (h.FIRST_FAILED_AT, h.FAILED_AT):
            assert headers[name].endswith("Z")
            datetime.fromisoformat(headers[name])
        assert headers[h.FIRST_FAILED_AT] <= headers[h.FAILED_AT]
        assert headers[h.MESSAGE]
        assert "\n" not in headers[h.MESSAGE]
        assert key not in json.dumps(headers)
        if headers[h.REASON] == "INVALID_EVENT":
            assert headers[h.CODE] == headers[h.HTTP_STATUS] == headers[h.RESPONSE] == ""
            assert headers[h.ATTEMPTS] == "0"
            field = dict(INVALID_CASES)[original.value]
            assert field in headers[h.MESSAGE], headers[h.MESSAGE]
            invalid_seen += 1
            continue
        lead = json.loads(record.value)["lead_id"]
        _, reason, code = PERMANENT_CASES[lead]
        assert headers[h.REASON] == reason
        assert headers[h.CODE] == str(code)
        assert headers[h.HTTP_STATUS] == "400"
        assert json.loads(headers[h.RESPONSE])["code"] == code
        assert headers[h.ATTEMPTS] == "1"  # permanent: never retried
        assert (h.TRACEPARENT, origin[0][1]) in record.headers or headers[h.TRACEPARENT]
        assert ("crm.source", b"outbox") in record.headers
        seen_codes[lead] = headers[h.CODE]
    assert placement == {}
    assert set(seen_codes) == set(PERMANENT_CASES)
    assert invalid_seen == len(INVALID_CASES)

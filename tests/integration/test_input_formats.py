"""A mixed topic of native, CloudEvents and Debezium records, applied with INPUT_FORMAT=auto."""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from pathlib import Path
from typing import Any

from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from contracts.events import LeadChange
from contracts.formats import DecoderConfig, Skip, decode_record, load_mapping
from contracts.request import RequestDefaults, build_update_lead_fast
from tests.kafka_helpers import Outgoing, create_topics, produce, service_topics, unique_topic
from tests.service_helpers import running_service, service_settings, wait_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
MIXED = [
    "native/event.json",
    "cloudevents/structured.json",
    "cloudevents/binary.json",
    "cloudevents/structured-base64.json",
    "debezium/create.plain.json",
    "debezium/update.schema.json",
    "debezium/snapshot.plain.json",
    "debezium/delete.schema.json",  # ignored by the default delete policy
    "debezium/tombstone.json",  # skipped: a mapping declares the Debezium input
]


def fixture(name: str) -> Outgoing:
    data = json.loads((FIXTURES / name).read_text())
    value = None if data["value"] is None else json.dumps(data["value"]).encode()
    headers = [(k, v.encode()) for k, v in data["headers"]]
    return Outgoing(key=b"mixed", value=value, headers=headers, partition=0)


async def test_a_mixed_topic_is_applied_correctly_in_auto_mode(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 1))
    records = [fixture(name) for name in MIXED]
    await produce(kafka_broker.bootstrap, topic, records)
    mapping_file = FIXTURES / "debezium" / "mapping.toml"
    decoder = DecoderConfig("auto", frozenset({"lead.changed"}), load_mapping(mapping_file))
    decoded = [decode_record(r.value, r.headers, decoder) for r in records]
    events = [d for d in decoded if isinstance(d, LeadChange)]
    assert len(events) == 7
    assert sum(isinstance(d, Skip) for d in decoded) == 2

    key = secrets.token_hex(8)
    config = SimulatorConfig(api_key=key, threads=8, min_service_ms=1)
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap,
            topic,
            sim.url,
            key,
            input_format="auto",
            mapping_file=str(mapping_file),
            noojee_phone_fields="FirstPhone,SecondPhone",
            noojee_timezone="Australia/Melbourne",
        )
        async with running_service(settings) as pipeline:
            await wait_until(
                lambda: pipeline.counts.finished >= len(records), timeout_s=60, what="all"
            )
        assert pipeline.counts.skipped == 2
        assert sum(pipeline.counts.dead_lettered.values()) == 0
        defaults = RequestDefaults(
            template_id=1,
            campaign_id=2,
            allocation_id=3,
            timezone=settings.timezone,
            phone_fields=settings.noojee_phone_fields,
        )
        expected: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            expected[event.lead_id].append(dict(build_update_lead_fast(event, defaults).body))
        applied = {lead: [dict(u.body) for u in sim.state.applied(lead)] for lead in expected}
    assert applied == expected

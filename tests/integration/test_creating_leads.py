"""Creating leads through the real service: inserts, the fallbacks, and one budget for both.

The service runs in-process (``running_service``) against the test broker and the
simulated PBX; each test names the part of docs/creating-leads.md it checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from consumer.commands import dlq
from consumer.pipeline import Pipeline
from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.server import Simulator
from contracts import deadletter as h
from contracts.deadletter import parse_dead_letter_headers
from contracts.noojee import NO_CHANGE, Endpoint, NoojeeCode
from contracts.reasons import CODES
from tests.integration.conftest import SIM_API_KEY, StartSimulator
from tests.kafka_helpers import (
    Outgoing,
    committed_offsets,
    create_topics,
    event_record,
    produce,
    read_topic,
    service_topics,
    unique_topic,
)
from tests.oracle import applied_histories, verify
from tests.service_helpers import running_service, service_settings, wait_until

INSERT, UPDATE = Endpoint.INSERT.value, Endpoint.UPDATE.value


async def topics(broker: EmbeddedBroker, partitions: int = 4) -> str:
    topic = unique_topic()
    await create_topics(broker.bootstrap, service_topics(topic, partitions))
    return topic


async def settled(pipeline: Pipeline, finished: int, timeout_s: float = 60) -> None:
    await wait_until(lambda: pipeline.counts.finished >= finished, timeout_s=timeout_s, what="all")
    await wait_until(lambda: pipeline.in_flight == 0, timeout_s=10, what="idle")


def endpoints(sim: Simulator, lead: str) -> list[str]:
    return [update.endpoint.value for update in sim.state.applied(lead)]


def calls(sim: Simulator, lead: str) -> list[tuple[str, int | None]]:
    return [(call.endpoint.value, call.code) for call in sim.state.calls(lead)]


def fold(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """A lead's state after ``bodies`` in order ('<No Change>' keeps what was there)."""
    state: dict[str, Any] = {}
    for body in bodies:
        state.update((k, v) for k, v in body.items() if v != NO_CHANGE)
    return state


# --- a mixed stream ----------------------------------------------------------------------


def mixed_stream(
    seed: int = 18,
) -> tuple[list[Outgoing], dict[str, list[dict[str, Any]]], set[str]]:
    """40 new leads (a create, then updates) and 40 the PBX has (half of them also get a
    create first, which the PBX answers 112); five events a lead, leads interleaved."""
    rng = random.Random(seed)
    existing = {f"E-{i:02d}" for i in range(40)}
    leads = sorted(existing) + [f"N-{i:02d}" for i in range(40)]
    by_lead: dict[str, list[dict[str, Any]]] = {}
    for index, lead in enumerate(leads):
        events: list[dict[str, Any]] = []
        for n in range(5):
            values: dict[str, Any] = {
                "fields": {"Seq": str(n), f"F{rng.randrange(3)}": f"{lead}-{n}"},
                "phones": {"FirstPhone": f"04{index:04d}{n:04d}" if n % 2 == 0 else NO_CHANGE},
            }
            if n == 0 and (lead.startswith("N") or index % 2 == 0):
                values["operation"] = "create"
                values["disposition"] = "New"
                values["phones"] = {"FirstPhone": f"04{index:04d}0000"}
            elif rng.random() < 0.3:
                values["disposition"] = rng.choice(["Callback", "Interested"])
            events.append(values)
        by_lead[lead] = events
    order = [(lead, n) for lead in leads for n in range(5)]
    rng.shuffle(order)
    order.sort(key=lambda item: item[1])  # each lead's events in order, leads interleaved
    return [event_record(lead, **by_lead[lead][n]) for lead, n in order], by_lead, existing


def as_body(event: dict[str, Any]) -> dict[str, Any]:
    body = {**event["fields"], **event["phones"]}
    if "disposition" in event:
        body["njDisposition"] = event["disposition"]
    return body


@pytest.mark.timeout(180)
async def test_a_mixed_stream_of_creates_and_updates_ends_in_each_leads_last_state(
    kafka_broker: EmbeddedBroker, simulator: StartSimulator
) -> None:
    """'Inserts and updates share the PBX's concurrency': MAX_CONCURRENCY=3 below the PBX's
    capacity of 8, and the PBX never saw more than 3 calls at once, of either endpoint;
    every lead's events applied once each, in order, ending in its last event's state."""
    topic = await topics(kafka_broker)
    records, by_lead, existing = mixed_stream()
    produced = await produce(kafka_broker.bootstrap, topic, records)
    sim = await simulator(
        threads=16, min_service_ms=3, max_service_ms=12, known_leads=frozenset(existing), seed=5
    )
    settings = service_settings(
        kafka_broker.bootstrap,
        topic,
        sim.url,
        SIM_API_KEY,
        max_concurrency=3,
        rate_limit=10_000,
        adaptive_concurrency=False,
    )
    async with running_service(settings) as pipeline:
        await settled(pipeline, len(records), timeout_s=120)
    assert sum(pipeline.counts.dead_lettered.values()) == 0
    committed = await committed_offsets(kafka_broker.bootstrap, settings.group_id, topic, range(4))
    verify(
        [r.value for r in records],
        applied_histories(sim.state, by_lead),
        [],
        overlaps=sim.state.overlaps(),
        committed=committed,
        log_end=produced.log_end,
    ).assert_ok()
    stats = sim.state.stats_json()
    assert stats["max_concurrency"] <= 3
    assert "109" not in stats["codes"]
    both = [c for lead in by_lead for c in sim.state.calls(lead)]
    assert {c.endpoint for c in both} == set(Endpoint)
    for lead, events in by_lead.items():
        applied = [dict(update.body) for update in sim.state.applied(lead)]
        want = fold([as_body(e) for e in events])
        assert {k: fold(applied).get(k) for k in want} == want, lead
        if lead.startswith("N"):
            assert endpoints(sim, lead) == [INSERT] + [UPDATE] * 4, lead
        elif "operation" in events[0]:  # a create for a lead the PBX has: 112, then update
            assert calls(sim, lead)[:2] == [(INSERT, 112), (UPDATE, 0)], lead
            assert endpoints(sim, lead) == [UPDATE] * 5, lead
        else:
            assert endpoints(sim, lead) == [UPDATE] * 5, lead


# --- each outcome ------------------------------------------------------------------------

PHONE = {"FirstPhone": "0383218199"}


async def metrics_text(pipeline: Pipeline) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{pipeline.health_port}/metrics") as response,
    ):
        return await response.text()


@pytest.mark.timeout(120)
async def test_each_outcome_with_creating_leads_turned_on(
    kafka_broker: EmbeddedBroker, simulator: StartSimulator
) -> None:
    """112 on an insert → the update; 108 → a dead letter naming the '<No Change>' field;
    101 with LEADSYNC_CREATE_MISSING → an insert (or a 101 dead letter saying why not);
    107 with LEADSYNC_NOOJEE_UNDIALLED_DISPOSITION → one resend with that disposition."""
    topic = await topics(kafka_broker, partitions=2)
    records = [
        event_record("X-112", operation="create", phones=PHONE, fields={"City": "Richmond"}),
        event_record("X-108", operation="create", phones=PHONE, fields={"City": NO_CHANGE}),
        event_record("X-101", phones={"FirstPhone": "0400000101"}, fields={"City": "Kew"}),
        event_record("X-101-partial", phones={"FirstPhone": NO_CHANGE}, fields={"City": "Kew"}),
        event_record("X-107", phones=PHONE, fields={"City": "Carlton"}),
    ]
    await produce(kafka_broker.bootstrap, topic, records)
    sim = await simulator(
        threads=8,
        min_service_ms=1,
        known_leads=frozenset({"X-112", "X-107"}),
        never_dialled=frozenset({"X-107"}),
    )
    settings = service_settings(
        kafka_broker.bootstrap,
        topic,
        sim.url,
        SIM_API_KEY,
        create_missing=True,
        noojee_undialled_disposition="Fresh",
    )
    async with running_service(settings) as pipeline:
        await settled(pipeline, len(records))
        shown = await metrics_text(pipeline)
    assert pipeline.counts.applied == 3
    assert calls(sim, "X-112") == [(INSERT, 112), (UPDATE, 0)]
    assert sim.state.applied("X-112")[0].body["City"] == "Richmond"
    assert calls(sim, "X-101") == [(UPDATE, 101), (INSERT, 0)]
    assert dict(sim.state.applied("X-101")[0].body) == {
        "njExternalLeadId": "X-101",
        "FirstPhone": "0400000101",
        "City": "Kew",
    }
    assert calls(sim, "X-107") == [(UPDATE, 107), (UPDATE, 0)]
    assert sim.state.applied("X-107")[0].body["njDisposition"] == "Fresh"
    assert calls(sim, "X-101-partial") == [(UPDATE, 101)]
    assert 'leadsync_fallbacks_total{fallback="undialled_resend"} 1.0' in shown
    assert 'leadsync_fallbacks_total{fallback="update_existing"} 1.0' in shown
    assert 'leadsync_fallbacks_total{fallback="create_missing"} 1.0' in shown

    dead = {
        json.loads(r.value)["lead_id"]: parse_dead_letter_headers(r.headers)
        for r in await read_topic(kafka_broker.bootstrap, f"{topic}.dlq", expect=2)
    }
    assert set(dead) == {"X-108", "X-101-partial"}
    assert dead["X-108"][h.REASON] == "IMPORT_BUT_NOCHANGE_SPECIFIED"
    assert dead["X-108"][h.ENDPOINT] == INSERT
    assert "'<No Change>' for City" in dead["X-108"][h.MESSAGE]
    assert dead["X-101-partial"][h.REASON] == "COULDNT_FIND_THE_LEAD"
    assert dead["X-101-partial"][h.ENDPOINT] == UPDATE
    assert "LEADSYNC_CREATE_MISSING could not create it" in dead["X-101-partial"][h.MESSAGE]
    assert "'<No Change>' for FirstPhone" in dead["X-101-partial"][h.MESSAGE]


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="leadsync")
    dlq.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dlq", *argv])
    code: int = args.handler(args)
    return code


@pytest.mark.timeout(150)
async def test_without_the_settings_107_and_101_are_dead_letters_and_a_101_replays_as_an_insert(
    kafka_broker: EmbeddedBroker, simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """107 without LEADSYNC_NOOJEE_UNDIALLED_DISPOSITION: a dead letter as before; a 101
    dead letter replayed once LEADSYNC_CREATE_MISSING is on is applied (as an insert)."""
    topic = await topics(kafka_broker, partitions=1)
    records = [
        event_record("Y-107", phones=PHONE),
        event_record("Y-101", phones={"FirstPhone": "0400000102"}, disposition="New"),
    ]
    await produce(kafka_broker.bootstrap, topic, records)
    sim = await simulator(
        threads=8,
        min_service_ms=1,
        known_leads=frozenset({"Y-107"}),
        never_dialled=frozenset({"Y-107"}),
    )
    settings = service_settings(kafka_broker.bootstrap, topic, sim.url, SIM_API_KEY)
    async with running_service(settings) as pipeline:
        await settled(pipeline, len(records))
    dead = {
        json.loads(r.value)["lead_id"]: parse_dead_letter_headers(r.headers)
        for r in await read_topic(kafka_broker.bootstrap, f"{topic}.dlq", expect=2)
    }
    code_107 = CODES[NoojeeCode.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED]
    assert dead["Y-107"][h.REASON] == code_107.name
    assert dead["Y-107"][h.MESSAGE] == code_107.message
    assert dead["Y-107"][h.ATTEMPTS] == "1"
    assert dead["Y-101"][h.REASON] == "COULDNT_FIND_THE_LEAD"
    assert calls(sim, "Y-107") == [(UPDATE, 107)]
    assert calls(sim, "Y-101") == [(UPDATE, 101)]

    monkeypatch.setenv("LEADSYNC_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE", "false")  # Tansu
    monkeypatch.setenv("LEADSYNC_SOURCE_TOPIC", settings.source_topic)
    monkeypatch.setenv("LEADSYNC_GROUP_ID", settings.group_id)
    creating = settings.model_copy(update={"create_missing": True})
    async with running_service(creating) as pipeline:
        code = await asyncio.to_thread(run_cli, ["replay", "--reason", "COULDNT_FIND_THE_LEAD"])
        assert code == 0
        await settled(pipeline, 1)
    assert calls(sim, "Y-101") == [(UPDATE, 101), (UPDATE, 101), (INSERT, 0)]
    assert sim.state.applied("Y-101")[0].body["njDisposition"] == "New"


# --- a Debezium snapshot of new leads, then their updates --------------------------------

MAPPING = """
table = "public.leads"
[columns]
lead_id = "crm_id"
disposition = "status"
[phones]
mobile = "FirstPhone"
home_phone = "SecondPhone"
[fields]
city = "City"
[events]
snapshot = "create"
"""


def debezium(op: str, n: int, city: str, lsn: int) -> Outgoing:
    row = {"id": n, "crm_id": f"S-{n:04d}", "status": "New", "city": city,
           "mobile": f"04{n:08d}", "home_phone": None}  # fmt: skip
    before = None if op == "r" else {**row, "city": "Snapshot"}
    source = {"connector": "postgresql", "name": "crm", "db": "crmdb", "schema": "public",
              "table": "leads", "ts_ms": 1795688100000 + lsn, "lsn": lsn}  # fmt: skip
    value = {"before": before, "after": row, "source": source, "op": op}
    return Outgoing(key=f"S-{n:04d}".encode(), value=json.dumps(value).encode())


@pytest.mark.timeout(180)
async def test_a_debezium_snapshot_of_new_leads_is_inserted_then_updated(
    kafka_broker: EmbeddedBroker, simulator: StartSimulator, tmp_path: Path
) -> None:
    """A snapshot (op r, events.snapshot = "create") of 1,000 leads the PBX lacks, then an
    update of each: every lead inserted once, then updated once, nothing dead-lettered."""
    leads = 1000
    topic = await topics(kafka_broker)
    records = [debezium("r", n, "Snapshot", 1000) for n in range(leads)]
    records += [debezium("u", n, "Richmond", 2000 + n) for n in range(leads)]
    await produce(kafka_broker.bootstrap, topic, records)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)
    sim = await simulator(threads=16, min_service_ms=1, known_leads=frozenset())
    settings = service_settings(
        kafka_broker.bootstrap,
        topic,
        sim.url,
        SIM_API_KEY,
        input_format="debezium",
        mapping_file=str(mapping),
        noojee_phone_fields="FirstPhone,SecondPhone",
        max_concurrency=8,
        rate_limit=100_000,
        max_in_flight=2 * leads,
    )
    async with running_service(settings) as pipeline:
        await settled(pipeline, len(records), timeout_s=150)
    assert pipeline.counts.applied == 2 * leads
    assert sum(pipeline.counts.dead_lettered.values()) == 0
    stats = sim.state.stats_json()
    assert stats["endpoints"][INSERT] == {"requests": leads, "applied": leads}
    assert stats["endpoints"][UPDATE] == {"requests": leads, "applied": leads}
    for n in range(leads):
        lead = f"S-{n:04d}"
        inserted, updated = sim.state.applied(lead)
        assert (inserted.endpoint, updated.endpoint) == (Endpoint.INSERT, Endpoint.UPDATE)
        assert dict(inserted.body) == {
            "njExternalLeadId": lead,
            "njDisposition": "New",
            "FirstPhone": f"04{n:08d}",
            "City": "Snapshot",
        }
        assert dict(updated.body) == {
            "njExternalLeadId": lead,
            "njDisposition": NO_CHANGE,
            "FirstPhone": NO_CHANGE,
            "SecondPhone": NO_CHANGE,
            "City": "Richmond",
        }

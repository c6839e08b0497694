"""Coalescing a backlog: fewer calls, the same final state, every disposition in order."""

from __future__ import annotations

import random
import secrets
from typing import Any

import pytest

from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from contracts.noojee import NO_CHANGE
from tests.kafka_helpers import (
    Outgoing,
    create_topics,
    event_record,
    produce,
    service_topics,
    unique_topic,
)
from tests.service_helpers import running_service, service_settings, wait_until

LEADS = 500
PER_LEAD = 20
DISPOSITIONS = ("Callback", "Interested", "Sale")


def backlog(seed: int = 9) -> tuple[list[Outgoing], dict[str, list[dict[str, Any]]]]:
    """20 events per lead, interleaved; about one in six sets a disposition."""
    rng = random.Random(seed)
    by_lead: dict[str, list[dict[str, Any]]] = {f"C{i:04d}": [] for i in range(LEADS)}
    for lead, events in by_lead.items():
        for n in range(PER_LEAD):
            values: dict[str, Any] = {
                "fields": {"Seq": str(n), f"F{rng.randrange(4)}": f"{lead}-{n}"},
                "phones": {"FirstPhone": rng.choice([NO_CHANGE, f"03{rng.randrange(10**8):08d}"])},
            }
            # The first event sets a disposition: a call sent alone before the backlog
            # formed then still counts as one of the disposition changes.
            if n == 0 or rng.random() < 1 / 6:
                values["disposition"] = rng.choice(DISPOSITIONS)
            events.append(values)
    order = [(lead, n) for lead in by_lead for n in range(PER_LEAD)]
    rng.shuffle(order)
    order.sort(key=lambda item: item[1])  # per lead in order, leads interleaved
    records = [event_record(lead, **by_lead[lead][n]) for lead, n in order]
    return records, by_lead


def fold(updates: list[dict[str, Any]]) -> dict[str, Any]:
    """A lead's state after applying ``updates`` (what "<No Change>" keeps, stays)."""
    state: dict[str, Any] = {}
    for update in updates:
        state.update((k, v) for k, v in update.items() if v != NO_CHANGE)
    return state


def as_body(event: dict[str, Any]) -> dict[str, Any]:
    body = {**event.get("fields", {}), **event.get("phones", {})}
    if "disposition" in event:
        body["njDisposition"] = event["disposition"]
    return body


def changes(dispositions: list[str]) -> list[str]:
    return [d for i, d in enumerate(dispositions) if i == 0 or dispositions[i - 1] != d]


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_paused_pbx_backlog_is_coalesced_without_losing_a_disposition(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 4))
    records, by_lead = backlog()
    await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    # "Paused": one call at a time, each held for seconds, until the backlog is in.
    config = SimulatorConfig(api_key=key, threads=2, min_service_ms=3000)
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap,
            topic,
            sim.url,
            key,
            coalesce=True,
            max_in_flight=LEADS * PER_LEAD,
            max_concurrency=1,
            rate_limit=10_000,
        )
        async with running_service(settings) as pipeline:
            await wait_until(
                lambda: pipeline.counts.taken == len(records), timeout_s=60, what="backlog in"
            )
            sim.state.update_config({"min_service_ms": 2})  # resumed
            await wait_until(
                lambda: pipeline.counts.finished == len(records), timeout_s=150, what="all"
            )
        calls = sim.state.stats_json()["requests"]
        histories = {lead: [dict(u.body) for u in sim.state.applied(lead)] for lead in by_lead}
    over_budget = []
    for lead, events in by_lead.items():
        applied = histories[lead]
        expected_changes = changes([e["disposition"] for e in events if "disposition" in e])
        sent = [b["njDisposition"] for b in applied if b["njDisposition"] != NO_CHANGE]
        assert changes(sent) == expected_changes, lead
        if len(applied) > len(expected_changes) + 1:
            over_budget.append((lead, len(applied), len(expected_changes)))
        final = fold(applied)
        want = fold([as_body(e) for e in events])
        assert {k: final.get(k) for k in want} == want, lead
    assert over_budget == []
    assert pipeline.counts.applied == len(records)
    assert pipeline.counts.coalesced == len(records) - calls
    print(f"coalescing: {len(records)} events in {calls} calls ({len(records) - calls} saved)")

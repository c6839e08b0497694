"""The service's freshness metrics and maintenance windows, end to end: real broker, real
simulator, `/metrics` and `/readyz` as Prometheus and Kubernetes read them."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from consumer.ownership.handover import HANDOVER_S
from consumer.pipeline import Pipeline
from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from tests.kafka_helpers import (
    committed_offsets,
    create_topics,
    event_record,
    produce,
    service_topics,
    unique_topic,
)
from tests.service_helpers import running_service, service_settings, wait_until

KEY = "freshness-key-3c9d"
EVENTS = 40


async def scrape(pipeline: Pipeline) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{pipeline.health_port}/metrics") as answer,
    ):
        text = await answer.text()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


async def ready(pipeline: Pipeline) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{pipeline.health_port}/readyz") as answer,
    ):
        return answer.status


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    ((_, found),) = samples[name]
    return found


async def test_applied_events_show_their_freshness_and_the_commits_their_time(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 2))
    happened = datetime.now(UTC) - timedelta(minutes=3)
    records = [
        event_record(f"L{n}", occurred_at=happened.isoformat(), phones={"FirstPhone": "0399"})
        for n in range(EVENTS)
    ]
    started = time.time()
    async with run_simulator(SimulatorConfig(api_key=KEY, min_service_ms=1)) as sim:
        settings = service_settings(kafka_broker.bootstrap, topic, sim.url, KEY)
        await produce(kafka_broker.bootstrap, topic, records)
        async with running_service(settings) as pipeline:
            await wait_until(
                lambda: pipeline.counts.applied == EVENTS, timeout_s=60, what="all applied"
            )
            await wait_until(
                lambda: pipeline._committer.last_commit_at > started,
                timeout_s=30,
                what="a commit",
            )
            samples = await scrape(pipeline)
    assert value(samples, "leadsync_event_freshness_seconds_count") == EVENTS
    # Three minutes old when sent: every one in the (120, 300] bucket.
    buckets = {
        labels["le"]: count for labels, count in samples["leadsync_event_freshness_seconds_bucket"]
    }
    assert buckets["120.0"] == 0
    assert buckets["300.0"] == EVENTS
    assert value(samples, "leadsync_last_commit_timestamp_seconds") > started
    ages = {
        labels["partition"]: age
        for labels, age in samples["leadsync_oldest_unfinished_age_seconds"]
    }
    assert ages == {"0": 0.0, "1": 0.0}  # all finished
    assert value(samples, "leadsync_maintenance_paused") == 0


async def test_in_a_window_nothing_is_taken_and_the_pod_stays_ready(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 2))
    records = [event_record(f"L{n}", phones={"FirstPhone": "0399"}) for n in range(EVENTS)]
    produced = await produce(kafka_broker.bootstrap, topic, records)
    async with run_simulator(SimulatorConfig(api_key=KEY, min_service_ms=1)) as sim:
        windowed = service_settings(
            kafka_broker.bootstrap, topic, sim.url, KEY, pause_windows="Daily 00:00-24:00 UTC"
        )
        async with running_service(windowed) as pipeline:
            await wait_until(
                lambda: pipeline.assigned != frozenset(), timeout_s=30, what="assigned"
            )
            # Past the handover wait an owner would be sending by now; in the window nothing.
            await asyncio.sleep(HANDOVER_S + 2)
            assert await ready(pipeline) == 200
            samples = await scrape(pipeline)
            assert value(samples, "leadsync_maintenance_paused") == 1
            assert pipeline.counts.taken == 0
            assert sim.state.stats.requests == 0
        assert await committed_offsets(
            kafka_broker.bootstrap, windowed.group_id, topic, range(2)
        ) == {0: None, 1: None}

        # Outside any window the same group takes it all up from there.
        open_again = service_settings(kafka_broker.bootstrap, topic, sim.url, KEY)
        async with running_service(open_again) as pipeline:
            await wait_until(
                lambda: pipeline.counts.applied == EVENTS, timeout_s=60, what="all applied"
            )
        assert sim.state.stats.applied == EVENTS
    assert (
        await committed_offsets(kafka_broker.bootstrap, open_again.group_id, topic, range(2))
        == produced.log_end
    )

"""Telemetry end to end: real broker, real simulator, spans and metrics read from memory."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter

import aiohttp
import pytest
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from consumer.observability import tracing
from consumer.observability.logs import JsonFormatter
from consumer.pipeline import Pipeline
from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from consumer.service import run_service
from contracts.deadletter import parse_dead_letter_headers
from tests.kafka_helpers import (
    Outgoing,
    create_topics,
    event_record,
    produce,
    read_topic,
    service_topics,
    unique_topic,
)
from tests.service_helpers import service_settings, wait_until
from tests.telemetry_helpers import recorded, strings_in

KEY = "Distinctive-Api-Key-6f1e9c"
PHONE = {"FirstPhone": "0383218199"}


def traceparent(n: int) -> str:
    return f"00-{n:032x}-{n:016x}-01"


class Lines(logging.Handler):
    """Every log line the service writes, formatted as in production."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.mark.timeout(120)
async def test_spans_metrics_and_dead_letters_tell_the_same_story_without_the_key(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 2))
    records = []
    for n in range(1, 41):
        lead = "P-101" if n == 40 else f"L-{n}"
        r = event_record(lead, phones=PHONE, disposition="Sale", fields={"Seq": str(n)})
        records.append(Outgoing(r.key, r.value, headers=[("traceparent", traceparent(n).encode())]))
    records.append(
        Outgoing(b"I-1", b"not json", headers=[("traceparent", traceparent(99).encode())])
    )
    config = SimulatorConfig(
        api_key=KEY, threads=8, min_service_ms=1, error_ratio=0.3, seed=11,
        unknown_leads=frozenset({"P-101"}),
    )  # fmt: skip
    telemetry = recorded(secret=KEY)
    logs = Lines()
    logging.getLogger().addHandler(logs)
    previous_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        async with run_simulator(config) as sim:
            settings = service_settings(kafka_broker.bootstrap, topic, sim.url, KEY)
            ready: asyncio.Future[Pipeline] = asyncio.get_running_loop().create_future()
            service = run_service(
                settings,
                handle_signals=False,
                on_ready=ready.set_result,
                telemetry=telemetry.telemetry,
            )
            task = asyncio.create_task(service)
            pipeline = await asyncio.wait_for(ready, 30)
            health = f"http://127.0.0.1:{pipeline.health_port}"
            async with aiohttp.ClientSession() as http:
                await produce(kafka_broker.bootstrap, topic, records)
                await wait_until(
                    lambda: pipeline.counts.finished >= len(records), timeout_s=60, what="all"
                )
                async with http.get(f"{health}/metrics") as response:
                    assert response.status == 200
                    metrics_text = await response.text()
            pipeline.request_stop()
            assert await task == 0
            stats = sim.state.stats_json()
    finally:
        logging.getLogger().removeHandler(logs)
        logging.getLogger().setLevel(previous_level)
    dead = await read_topic(kafka_broker.bootstrap, f"{topic}.dlq", expect=2)
    spans = telemetry.finished()

    # One CONSUMER span per record, parented on the producer's span, same trace.
    consumer_spans = [s for s in spans if s.kind is SpanKind.CONSUMER]
    assert len(consumer_spans) == len(records)
    by_offset = {}
    for span in consumer_spans:
        assert span.name == f"process {topic}"
        assert span.parent is not None
        assert span.context.trace_id == span.parent.span_id  # traceparent(n): same n
        by_offset[span.context.span_id] = span
    # One CLIENT span per HTTP call, each a child of an event's span.
    client_spans = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(client_spans) == stats["requests"]
    assert all(s.parent is not None and s.parent.span_id in by_offset for s in client_spans)
    # Retries (the injected 103s) are span events on the event spans.
    retry_events = sum(1 for s in consumer_spans for e in s.events if e.name == tracing.RETRY_EVENT)
    assert retry_events == stats["codes"].get("103", 0) > 0
    # Each dead letter carries the trace context of its own processing.
    assert len(dead) == 2
    for record in dead:
        headers = parse_dead_letter_headers(record.headers)
        _, trace_id, span_id, _ = headers["traceparent"].split("-")
        span = by_offset[int(span_id, 16)]
        assert f"{span.context.trace_id:032x}" == trace_id
    # Metrics match the simulator's own counts exactly.
    families = {f.name: f for f in text_string_to_metric_families(metrics_text)}
    calls = Counter(
        {s.labels["code"]: int(s.value) for s in families["leadsync_noojee_calls"].samples}
    )
    assert calls == Counter(stats["codes"])
    applied = [
        s.value
        for s in families["leadsync_events"].samples
        if s.labels.get("outcome") == "applied" and s.name.endswith("_total")
    ]
    assert sum(applied) == stats["applied"] == 39
    # The API key appears nowhere: logs, spans, metrics, dead-letter headers.
    dead_headers = [json.dumps(parse_dead_letter_headers(r.headers)) for r in dead]
    haystack = [*logs.lines, *strings_in(spans), metrics_text, *dead_headers]
    assert len(logs.lines) > 0
    assert [text for text in haystack if KEY in text] == []

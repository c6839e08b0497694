"""The events a benchmark produces, and the same updates as ready-made PBX payloads.

Every event has a lead of its own, so no two events wait on each other's lane
and none can be merged with another: each event is exactly one PBX call. Each
carries its produce time in ``fields.SentAt``, which the PBX keeps in the applied
body, so end-to-end latency is read from the PBX alone.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.events import parse_lead_change
from contracts.request import RequestDefaults, build_update_lead_fast

CAMPAIGN = {"template_id": 1, "campaign_id": 2, "allocation_id": 3}
DEFAULTS = RequestDefaults(
    template_id=1,
    campaign_id=2,
    allocation_id=3,
    timezone=ZoneInfo("UTC"),
    phone_fields=("FirstPhone",),
)
BULK_LINGER_MS = 20
BULK_BATCH_BYTES = 1 << 20


def lead_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:07d}"


def event_value(prefix: str, n: int, sent_at: float) -> bytes:
    """One lead-change/v1 event: the shape of a typical CRM update (disposition, phone, fields)."""
    return json.dumps(
        {
            "event_id": uuid.uuid4().hex,
            "lead_id": lead_id(prefix, n),
            "occurred_at": "2026-11-26T10:15:00Z",
            "disposition": "Callback",
            "callback_at": "2026-11-27T09:30:00+11:00",
            "priority": 5,
            "phones": {"FirstPhone": f"03{n:08d}"},
            "fields": {"Name": "Jane Smith", "City": "Abbotsford", "SentAt": f"{sent_at:.6f}"},
        },
        separators=(",", ":"),
    ).encode()


async def create_topic(bootstrap: str, partitions: int) -> str:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [NewTopic(name, partitions, 1), NewTopic(f"{name}.dlq", 1, 1)]
        await admin.create_topics([*topics, NewTopic(f"{name}.progress", partitions, 1)])
    finally:
        await admin.close()
    return name


async def produce(
    bootstrap: str,
    topic: str,
    prefix: str,
    numbers: Iterable[int],
    rate: float | None = None,
    *,
    spread_over: int | None = None,
) -> None:
    """Events ``numbers`` of ``prefix``, all at once or ``rate`` per second (then unbatched).

    Keyed by lead id, so the partitioner hashes each lead to its partition;
    ``spread_over`` (the topic's partition count) deals them out in turn
    instead, so every partition holds as many (one event per lead keeps order).
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,  # the test broker has no InitProducerId
        linger_ms=0 if rate else BULK_LINGER_MS,
        max_batch_size=BULK_BATCH_BYTES,
    )
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        begun = loop.time()
        pending: list[asyncio.Future[object]] = []
        for index, n in enumerate(numbers):
            if rate:
                delay = begun + index / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            value = event_value(prefix, n, time.time())
            key = lead_id(prefix, n).encode()
            partition = None if spread_over is None else index % spread_over
            pending.append(await producer.send(topic, value, key=key, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def write_payloads(path: Path, prefix: str, count: int) -> None:
    """The calls the service would make for events ``0 … count-1``: one JSON line each."""
    with path.open("w") as out:
        for n in range(count):
            request = build_update_lead_fast(
                parse_lead_change(event_value(prefix, n, time.time())), DEFAULTS
            )
            out.write(json.dumps({"query": dict(request.query), "body": dict(request.body)}) + "\n")

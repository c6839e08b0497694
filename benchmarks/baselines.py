"""What leadsync is measured against, run as subprocesses so their CPU and memory are their own.

``python -m benchmarks.baselines naive …``: the consumer everyone writes first,
an aiokafka loop that awaits each call before it reads the next record (a
failed call is tried again a second later, so nothing is lost).

``python -m benchmarks.baselines bare …``: no Kafka at all, only the HTTP part:
one ``aiohttp.ClientSession`` posting the service's own payloads from a file
with N workers, optionally behind ``aiolimiter.AsyncLimiter(rate, 1)`` (how a
rate limit is usually written). Its CPU per call is the floor for any
aiohttp-based client.

``python -m benchmarks.baselines consume …``: no HTTP at all, only Kafka intake:
an aiokafka consumer reading ``--count`` records of a topic and nothing more (no
decoding, no commits). It prints its CPU time per record, from its first batch
to its last, and exits: the floor for any aiokafka-based consumer.

The API key comes from ``LEADSYNC_NOOJEE_API_KEY``, never the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence

import aiohttp
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiolimiter import AsyncLimiter
from yarl import URL

from benchmarks.load import DEFAULTS
from contracts.events import parse_lead_change
from contracts.noojee import UPDATE_LEAD_FAST_PATH
from contracts.request import build_update_lead_fast

KEY_ENV = "LEADSYNC_NOOJEE_API_KEY"
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
Payload = tuple[dict[str, str], dict[str, object]]


def endpoint(base: str, query: dict[str, str], key: str) -> URL:
    return URL(base.rstrip("/") + UPDATE_LEAD_FAST_PATH).with_query({**query, "apiKey": key})


def dumps(body: dict[str, object]) -> bytes:
    """The body exactly as the service serialises it."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class Announce(ConsumerRebalanceListener):  # type: ignore[misc]
    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        names = ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
        print(f"partitions assigned: {names or 'none'}", flush=True)


async def naive(bootstrap: str, topic: str, group: str, url: str, key: str, retry_s: float) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest"
    )
    consumer.subscribe([topic], listener=Announce())
    await consumer.start()
    try:
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            async for record in consumer:
                request = build_update_lead_fast(parse_lead_change(record.value), DEFAULTS)
                target = endpoint(url, dict(request.query), key)
                payload = dumps(dict(request.body))
                while True:
                    if await post(session, target, payload):
                        break
                    await asyncio.sleep(retry_s)
    finally:
        await consumer.stop()


async def post(session: aiohttp.ClientSession, target: URL, payload: bytes) -> bool:
    try:
        async with session.post(target, data=payload) as response:
            await response.read()
            return response.status == 200
    except (aiohttp.ClientError, OSError):
        return False


def read_payloads(path: str) -> list[Payload]:
    with open(path) as lines:
        return [(doc["query"], doc["body"]) for doc in map(json.loads, lines)]


async def bare(
    payloads: Sequence[Payload], url: str, key: str, concurrency: int, rate: float | None
) -> int:
    """Posts every payload once with ``concurrency`` workers; how many the PBX applied."""
    limiter = AsyncLimiter(rate, 1) if rate else None
    targets: dict[tuple[tuple[str, str], ...], URL] = {}
    work: Iterator[Payload] = iter(payloads)
    applied = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:

        async def worker() -> None:
            nonlocal applied
            for query, body in work:
                items = tuple(query.items())
                target = targets.get(items) or targets.setdefault(items, endpoint(url, query, key))
                if limiter is not None:
                    await limiter.acquire()
                ok = await post(session, target, dumps(body))
                applied += ok  # after the await: ``applied += await …`` would lose counts

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return applied


CONSUMED = "cpu per record:"
"""How ``consume`` reports: ``cpu per record: 12.3 us``."""


async def consume(bootstrap: str, topic: str, group: str, count: int) -> float:
    """Reads ``count`` records; CPU µs per record after the first batch (start-up excluded)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    consumer.subscribe([topic])
    await consumer.start()
    try:
        seen, first, began = 0, 0, 0.0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500)
            got = sum(len(records) for records in batch.values())
            if got and not first:
                first, began = got, time.process_time()
            seen += got
        spent = time.process_time() - began
    finally:
        await consumer.stop()
    return spent / max(1, seen - first) * 1e6


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baselines")
    kinds = parser.add_subparsers(dest="kind", required=True)
    first = kinds.add_parser("naive", help="aiokafka loop, one call at a time")
    first.add_argument("--bootstrap", required=True)
    first.add_argument("--topic", required=True)
    first.add_argument("--group", required=True)
    first.add_argument("--retry-s", type=float, default=1.0)
    floor = kinds.add_parser("bare", help="aiohttp POST loop over a payload file")
    floor.add_argument("--payloads", required=True)
    floor.add_argument("--concurrency", type=int, required=True)
    floor.add_argument("--rate", type=float, default=None)
    for kind in (first, floor):
        kind.add_argument("--url", required=True)
    intake = kinds.add_parser("consume", help="aiokafka reading records, nothing else")
    intake.add_argument("--bootstrap", required=True)
    intake.add_argument("--topic", required=True)
    intake.add_argument("--group", required=True)
    intake.add_argument("--count", type=int, required=True)
    return parser


async def _main(args: argparse.Namespace, key: str) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        if args.kind == "naive":
            await naive(args.bootstrap, args.topic, args.group, args.url, key, args.retry_s)
        else:
            payloads = read_payloads(args.payloads)
            applied = await bare(payloads, args.url, key, args.concurrency, args.rate)
            print(f"applied {applied} of {len(payloads)}", flush=True)
            # Stay until stopped, as the service does: the harness reads our CPU time
            # after the last call, which it cannot once we have exited.
            await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.kind == "consume":
        cpu_us = asyncio.run(consume(args.bootstrap, args.topic, args.group, args.count))
        print(f"{CONSUMED} {cpu_us:.2f} us", flush=True)
        return 0
    key = os.environ.get(KEY_ENV, "")
    if not key:
        print(f"{KEY_ENV} is not set", file=sys.stderr)
        return 2
    asyncio.run(_main(args, key))
    return 0


if __name__ == "__main__":
    sys.exit(main())

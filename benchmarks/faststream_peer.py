"""``python -m benchmarks.faststream_peer …``: the peer a team would write with FastStream.

A FastStream Kafka subscriber with ``max_workers`` handlers at once (its
concurrent subscriber: records are acknowledged as they are taken, handled by a
pool of workers), each event turned into the same ``updateLeadFast`` call the
service makes and POSTed with one ``aiohttp.ClientSession``. Nothing more: no
per-lead order, no retries, no dead letters; a failed call is only counted.
FastStream runs with its defaults (its log line per message included), as a
team starting from its documentation would run it.

It logs ``partitions assigned: …`` as the other processes do, so the harness
knows when it owns its partitions. The API key comes from
``LEADSYNC_NOOJEE_API_KEY``, never the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

import aiohttp
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from benchmarks.baselines import HEADERS, KEY_ENV, Announce, dumps, endpoint, post
from benchmarks.load import DEFAULTS
from contracts.events import parse_lead_change
from contracts.request import build_update_lead_fast


async def serve(bootstrap: str, topic: str, group: str, url: str, key: str, workers: int) -> None:
    """Handle ``topic``'s events until cancelled (SIGTERM)."""
    broker = KafkaBroker(bootstrap)
    async with aiohttp.ClientSession(headers=HEADERS) as session:

        @broker.subscriber(
            topic,
            group_id=group,
            auto_offset_reset="earliest",
            max_workers=workers,
            listener=Announce(),
        )
        async def handle(message: KafkaMessage) -> None:
            request = build_update_lead_fast(parse_lead_change(message.body), DEFAULTS)
            await post(session, endpoint(url, dict(request.query), key), dumps(dict(request.body)))

        await broker.start()
        try:
            await asyncio.Event().wait()
        finally:
            await broker.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faststream_peer")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--workers", type=int, required=True, help="max_workers: the capacity")
    return parser


async def _main(args: argparse.Namespace, key: str) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await serve(args.bootstrap, args.topic, args.group, args.url, key, args.workers)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    key = os.environ.get(KEY_ENV, "")
    if not key:
        print(f"{KEY_ENV} is not set", file=sys.stderr)
        return 2
    asyncio.run(_main(args, key))
    return 0


if __name__ == "__main__":
    sys.exit(main())

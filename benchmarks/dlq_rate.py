"""How fast ``leadsync dlq list`` and ``replay`` go on a large dead-letter topic.

    .venv/bin/python -m benchmarks.dlq_rate               # 100,000 dead letters
    .venv/bin/python -m benchmarks.dlq_rate --dead 20000  # a quicker look

Starts an embedded broker, writes a source topic (``--live`` applied events,
then ``--dead`` events that failed) and a DLQ holding one dead letter per
failed event, with the headers the service writes. Each command then runs as
its own process, exactly as an operator runs it (its progress goes to this
terminal's stderr, its stdout to /dev/null), so wall time and peak memory are
its own. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from consumer.sandbox.broker import embedded_broker
from contracts.deadletter import DeadLetterReport, Failure, dead_letter_headers
from tests.kafka_helpers import create_topics

REASONS = (
    ("COULDNT_FIND_THE_LEAD", 101),
    ("INVALID_DISPOSTION", 106),
    ("INVALID_TIMEZONE_SPECIFIED", 111),
    ("RETRIES_EXHAUSTED", None),
)
CHUNK = 20_000


@dataclass(frozen=True)
class Measured:
    command: str
    records: int
    seconds: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def event(lead: str, n: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"ev-{n}",
            "lead_id": lead,
            "occurred_at": "2026-11-26T10:15:00Z",
            "disposition": "Callback",
            "callback_at": "2026-11-27T09:30:00+11:00",
            "phones": {"FirstPhone": "0383218199"},
            "fields": {"Name": "Jane Smith", "City": "Abbotsford"},
        }
    ).encode()


def letter_headers(topic: str, partition: int, offset: int, n: int) -> list[tuple[str, bytes]]:
    reason, code = REASONS[n % len(REASONS)]
    now = datetime.now(UTC)
    return dead_letter_headers(
        [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
        DeadLetterReport(
            failure=Failure(
                reason=reason,
                message=f"{reason}: what failed and what to do, one sentence of about this length.",
                code=code,
                http_status=400 if code else None,
                response=json.dumps({"code": code, "message": reason}) if code else "",
                attempts=1,
                first_failed_at=now,
                failed_at=now,
            ),
            reported_at=now,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            source_timestamp_ms=int(now.timestamp() * 1000),
            consumer_group="leadsync",
            version="0.1.0",
            traceparent=None,
        ),
    )


async def fill(bootstrap: str, topic: str, partitions: int, live: int, dead: int) -> None:
    dlq = f"{topic}.dlq"
    await create_topics(bootstrap, {topic: partitions, dlq: 2})
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    try:
        sends = [(f"L-{n % 20_000}", n, False) for n in range(live)]
        sends += [(f"D-{n}", live + n, True) for n in range(dead)]
        for start in range(0, len(sends), CHUNK):
            chunk = sends[start : start + CHUNK]
            futures = [
                await producer.send(
                    topic, event(lead, n), key=lead.encode(), partition=n % partitions
                )
                for lead, n, _ in chunk
            ]
            placed = [await future for future in futures]
            letters = [
                await producer.send(
                    dlq,
                    event(lead, n),
                    key=lead.encode(),
                    headers=letter_headers(topic, meta.partition, meta.offset, n),
                )
                for (lead, n, failed), meta in zip(chunk, placed, strict=True)
                if failed
            ]
            for future in letters:
                await future
            print(f"  wrote {start + len(chunk)}/{len(sends)}", file=sys.stderr)
    finally:
        await producer.stop()


def run(bootstrap: str, topic: str, argv: list[str], records: int) -> Measured:
    env = {
        **os.environ,
        "LEADSYNC_KAFKA_BOOTSTRAP": bootstrap,
        "LEADSYNC_SOURCE_TOPIC": topic,
        "LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE": "false",  # Tansu has no InitProducerId
    }
    code = "import sys; from benchmarks.dlq_rate import cli; sys.exit(cli(sys.argv[1:]))"
    print(f"$ leadsync dlq {' '.join(argv)}", file=sys.stderr)
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-c", code, *argv], env=env, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"leadsync dlq {' '.join(argv)} exited {process.returncode}")
    return Measured(" ".join(argv), records, seconds, usage.ru_maxrss / 1024)


def cli(argv: list[str]) -> int:
    """``leadsync dlq ...`` as the console script runs it."""
    from consumer.commands import dlq  # noqa: PLC0415 - the child process only

    parser = argparse.ArgumentParser(prog="leadsync")
    dlq.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dlq", *argv])
    code: int = args.handler(args)
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dead", type=int, default=100_000, help="dead letters (default 100000)")
    parser.add_argument("--live", type=int, default=100_000, help="applied events before them")
    parser.add_argument("--partitions", type=int, default=6, help="source partitions")
    options = parser.parse_args()
    dead, live = options.dead, options.live
    with embedded_broker() as broker:
        topic = "bench-leads"
        print(f"writing {live + dead} source events and {dead} dead letters", file=sys.stderr)
        began = time.monotonic()
        asyncio.run(fill(broker.bootstrap, topic, options.partitions, live, dead))
        print(f"  in {time.monotonic() - began:.0f} s", file=sys.stderr)
        one_reason = (dead + len(REASONS) - 1) // len(REASONS)
        results = [
            run(broker.bootstrap, topic, ["list"], dead),
            run(broker.bootstrap, topic, ["list", "--json"], dead),
            run(
                broker.bootstrap, topic, ["list", "--reason", REASONS[0][0], "--limit", "20"], dead
            ),
            run(broker.bootstrap, topic, ["replay", "--all", "--dry-run"], dead),
            run(broker.bootstrap, topic, ["replay", "--all"], dead),
            run(broker.bootstrap, topic, ["replay", "--reason", REASONS[0][0]], one_reason),
        ]
    print(f"\n{dead:,} dead letters, {live + dead:,} source events, {os.cpu_count()} CPUs\n")
    print("| command | records | seconds | records/s | peak RSS MB |\n|---|---:|---:|---:|---:|")
    for m in results:
        cells = (f"`dlq {m.command}`", f"{m.records:,}", f"{m.seconds:.1f}", f"{m.rate:,.0f}")
        print(f"| {' | '.join(cells)} | {m.peak_rss_mb:.0f} |")


if __name__ == "__main__":
    main()

"""``leadsync demo``: the whole service on one machine, end to end, with a summary.

An embedded broker and a simulated PBX on free loopback ports, a few thousand
sample events (some invalid, some the PBX rejects, a few transient 103s), the
real pipeline, a live progress line, and a summary that compares what happened
with what the samples expected. Exit 0 only when every event is accounted for.
With ``keep``, broker, PBX and service stay up after the summary until SIGINT or
SIGTERM, for the operator's own events and the ``leadsync dlq`` tools.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import sys
import time
from collections import Counter
from typing import Any, TextIO

from aiokafka import AIOKafkaProducer

from consumer.commands.demo_report import (
    DemoProgress,
    Kept,
    Tally,
    answer_table,
    kept_text,
    outcome_table,
    progress_text,
)
from consumer.kafka.clients import ensure_topics
from consumer.observability.logs import configure_logging
from consumer.pipeline import Pipeline
from consumer.sandbox.broker import embedded_broker
from consumer.sandbox.samples import APPLIED, SamplePlan, build_plan
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import Simulator, run_simulator
from consumer.service import run_service
from consumer.settings import Settings, load_settings

TOPIC = "lead-changes"
GROUP = "leadsync-demo"
PARTITIONS = 8
PBX_THREADS = 32  # capacity 16 calls at once
FINISH_TIMEOUT_S = 90.0


async def produce(settings: Settings, plan: SamplePlan) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(settings.source_topic, value=r.value, key=r.key)
            for r in plan.records
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def tally(pipeline: Pipeline) -> Tally:
    counts = pipeline.counts
    return Tally(
        counts.finished, counts.applied, sum(counts.dead_lettered.values()), pipeline.in_flight
    )


async def watch(pipeline: Pipeline, total: int, out: TextIO) -> float:
    progress = DemoProgress(out)
    started = time.monotonic()
    deadline = started + FINISH_TIMEOUT_S
    while pipeline.counts.finished < total and time.monotonic() < deadline:
        now = time.monotonic()
        progress.show(progress_text(tally(pipeline), total, now - started), now)
        await asyncio.sleep(min(progress.interval_s, 0.25))
    elapsed = time.monotonic() - started
    progress.show(progress_text(tally(pipeline), total, elapsed), time.monotonic(), final=True)
    return elapsed


def demo_settings(bootstrap: str, sim: Simulator, api_key: str, capacity: int) -> Settings:
    return load_settings(
        kafka_bootstrap=bootstrap,
        kafka_enable_idempotence=False,  # Tansu has no idempotent producer
        source_topic=TOPIC,
        group_id=GROUP,
        noojee_url=sim.url,
        noojee_api_key=api_key,
        noojee_template_id=41,
        noojee_campaign_id=41,
        noojee_allocation_id=38,
        noojee_timezone="Australia/Melbourne",
        max_concurrency=capacity,
        rate_limit=2000,
        retry_base_s=0.05,
        retry_cap_s=1.0,
        log_format="text",
        health_port=0,  # /metrics on a free port: 8080 may be taken on a laptop
        log_level="ERROR",
    )


async def run_demo(events: int, leads: int, out: TextIO, *, keep: bool = False) -> int:
    plan = build_plan(events, leads)
    api_key = secrets.token_hex(16)
    sim_config = SimulatorConfig(
        api_key=api_key,
        threads=PBX_THREADS,
        min_service_ms=20,
        max_service_ms=40,
        error_ratio=0.02,
        unknown_leads=plan.unknown_leads,
        valid_dispositions=plan.valid_dispositions,
        dnc_numbers=plan.dnc_numbers,
    )
    with embedded_broker() as broker:
        async with run_simulator(sim_config) as sim:
            settings = demo_settings(broker.bootstrap, sim, api_key, sim_config.capacity)
            configure_logging(settings.log_level, settings.log_format.value)
            out.write(
                f"broker {broker.bootstrap}, PBX simulator {sim.url} "
                f"(capacity {sim_config.capacity} calls at once, 20-40 ms a call, "
                "2% transient 103s)\n"
            )
            await ensure_topics(
                settings,
                {
                    TOPIC: PARTITIONS,
                    settings.dead_letter_topic: 1,
                    settings.resume_topic: PARTITIONS,
                },
            )
            await produce(settings, plan)
            out.write(f"produced {len(plan.records)} events for {leads} leads to {TOPIC}\n")
            ready: asyncio.Future[Pipeline] = asyncio.get_running_loop().create_future()
            service = asyncio.create_task(
                run_service(settings, handle_signals=False, on_ready=ready.set_result)
            )
            pipeline = await ready
            elapsed = await watch(pipeline, len(plan.records), out)
            stats = sim.state.stats_json()
            seen = outcomes_seen(pipeline)
            if keep:
                kept = Kept(
                    bootstrap=broker.bootstrap,
                    topic=TOPIC,
                    dlq_topic=settings.dead_letter_topic,
                    group=GROUP,
                    pbx_url=sim.url,
                    pbx_admin_url=sim.admin_url,
                    api_key=api_key,
                    metrics_url=f"http://127.0.0.1:{pipeline.health_port}/metrics",
                )
                report(plan, seen, pipeline=pipeline, stats=stats, elapsed=elapsed, out=out)
                out.write("\n".join(kept_text(kept)) + "\n")
                out.flush()
                await stop_requested()
                out.write("stopping: the service drains, then the PBX and the broker stop\n")
            pipeline.request_stop()
            exit_code = await service
    ok = exit_code == 0 and seen == plan.expected
    if not keep:
        report(plan, seen, pipeline=pipeline, stats=stats, elapsed=elapsed, out=out)
    out.write(
        f"service exit code {exit_code}; "
        + ("all events accounted for\n" if ok else "NOT all events accounted for\n")
    )
    return 0 if ok else 1


def outcomes_seen(pipeline: Pipeline) -> Counter[str]:
    seen: Counter[str] = Counter(pipeline.counts.dead_lettered)
    seen[APPLIED] = pipeline.counts.applied
    return seen


def report(
    plan: SamplePlan,
    seen: Counter[str],
    *,
    pipeline: Pipeline,
    stats: dict[str, Any],
    elapsed: float,
    out: TextIO,
) -> None:
    lines = [
        f"\nsummary after {elapsed:.1f} s",
        *outcome_table(plan.expected, seen),
        "",
        *answer_table(stats["codes"], stats["http_statuses"]),
        "",
        f"  throughput {pipeline.counts.applied / max(elapsed, 1e-6):.0f} applied/s; PBX calls "
        f"{stats['requests']}, peak concurrency {stats['max_concurrency']} of "
        f"{stats['capacity']}; {pipeline.counts.coalesced} events coalesced into other "
        "events' calls",
    ]
    out.write("\n".join(lines) + "\n")


async def stop_requested() -> None:
    """Until SIGINT (Ctrl-C) or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main(events: int = 3000, leads: int = 400, *, keep: bool = False) -> int:
    return asyncio.run(run_demo(events, leads, sys.stdout, keep=keep))

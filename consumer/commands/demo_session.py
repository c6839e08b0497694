"""``leadsync demo``: the whole service on one machine, end to end, with a summary.

An embedded broker and a simulated PBX on free loopback ports, a few thousand
sample events (some invalid, some the PBX rejects, a few transient 103s), the
real pipeline, a live progress line, and a summary that compares what happened
with what the samples expected. Exit 0 only when every event is accounted for.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections import Counter
from typing import TextIO

from aiokafka import AIOKafkaProducer

from consumer.kafka.clients import ensure_topics
from consumer.observability.logs import configure_logging
from consumer.pipeline import Pipeline
from consumer.sandbox.broker import embedded_broker
from consumer.sandbox.samples import APPLIED, SamplePlan, build_plan
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from consumer.service import run_service
from consumer.settings import Settings, load_settings

TOPIC = "lead-changes"
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


def progress_line(pipeline: Pipeline, total: int, started: float) -> str:
    p = pipeline.counts
    elapsed = max(time.monotonic() - started, 1e-6)
    dead = sum(p.dead_lettered.values())
    return (
        f"\r  {p.finished:>5}/{total} done  applied {p.applied:>5}  dead-lettered {dead:>3}"
        f"  in flight {pipeline.in_flight:>4}  {p.applied / elapsed:6.0f} applied/s"
    )


async def watch(pipeline: Pipeline, total: int, out: TextIO) -> float:
    started = time.monotonic()
    deadline = started + FINISH_TIMEOUT_S
    while pipeline.counts.finished < total and time.monotonic() < deadline:
        out.write(progress_line(pipeline, total, started))
        out.flush()
        await asyncio.sleep(0.25)
    out.write(progress_line(pipeline, total, started) + "\n")
    return time.monotonic() - started


async def run_demo(events: int, leads: int, out: TextIO) -> int:
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
            settings = load_settings(
                kafka_bootstrap=broker.bootstrap,
                kafka_enable_idempotence=False,  # Tansu has no idempotent producer
                source_topic=TOPIC,
                group_id="leadsync-demo",
                noojee_url=sim.url,
                noojee_api_key=api_key,
                noojee_template_id=41,
                noojee_campaign_id=41,
                noojee_allocation_id=38,
                noojee_timezone="Australia/Melbourne",
                max_concurrency=sim_config.capacity,
                rate_limit=2000,
                retry_base_s=0.05,
                retry_cap_s=1.0,
                log_format="text",
                health_port=0,  # /metrics on a free port: 8080 may be taken on a laptop
                log_level="ERROR",
            )
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
            pipeline.request_stop()
            exit_code = await service
            stats = sim.state.stats_json()
    return summarise(
        plan, pipeline=pipeline, stats=stats, elapsed=elapsed, exit_code=exit_code, out=out
    )


def summarise(
    plan: SamplePlan,
    *,
    pipeline: Pipeline,
    stats: dict[str, object],
    elapsed: float,
    exit_code: int,
    out: TextIO,
) -> int:
    seen: Counter[str] = Counter(pipeline.counts.dead_lettered)
    seen[APPLIED] = pipeline.counts.applied
    out.write(f"\nsummary after {elapsed:.1f} s (service exit code {exit_code})\n")
    out.write(f"  {'outcome':<44} {'expected':>8} {'seen':>8}\n")
    for outcome in sorted(set(plan.expected) | set(seen)):
        mark = "" if plan.expected[outcome] == seen[outcome] else "   <-- mismatch"
        out.write(f"  {outcome:<44} {plan.expected[outcome]:>8} {seen[outcome]:>8}{mark}\n")
    out.write(
        f"  throughput {pipeline.counts.applied / max(elapsed, 1e-6):.0f} applied/s; PBX calls "
        f"{stats['requests']}, codes {stats['codes']}, peak concurrency "
        f"{stats['max_concurrency']} of {stats['capacity']}; {pipeline.counts.coalesced} "
        "events coalesced into other events' calls\n"
    )
    ok = exit_code == 0 and seen == plan.expected
    out.write("all events accounted for\n" if ok else "NOT all events accounted for\n")
    return 0 if ok else 1


def main(events: int = 3000, leads: int = 400) -> int:
    return asyncio.run(run_demo(events, leads, sys.stdout))

"""``leadsync check``: would ``leadsync run`` start, and are Kafka and the PBX right?

Exit 0 when healthy; 2 for a configuration ``run`` would refuse (the same
validator, ``consumer.configuration``); 1 with one line per problem when Kafka
or the PBX is not as the configuration says. Kafka gets at most
``KAFKA_BUDGET_S`` (plus the diagnosis of a failure); the PBX is asked for a
lead that cannot exist and must answer as Noojee does (``consumer.pbx.probe``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from consumer.commands.output import quiet_start_up, report_bad_configuration
from consumer.configuration import load_configuration
from consumer.errors import EXIT_CONFIG, KafkaUnreachable, SettingsError
from consumer.kafka.clients import (
    STOP_TIMEOUT_S,
    build_producer,
    connection_options,
    stop_bounded,
)
from consumer.kafka.failures import KAFKA_ERRORS
from consumer.kafka.startup import start_producer, why_not_started
from consumer.kafka.topic_setup import dead_letter_bytes, described_sizes
from consumer.observability.health import probe_readiness
from consumer.pbx.probe import probe_request, verdict
from consumer.settings import Settings
from consumer.wiring import build_client

EXIT_UNHEALTHY = 1
KAFKA_BUDGET_S = 6.0
"""Reaching Kafka, listing topics and starting the producer, each; a diagnosis adds 3 s."""
PBX_TIMEOUT_S = 10.0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate configuration and reach Kafka and the PBX (exit 0 when healthy)",
        description=(
            "Check what `leadsync run` would refuse (every LEADSYNC_* and OTEL_* variable, "
            "files, TLS material), then reach Kafka (the topics, the producer) and ask the "
            "PBX for a lead that cannot exist: exit 0 healthy, 2 bad configuration, 1 with "
            "one line per problem."
        ),
    )
    parser.set_defaults(handler=handle)


async def check_kafka(settings: Settings) -> list[str]:
    consumer = AIOKafkaConsumer(
        **connection_options(settings), request_timeout_ms=int(KAFKA_BUDGET_S * 1000)
    )
    started = time.monotonic()
    try:
        await asyncio.wait_for(consumer.start(), timeout=KAFKA_BUDGET_S)
        topics = await asyncio.wait_for(consumer.topics(), timeout=KAFKA_BUDGET_S)
    except KAFKA_ERRORS as exc:
        return [await why_not_started(settings, exc, started)]
    finally:
        await stop_bounded(consumer, STOP_TIMEOUT_S)
    needed = [
        (settings.source_topic, "LEADSYNC_SOURCE_TOPIC"),
        (settings.dead_letter_topic, "LEADSYNC_DLQ_TOPIC"),
    ]
    if settings.progress:
        needed.append((settings.resume_topic, "LEADSYNC_PROGRESS_TOPIC"))
    problems = [
        f"topic {topic} ({variable}) does not exist: `leadsync topics create` makes it"
        for topic, variable in needed
        if topic not in topics
    ]
    return problems + await check_producer(settings)


async def check_producer(settings: Settings) -> list[str]:
    """The dead-letter producer starts as ``run`` starts it (InitProducerId when idempotent)."""
    producer = build_producer(settings)
    try:
        await start_producer(producer, settings, KAFKA_BUDGET_S)
    except KafkaUnreachable as exc:
        return [str(exc)]
    finally:
        await stop_bounded(producer, STOP_TIMEOUT_S)
    return []


async def topic_size_warnings(settings: Settings) -> list[str]:
    """A dead-letter topic that takes smaller records than the source topic: a dead letter
    is its record plus headers, so some would be written without their value."""
    admin = AIOKafkaAdminClient(
        **connection_options(settings), request_timeout_ms=int(KAFKA_BUDGET_S * 1000)
    )
    topics = (settings.source_topic, settings.dead_letter_topic)
    try:
        await asyncio.wait_for(admin.start(), timeout=KAFKA_BUDGET_S)
        answers = await asyncio.wait_for(
            admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
            ),
            timeout=KAFKA_BUDGET_S,
        )
    except KAFKA_ERRORS:
        return []  # reachability is check_kafka's to report
    finally:
        await asyncio.wait_for(admin.close(), timeout=STOP_TIMEOUT_S)
    sizes = described_sizes(answers)
    source, dlq = sizes.get(settings.source_topic), sizes.get(settings.dead_letter_topic)
    if source is None or dlq is None or dlq >= source:
        return []
    return [
        f"the dead-letter topic {settings.dead_letter_topic} takes records up to {dlq} "
        f"bytes (max.message.bytes), the source topic {settings.source_topic} up to "
        f"{source}: a dead letter of a large event would be written without its value. "
        f"Raise {settings.dead_letter_topic}'s max.message.bytes to at least "
        f"{dead_letter_bytes(source)}"
    ]


async def check_pbx(settings: Settings) -> list[str]:
    query = {
        name: str(value)
        for name, value in (
            ("fTemplateId", settings.noojee_template_id),
            ("fCampaignId", settings.noojee_campaign_id),
            ("fAllocationId", settings.noojee_allocation_id),
        )
        if value is not None
    }
    timeouts = {
        "request_timeout_s": PBX_TIMEOUT_S,
        "connect_timeout_s": min(settings.connect_timeout_s, PBX_TIMEOUT_S),
    }
    async with build_client(settings, **timeouts) as client:
        result = await client.update_lead_fast(probe_request(query))
    problem = verdict(result)
    return [problem] if problem else []


async def check_service(settings: Settings) -> list[str]:
    """The readiness of a service running here (``kubectl exec ... leadsync check``)."""
    verdict_ = await probe_readiness(settings.health_port)
    if verdict_ is None:
        return []  # no service on this host: the checks above are the whole answer
    _, reasons = verdict_
    return [f"the service on port {settings.health_port} is not ready: {r}" for r in reasons]


async def run_checks(settings: Settings) -> list[str]:
    kafka, pbx, service = await asyncio.gather(
        check_kafka(settings), check_pbx(settings), check_service(settings)
    )
    return kafka + pbx + service


def warn(warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"leadsync check: warning: {warning}", file=sys.stderr)


def handle(args: argparse.Namespace) -> int:
    try:
        settings = load_configuration().settings
    except SettingsError as exc:
        report_bad_configuration(exc)
        return EXIT_CONFIG
    quiet_start_up()
    problems = asyncio.run(run_checks(settings))
    if not problems:
        warn(asyncio.run(topic_size_warnings(settings)))
    for problem in problems:
        print(f"leadsync check: {problem}", file=sys.stderr)
    if problems:
        return EXIT_UNHEALTHY
    print("leadsync check: configuration valid, Kafka and the PBX reachable")
    return 0

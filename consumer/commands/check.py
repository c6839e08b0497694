"""``leadsync check``: is the configuration valid, and are Kafka and the PBX there?

Exit 0 when healthy; otherwise non-zero with one line per problem. The PBX is
asked for a lead that cannot exist (an empty ``njExternalLeadId``), which the
vendor documents to answer 101 without changing anything; a 401/403 proves
the key is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from consumer.errors import EXIT_CONFIG, SettingsError
from consumer.kafka.clients import STOP_TIMEOUT_S, connection_options, stop_bounded
from consumer.kafka.failures import KAFKA_ERRORS
from consumer.observability.health import probe_readiness
from consumer.pbx.outcomes import Fatal, Unavailable
from consumer.settings import Settings, load_settings
from consumer.wiring import build_client
from contracts.noojee import UpdateLeadFast

EXIT_UNHEALTHY = 1
KAFKA_TIMEOUT_S = 15.0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate configuration and reach Kafka and the PBX (exit 0 when healthy)",
    )
    parser.set_defaults(handler=handle)


async def check_kafka(settings: Settings) -> list[str]:
    consumer = AIOKafkaConsumer(**connection_options(settings), request_timeout_ms=10_000)
    try:
        await asyncio.wait_for(consumer.start(), timeout=KAFKA_TIMEOUT_S)
        topics = await asyncio.wait_for(consumer.topics(), timeout=KAFKA_TIMEOUT_S)
    except KAFKA_ERRORS as exc:
        return [f"Kafka at {settings.kafka_bootstrap} unreachable: {type(exc).__name__}: {exc}"]
    finally:
        await stop_bounded(consumer, STOP_TIMEOUT_S)
    needed = [
        (settings.source_topic, "LEADSYNC_SOURCE_TOPIC"),
        (settings.dead_letter_topic, "LEADSYNC_DLQ_TOPIC"),
    ]
    if settings.progress:
        needed.append((settings.resume_topic, "LEADSYNC_PROGRESS_TOPIC"))
    return [
        f"topic {topic!r} ({variable}) does not exist"
        for topic, variable in needed
        if topic not in topics
    ]


async def topic_size_warnings(settings: Settings) -> list[str]:
    """A dead-letter topic that takes smaller records than the source topic: a dead letter
    is its record plus headers, so some would be written without their value."""
    admin = AIOKafkaAdminClient(**connection_options(settings), request_timeout_ms=10_000)
    topics = (settings.source_topic, settings.dead_letter_topic)
    try:
        await asyncio.wait_for(admin.start(), timeout=KAFKA_TIMEOUT_S)
        answers = await asyncio.wait_for(
            admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
            ),
            timeout=KAFKA_TIMEOUT_S,
        )
    except KAFKA_ERRORS:
        return []  # reachability is check_kafka's to report
    finally:
        await asyncio.wait_for(admin.close(), timeout=STOP_TIMEOUT_S)
    sizes = max_message_bytes(answers)
    source, dlq = sizes.get(settings.source_topic), sizes.get(settings.dead_letter_topic)
    if source is None or dlq is None or dlq >= source:
        return []
    return [
        f"the dead-letter topic {settings.dead_letter_topic!r} takes records up to {dlq} "
        f"bytes (max.message.bytes), the source topic {settings.source_topic!r} up to "
        f"{source}: a dead letter of a large event would be written without its value. "
        f"Raise {settings.dead_letter_topic}'s max.message.bytes to at least {source + 16384}"
    ]


def max_message_bytes(answers: Sequence[Any]) -> dict[str, int]:
    """Topic -> ``max.message.bytes`` from DescribeConfigs answers (where the broker said)."""
    sizes: dict[str, int] = {}
    for answer in answers:
        for resource in answer.resources:
            error_code, _, _, name, entries = resource[:5]
            if error_code:
                continue
            for entry in entries:
                if entry[0] == "max.message.bytes" and str(entry[1]).isdigit():
                    sizes[name] = int(entry[1])
    return sizes


async def check_pbx(settings: Settings) -> list[str]:
    probe = UpdateLeadFast(
        lead_id="",
        query={
            name: str(value)
            for name, value in (
                ("fTemplateId", settings.noojee_template_id),
                ("fCampaignId", settings.noojee_campaign_id),
                ("fAllocationId", settings.noojee_allocation_id),
            )
            if value is not None
        },
        body={"njExternalLeadId": ""},
    )
    async with build_client(settings) as client:
        result = await client.update_lead_fast(probe)
    if isinstance(result.outcome, Fatal):
        return [f"the PBX refused LEADSYNC_NOOJEE_API_KEY ({result.url}): {result.outcome.message}"]
    if isinstance(result.outcome, Unavailable) or result.http_status is None:
        return [f"the PBX at {result.url} is unreachable: {result.outcome}"]
    return []


async def check_service(settings: Settings) -> list[str]:
    """The readiness of a service running here (``kubectl exec ... leadsync check``)."""
    verdict = await probe_readiness(settings.health_port)
    if verdict is None:
        return []  # no service on this host: the checks above are the whole answer
    _, reasons = verdict
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
        settings = load_settings()
    except SettingsError as exc:
        print(f"leadsync: bad configuration:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    problems = asyncio.run(run_checks(settings))
    if not problems:
        warn(asyncio.run(topic_size_warnings(settings)))
    for problem in problems:
        print(f"leadsync check: {problem}", file=sys.stderr)
    if problems:
        return EXIT_UNHEALTHY
    print("leadsync check: configuration valid, Kafka and the PBX reachable")
    return 0

"""``leadsync topics create``: the source, dead-letter and progress topics, with
recommended settings.

Only the Kafka settings matter (``LEADSYNC_KAFKA_*``, ``SOURCE_TOPIC``,
``DLQ_TOPIC``, ``DLQ_MAX_MESSAGE_BYTES``, ``PROGRESS``, ``PROGRESS_TOPIC``); the
PBX settings may be unset. Idempotent: run it again and it creates nothing, and
says so. Exit 0 when every topic exists, 1 when Kafka failed or refused, 2 on bad
arguments or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from consumer.commands.arguments import positive_float, positive_int
from consumer.commands.dlq import dlq_settings
from consumer.errors import EXIT_CONFIG, SettingsError
from consumer.kafka.failures import KAFKA_ERRORS, KafkaFailure, describe, kafka_failure
from consumer.kafka.topic_setup import (
    DEFAULT_PARTITIONS,
    DEFAULT_RETENTION_DAYS,
    MAX_REPLICATION,
    TopicOptions,
    create_leadsync_topics,
)

EXIT_FAILED = 1


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "topics",
        help="create the source, dead-letter and progress topics with recommended settings",
        description=(
            "Kafka topics for leadsync (LEADSYNC_SOURCE_TOPIC, LEADSYNC_DLQ_TOPIC, "
            "LEADSYNC_PROGRESS_TOPIC)."
        ),
    )
    actions = parser.add_subparsers(dest="topics_action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create whichever of the topics is missing (safe to repeat)",
        description=(
            "Create the source topic and the dead-letter topic if missing: the dead-letter "
            "topic with 1 partition and a max.message.bytes of the source topic's + 16 KiB "
            "(leadsync's headers), both with the same retention; the progress topic (unless "
            "LEADSYNC_PROGRESS=false) compacted, with as many partitions as the source topic. "
            "Existing topics are left as they are; a dead-letter topic too small for the "
            "source's records is named."
        ),
    )
    create.add_argument(
        "--partitions",
        type=positive_int,
        default=DEFAULT_PARTITIONS,
        help=f"source topic partitions (default {DEFAULT_PARTITIONS}: a multiple of "
        "LEADSYNC_MAX_CONCURRENCY suits the fleet; it also caps the replicas that work)",
    )
    create.add_argument(
        "--replication-factor",
        type=positive_int,
        default=None,
        help=f"copies of each partition (default {MAX_REPLICATION}, or one per broker on a "
        "smaller cluster)",
    )
    create.add_argument(
        "--retention-days",
        type=positive_float,
        default=DEFAULT_RETENTION_DAYS,
        help="retention of the source and dead-letter topics "
        f"(default {DEFAULT_RETENTION_DAYS:g}); a dead letter is safely replayable only "
        "while the source topic still holds what followed it",
    )
    create.set_defaults(handler=handle_create)


def handle_create(args: argparse.Namespace) -> int:
    try:
        settings = dlq_settings()
    except SettingsError as exc:
        print(f"leadsync topics: bad configuration:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    options = TopicOptions(args.partitions, args.replication_factor, args.retention_days)
    # A failure is reported below in one line; aiokafka's own log lines would repeat it.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        report = asyncio.run(create_leadsync_topics(settings, options))
    except KAFKA_ERRORS as exc:
        why = (
            f"cannot reach Kafka at {settings.kafka_bootstrap} ({type(exc).__name__})"
            if kafka_failure(exc) is KafkaFailure.TRANSIENT
            else f"Kafka at {settings.kafka_bootstrap} refused: {describe(exc)}"
        )
        print(f"leadsync topics: {why}", file=sys.stderr)
        return EXIT_FAILED
    for line in report.done:
        print(f"leadsync topics: {line}")
    for warning in report.warnings:
        print(f"leadsync topics: warning: {warning}", file=sys.stderr)
    return 0

"""The topics leadsync needs, created with the settings it recommends (``leadsync topics
create``).

- the source topic (``LEADSYNC_SOURCE_TOPIC``): the partitions asked for (a multiple
  of ``LEADSYNC_MAX_CONCURRENCY`` suits the fleet plan), and a retention;
- the dead-letter topic (``LEADSYNC_DLQ_TOPIC``): one partition, the same retention
  (a replay scans the source topic back to the dead letter it replays, so the
  source must keep records as long as the dead letters are kept), and a
  ``max.message.bytes`` of the source topic's plus 16 KiB: a dead letter is its
  record plus the headers leadsync adds, which stay within 16 KiB;
- the progress topic (``LEADSYNC_PROGRESS_TOPIC``, unless ``LEADSYNC_PROGRESS=false``):
  compacted, since only the newest record per partition counts, and as many
  partitions as the source topic has, so that each source partition's progress
  has a partition of its own.

Idempotent: a topic that exists is left as it is (its settings are only read),
and one created meanwhile by someone else counts as existing. Every step is a
line of the report, so the operator sees what was done and what was not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from consumer.kafka.clients import connection_options
from consumer.settings import Settings

KAFKA_DEFAULT_MAX_MESSAGE_BYTES: Final = 1_048_588
"""Kafka's own ``max.message.bytes`` default, for a broker that does not report one."""
HEADERS_ROOM: Final = 16 * 1024
"""What the headers leadsync adds to a dead letter take at most (``contracts.deadletter``)."""
MAX_REPLICATION: Final = 3
DEFAULT_PARTITIONS: Final = 12
DEFAULT_RETENTION_DAYS: Final = 14.0
ADMIN_TIMEOUT_S: Final = 30.0
MS_PER_DAY: Final = 86_400_000
PROGRESS_CONFIGS: Final = {
    "cleanup.policy": "compact",
    "segment.ms": "600000",
    "min.cleanable.dirty.ratio": "0.1",
}
"""Only each partition's newest progress record counts; compaction keeps just that, and
short segments let it run often (a takeover reads the tail, so less is better)."""


@dataclass(frozen=True, slots=True)
class TopicOptions:
    partitions: int = DEFAULT_PARTITIONS
    replication_factor: int | None = None
    """None: three copies, or one per broker on a smaller cluster."""
    retention_days: float = DEFAULT_RETENTION_DAYS


@dataclass(slots=True)
class TopicReport:
    done: list[str] = field(default_factory=list)
    """What was created, or found and left as it is, and advice on the settings."""
    warnings: list[str] = field(default_factory=list)


def replication_for(brokers: int, asked: int | None) -> int:
    return asked if asked is not None else max(1, min(MAX_REPLICATION, brokers))


def dead_letter_bytes(source_bytes: int) -> int:
    """The dead-letter topic's ``max.message.bytes`` for a source topic's."""
    return source_bytes + HEADERS_ROOM


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def retention_ms(days: float) -> int:
    return round(days * MS_PER_DAY)


def described_sizes(answers: Sequence[Any]) -> dict[str, int]:
    """Topic -> ``max.message.bytes`` from DescribeConfigs answers, where the broker said."""
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


def size_advice(dlq: str, dlq_bytes: int, setting: int) -> str | None:
    """The advice to match ``LEADSYNC_DLQ_MAX_MESSAGE_BYTES`` to the topic, if it differs.

    Advice, not a warning: with a larger setting the broker refuses a dead letter
    over the topic's limit and the writer sends it again without its value (one
    round trip more); with a smaller one, values the topic would take are left out.
    """
    if setting == dlq_bytes:
        return None
    return (
        f"set LEADSYNC_DLQ_MAX_MESSAGE_BYTES={dlq_bytes} to match {dlq}'s max.message.bytes "
        f"(now {setting})"
    )


class TopicSetup:
    """Creates what is missing, through one admin client."""

    def __init__(self, admin: AIOKafkaAdminClient, options: TopicOptions) -> None:
        self._admin = admin
        self._options = options
        self.report = TopicReport()

    async def run(
        self, source: str, dlq: str, dlq_setting: int, progress: str | None = None
    ) -> TopicReport:
        """``progress``: the progress topic, None when progress is off."""
        admin, options = self._admin, self._options
        existing = set(await admin.list_topics())
        cluster = await admin.describe_cluster()
        replicas = replication_for(len(cluster["brokers"]), options.replication_factor)
        retention = {"retention.ms": str(retention_ms(options.retention_days))}
        await self._ensure(source, existing, options.partitions, replicas, retention)
        source_bytes = (await self._sizes([source])).get(source, KAFKA_DEFAULT_MAX_MESSAGE_BYTES)
        wanted = dead_letter_bytes(source_bytes)
        dlq_configs = retention | {"max.message.bytes": str(wanted)}
        created = await self._ensure(dlq, existing, 1, replicas, dlq_configs)
        dlq_bytes = wanted
        if not created:
            dlq_bytes = (await self._sizes([dlq])).get(dlq, KAFKA_DEFAULT_MAX_MESSAGE_BYTES)
            if dlq_bytes < wanted:
                self.report.warnings.append(
                    f"{dlq} takes records up to {dlq_bytes} bytes (max.message.bytes), less "
                    f"than {source}'s {source_bytes} + 16 KiB of headers: a dead letter of a "
                    f"large event would be written without its value. Raise it to {wanted} "
                    f"(kafka-configs --alter --entity-type topics --entity-name {dlq} "
                    f"--add-config max.message.bytes={wanted})"
                )
        advice = size_advice(dlq, dlq_bytes, dlq_setting)
        if advice is not None:
            self.report.done.append(advice)
        if progress is not None:
            partitions = await self._partition_count(source) or options.partitions
            await self._ensure(progress, existing, partitions, replicas, PROGRESS_CONFIGS)
        return self.report

    async def _ensure(
        self,
        name: str,
        existing: set[str],
        partitions: int,
        replicas: int,
        configs: dict[str, str],
    ) -> bool:
        """Create ``name`` unless it exists; True when this call created it."""
        if name not in existing:
            answer = await self._admin.create_topics(
                [NewTopic(name, partitions, replicas, None, configs)]
            )
            (_, error_code, message) = answer.topic_errors[0][:3]
            if not error_code:
                settings = ", ".join(f"{k}={v}" for k, v in configs.items())
                self.report.done.append(
                    f"created {name}: {plural(partitions, 'partition')}, "
                    f"replication factor {replicas}, {settings}"
                )
                return True
            error = for_code(error_code)
            if error is not TopicAlreadyExistsError:
                raise error(f"creating {name}: {message or error.message}")
        count = await self._partition_count(name)
        self.report.done.append(f"{name} exists ({plural(count, 'partition')}): left as it is")
        return False

    async def _partition_count(self, name: str) -> int:
        described = await self._admin.describe_topics([name])
        return len(described[0]["partitions"]) if described else 0

    async def _sizes(self, topics: Iterable[str]) -> dict[str, int]:
        answers = await self._admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
        )
        return described_sizes(answers)


async def create_leadsync_topics(settings: Settings, options: TopicOptions) -> TopicReport:
    """The topics of ``settings``; raises a Kafka error (or ``TimeoutError``) when it fails."""
    admin = AIOKafkaAdminClient(**connection_options(settings), request_timeout_ms=15_000)
    try:
        await asyncio.wait_for(admin.start(), timeout=ADMIN_TIMEOUT_S)
        setup = TopicSetup(admin, options)
        return await asyncio.wait_for(
            setup.run(
                settings.source_topic,
                settings.dead_letter_topic,
                settings.dlq_max_message_bytes,
                progress=settings.resume_topic if settings.progress else None,
            ),
            timeout=ADMIN_TIMEOUT_S,
        )
    finally:
        await asyncio.wait_for(admin.close(), timeout=ADMIN_TIMEOUT_S)

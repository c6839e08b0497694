"""Kafka clients built from settings, with the safe options this service needs.

aiokafka's defaults are wrong for us (auto-commit, latest offset reset), and its
``commit()``/``stop()`` can block for a whole broker outage; every call here is
bounded by a timeout of our own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import TopicAlreadyExistsError

from consumer.kafka import join_once, lenient_records
from consumer.kafka.failures import KAFKA_ERRORS
from consumer.settings import PBX_QUEUE_LIMIT_S, SecurityProtocol, Settings
from consumer.tls import TlsFiles, client_context

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0
MAX_POLL_RECORDS = 500
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 500
"""How soon a member hears of a rebalance; a new owner waits this out (``ownership.handover``).

Half a second: every partition that moves stands still for it twice (the former
owner hears of the rebalance at its next heartbeat; the new owner waits one out),
while two heartbeats a second cost the broker next to nothing."""


def connection_options(settings: Settings) -> dict[str, Any]:
    """Bootstrap and security options shared by consumer, producer and admin client.

    Raises ``SettingsError`` naming the variable when a TLS file cannot be used
    (the start-up validator calls this before anything connects).
    """
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol.value,
        "client_id": "leadsync",
    }
    context = tls_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The client context for ``SSL``/``SASL_SSL`` (CA bundle, client certificate), else None."""
    if settings.kafka_security_protocol not in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        return None
    password = settings.kafka_ssl_key_password
    return client_context(
        TlsFiles(
            ca_file=settings.kafka_ssl_cafile,
            cert_file=settings.kafka_ssl_certfile,
            key_file=settings.kafka_ssl_keyfile,
            key_password=password.get_secret_value() if password is not None else None,
            ca_variable="LEADSYNC_KAFKA_SSL_CAFILE",
            cert_variable="LEADSYNC_KAFKA_SSL_CERTFILE",
            key_variable="LEADSYNC_KAFKA_SSL_KEYFILE",
            password_variable="LEADSYNC_KAFKA_SSL_KEY_PASSWORD",  # noqa: S106 - a name
        )
    )


def build_consumer(
    settings: Settings,
    assignors: tuple[type[AbstractPartitionAssignor], ...] = (RoundRobinPartitionAssignor,),
) -> AIOKafkaConsumer:
    """``assignors``: the partition assignment strategies offered, preferred first."""
    lenient_records.install()  # a header name that is not UTF-8 must not stop the consumer
    join_once.install()  # one JoinGroup per join, whatever the number of assignors
    drain_and_call_ms = int((settings.drain_timeout_s + PBX_QUEUE_LIMIT_S) * 1000)
    return AIOKafkaConsumer(
        **connection_options(settings),
        group_id=settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        # A revoke drains calls the PBX may hold for a minute; the group must wait.
        rebalance_timeout_ms=drain_and_call_ms,
        max_poll_interval_ms=max(300_000, drain_and_call_ms + 60_000),
        max_poll_records=MAX_POLL_RECORDS,
        partition_assignment_strategy=assignors,
    )


def build_reader(settings: Settings) -> AIOKafkaConsumer:
    """A consumer without a group, for reading a topic back (the progress topic)."""
    return AIOKafkaConsumer(
        **connection_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,  # an empty partition answers after this: reads end sooner
    )


def build_producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **connection_options(settings),
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        # Dead letters carry the original value, which may be as large as the
        # source topic allows; the broker still has the last word, and a dead letter
        # over either limit is written without its value (consumer.deadletters.writer).
        max_request_size=settings.dlq_max_message_bytes,
        request_timeout_ms=30_000,
    )


def group_generation(consumer: AIOKafkaConsumer) -> int:
    """The consumer group generation this member joined last (-1 before it joined).

    aiokafka keeps it on its coordinator without a public accessor; the progress
    records carry it so a fenced owner's late writes never hide its successor's.
    """
    generation = getattr(getattr(consumer, "_coordinator", None), "generation", -1)
    return generation if isinstance(generation, int) else -1


async def stop_bounded(client: AIOKafkaConsumer | AIOKafkaProducer, timeout_s: float) -> None:
    try:
        await asyncio.wait_for(client.stop(), timeout=timeout_s)
    except TimeoutError:
        log.warning("%s did not stop within %.0f s", type(client).__name__, timeout_s)
    except KAFKA_ERRORS as exc:
        log.warning("%s stop failed: %s", type(client).__name__, exc)


async def ensure_topics(settings: Settings, topics: Mapping[str, int]) -> None:
    """Create topics (name -> partitions) that do not exist yet; for demo and tests."""
    admin = AIOKafkaAdminClient(**connection_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, partitions, 1)
            for name, partitions in topics.items()
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()

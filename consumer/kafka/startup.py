"""Starting Kafka clients, and saying plainly why one did not start.

aiokafka reports a failed start as ``Unable to bootstrap from [('10.0.0.1',
9092, <AddressFamily.AF_INET: 2>)]``, an empty ``TimeoutError`` or an
``UnknownError`` from InitProducerId. What an operator needs is which address,
what happened there, how long leadsync waited, and what to change: each
message here says that, and names the setting to fix where there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from typing import Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from consumer.errors import KafkaUnreachable
from consumer.kafka.clients import tls_context
from consumer.kafka.failures import KAFKA_ERRORS, KafkaFailure, describe, kafka_failure
from consumer.settings import Settings

PROBE_TIMEOUT_S: Final = 3.0
"""How long the diagnosis of a failed start waits for each bootstrap server."""


async def start_producer(producer: AIOKafkaProducer, settings: Settings, timeout_s: float) -> None:
    """Start ``producer`` or raise ``KafkaUnreachable`` saying why (the caller stops it).

    The cluster is reached first, so that a refused InitProducerId (the idempotent
    producer's first request) is told apart from a broker that is not there.
    """
    started = time.monotonic()
    try:
        await asyncio.wait_for(producer.client.bootstrap(), timeout_s)
    except KAFKA_ERRORS as exc:
        raise KafkaUnreachable(await why_not_started(settings, exc, started)) from None
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
    except KAFKA_ERRORS as exc:
        if settings.kafka_enable_idempotence and not isinstance(exc, TimeoutError):
            raise KafkaUnreachable(idempotence_refused(settings, exc)) from None
        raise KafkaUnreachable(await why_not_started(settings, exc, started)) from None


async def start_consumer(consumer: AIOKafkaConsumer, settings: Settings, timeout_s: float) -> None:
    """Start ``consumer`` or raise ``KafkaUnreachable`` saying why (the caller stops it)."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
    except KAFKA_ERRORS as exc:
        raise KafkaUnreachable(await why_not_started(settings, exc, started)) from None


def idempotence_refused(settings: Settings, exc: BaseException) -> str:
    return (
        f"Kafka at {settings.kafka_bootstrap} refused the idempotent producer "
        f"(InitProducerId: {describe(exc)}): grant leadsync's principal IDEMPOTENT_WRITE "
        "on the cluster, or set LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE=false (a retried dead "
        "letter may then be written twice; brokers without InitProducerId, such as the "
        "Tansu test broker, need this)"
    )


async def why_not_started(settings: Settings, exc: BaseException, started: float) -> str:
    """What went wrong reaching ``settings.kafka_bootstrap``, with the time waited."""
    waited = time.monotonic() - started
    where = f"Kafka at {settings.kafka_bootstrap}"
    if kafka_failure(exc) is KafkaFailure.REFUSED:
        return f"{where} refused leadsync: {describe(exc)} (check LEADSYNC_KAFKA_SASL_*)"
    context = tls_context(settings)
    reports = await asyncio.gather(
        *(probe(host, port, context) for host, port in bootstrap_servers(settings.kafka_bootstrap))
    )
    if all(report is None for report in reports):
        protocol = settings.kafka_security_protocol.value
        what = (
            f"did not answer within {waited:.0f} s"
            if waited >= 1
            else "closed it without a Kafka answer"
        )
        return (
            f"{where} accepted the connection but {what}: check that it is a Kafka "
            f"listener and that it speaks {protocol} (LEADSYNC_KAFKA_SECURITY_PROTOCOL)"
        )
    failures = "; ".join(
        f"{host}:{port} {report}"
        for (host, port), report in zip(
            bootstrap_servers(settings.kafka_bootstrap), reports, strict=True
        )
        if report is not None
    )
    return f"cannot reach {where} (waited {waited:.0f} s): {failures}"


def bootstrap_servers(servers: str) -> list[tuple[str, int]]:
    """``host:port[,host:port]`` (validated by the settings) as pairs; 9092 by default."""
    pairs = []
    for entry in (part.strip() for part in servers.split(",")):
        host, colon, port = entry.rpartition(":")
        if not colon or host.endswith(":") or "]" in port:
            host, port = entry, "9092"
        pairs.append((host.strip("[]"), int(port)))
    return pairs


async def probe(host: str, port: int, context: ssl.SSLContext | None) -> str | None:
    """None when ``host:port`` takes a connection (and a TLS handshake); else what failed."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), PROBE_TIMEOUT_S
        )
    except TimeoutError:
        return f"no TCP connection within {PROBE_TIMEOUT_S:.0f} s"
    except ConnectionRefusedError:
        return "refused the connection (nothing listens there)"
    except socket.gaierror:
        return "does not resolve (DNS)"
    except OSError as exc:
        return f"cannot be reached ({exc.strerror or type(exc).__name__})"
    try:
        if context is not None:
            await asyncio.wait_for(writer.start_tls(context, server_hostname=host), PROBE_TIMEOUT_S)
            # TLS 1.3 refuses a client certificate after the handshake: read to hear it.
            if not await _still_open(reader):
                return "closed the connection after the TLS handshake (a client certificate?)"
    except ssl.SSLCertVerificationError as exc:
        return f"TLS certificate rejected: {exc.verify_message} (LEADSYNC_KAFKA_SSL_CAFILE)"
    except ssl.SSLError as exc:
        if "CERTIFICATE_REQUIRED" in str(exc.reason):
            return "wants a client certificate (LEADSYNC_KAFKA_SSL_CERTFILE, _KEYFILE)"
        return f"TLS handshake failed: {exc.reason or exc.strerror}"
    except TimeoutError:
        return f"took the connection but no TLS handshake within {PROBE_TIMEOUT_S:.0f} s"
    except OSError as exc:
        return f"closed the connection during the TLS handshake ({exc.strerror or 'no reason'})"
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), PROBE_TIMEOUT_S)
    return None


async def _still_open(reader: asyncio.StreamReader) -> bool:
    """A Kafka broker says nothing until asked: silence is good, an end of stream is not."""
    try:
        return bool(await asyncio.wait_for(reader.read(1), 0.5))
    except TimeoutError:
        return True

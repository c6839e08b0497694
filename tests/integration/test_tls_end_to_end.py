"""Kafka and the PBX over TLS with a CA made in the test (``trustme``).

Tansu 0.6 cannot serve TLS itself (its ``--cert`` and ``--key`` options refuse
each other, and ``--cert`` alone leaves the listener in plain text), so a TLS
front (``tests/tls_proxy.py``) stands before a Tansu that advertises the
front's address; it asks for a client certificate signed by the same CA. The
simulator gets the same front. A client with the CA (and its certificate)
passes ``check``'s Kafka and PBX checks and applies an event; one without it is
told which certificate was rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from consumer.commands.check import check_kafka, check_pbx
from consumer.kafka.clients import connection_options
from consumer.sandbox.broker import free_port, tansu_binary
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from consumer.settings import Settings
from tests.kafka_helpers import event_record, unique_topic
from tests.service_helpers import running_service, service_settings, wait_until
from tests.tls_material import TlsMaterial, make_tls_material
from tests.tls_proxy import server_context, tls_proxy

pytestmark = pytest.mark.timeout(120)

API_KEY = "tls-test-key-31c9"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(tmp_path_factory.mktemp("tls"))


@contextlib.asynccontextmanager
async def tls_broker(tls: TlsMaterial) -> AsyncIterator[str]:
    """A Tansu behind a TLS front that wants a client certificate; yields its bootstrap."""
    listen = free_port()
    async with tls_proxy(listen, server_context(tls.server, client_ca=tls.ca_file)) as port:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped below
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{listen}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await wait_for_port(listen)
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            await asyncio.to_thread(process.wait, 10)


async def wait_for_port(port: int) -> None:
    for _ in range(200):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"tansu did not listen on {port}")


def tls_settings(
    bootstrap: str, topic: str, pbx_url: str, tls: TlsMaterial, **changes: Any
) -> Settings:
    values: dict[str, Any] = {
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": str(tls.ca_file),
        "kafka_ssl_certfile": str(tls.client_cert),
        "kafka_ssl_keyfile": str(tls.encrypted_client_key),
        "kafka_ssl_key_password": tls.key_password,
        "noojee_ca_file": str(tls.ca_file),
    }
    values.update(changes)
    return service_settings(bootstrap, topic, pbx_url, API_KEY, **values)


async def create_and_send(settings: Settings, lead_id: str) -> None:
    admin = AIOKafkaAdminClient(**connection_options(settings))
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(settings.source_topic, 2, 1),
                NewTopic(settings.dead_letter_topic, 1, 1),
                NewTopic(settings.resume_topic, 2, 1),
            ]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**connection_options(settings), acks="all")
    await producer.start()
    try:
        record = event_record(lead_id, disposition="CALLBACK")
        await producer.send_and_wait(settings.source_topic, record.value, key=record.key)
    finally:
        await producer.stop()


async def test_over_tls_check_passes_and_an_event_is_applied(tls: TlsMaterial) -> None:
    topic = unique_topic("tls")
    async with (
        tls_broker(tls) as bootstrap,
        run_simulator(SimulatorConfig(api_key=API_KEY)) as simulator,
        tls_proxy(simulator.port, server_context(tls.server)) as pbx_port,
    ):
        settings = tls_settings(bootstrap, topic, f"https://127.0.0.1:{pbx_port}", tls)
        await create_and_send(settings, "TLS-1")
        assert await check_kafka(settings) == []
        assert await check_pbx(settings) == []
        async with running_service(settings):
            await wait_until(
                lambda: bool(simulator.state.applied("TLS-1")), timeout_s=30, what="applied"
            )


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"kafka_ssl_cafile": None}, "TLS certificate rejected: "),
        ({"kafka_ssl_cafile": "other"}, "TLS certificate rejected"),
        (
            {"kafka_ssl_certfile": None, "kafka_ssl_keyfile": None, "kafka_ssl_key_password": None},
            "closed the connection after the TLS handshake (a client certificate?)",
        ),
    ],
    ids=["no-ca", "another-ca", "no-client-certificate"],
)
async def test_kafka_over_tls_without_what_it_needs_is_named(
    tls: TlsMaterial, changes: dict[str, Any], says: str
) -> None:
    paths = {"other": str(tls.other_ca_file)}
    changes = {name: paths.get(value, value) if value else None for name, value in changes.items()}
    async with tls_broker(tls) as bootstrap:
        settings = tls_settings(
            bootstrap, unique_topic("tls"), "https://pbx.example.com", tls, **changes
        )
        (problem,) = await check_kafka(settings)
    assert problem.startswith(f"cannot reach Kafka at {bootstrap} "), problem
    assert says in problem, problem
    assert "AddressFamily" not in problem

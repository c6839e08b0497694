"""`leadsync topics create` against the real broker: the three topics with the recommended
settings (the progress topic as wide as the source topic, or none with progress off),
nothing done the second time, a too-small dead-letter topic named, a missing broker in
one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from consumer.kafka.topic_setup import KAFKA_DEFAULT_MAX_MESSAGE_BYTES
from consumer.sandbox.broker import EmbeddedBroker, free_port
from consumer.settings import ENV_PREFIX
from tests.kafka_helpers import unique_topic

ROOT = Path(__file__).resolve().parents[2]


def topics_create(
    bootstrap: str, topic: str, *args: str, progress: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env |= {
        "PYTHONPATH": str(ROOT),
        "LEADSYNC_KAFKA_BOOTSTRAP": bootstrap,
        "LEADSYNC_SOURCE_TOPIC": topic,
        "LEADSYNC_PROGRESS": str(progress).lower(),
    }
    return subprocess.run(
        [sys.executable, "-m", "consumer.cli", "topics", "create", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


async def configs(bootstrap: str, *topics: str) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        )
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    found = {
        name: {str(e[0]): str(e[1]) for e in entries}
        for a in answers
        for (_, _, _, name, entries, *_) in a.resources
    }
    for topic in described:
        found[topic["topic"]]["partitions"] = str(len(topic["partitions"]))
    return found


async def test_creates_the_topics_once_with_the_recommended_settings(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic = unique_topic("topics")
    first = topics_create(
        kafka_broker.bootstrap, topic, "--partitions", "6", "--retention-days", "7"
    )
    assert first.returncode == 0, first.stderr
    assert f"created {topic}: 6 partitions" in first.stdout
    assert f"created {topic}.dlq: 1 partition" in first.stdout
    assert f"created {topic}.progress: 6 partitions" in first.stdout
    found = await configs(kafka_broker.bootstrap, topic, f"{topic}.dlq", f"{topic}.progress")
    assert found[f"{topic}.progress"]["partitions"] == "6"
    assert found[f"{topic}.progress"]["cleanup.policy"] == "compact"
    assert "retention.ms" not in first.stdout.split(f"created {topic}.progress")[1]
    assert found[topic]["partitions"] == "6"
    assert found[topic]["retention.ms"] == str(7 * 86_400_000)
    assert found[f"{topic}.dlq"]["partitions"] == "1"
    assert found[f"{topic}.dlq"]["retention.ms"] == str(7 * 86_400_000)
    # The test broker reports no size for the source topic: Kafka's default is assumed.
    assert found[f"{topic}.dlq"]["max.message.bytes"] == str(
        KAFKA_DEFAULT_MAX_MESSAGE_BYTES + 16384
    )

    again = topics_create(kafka_broker.bootstrap, topic)
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout
    assert f"{topic} exists (6 partitions): left as it is" in again.stdout
    assert f"{topic}.dlq exists (1 partition): left as it is" in again.stdout
    assert f"{topic}.progress exists (6 partitions): left as it is" in again.stdout


async def test_the_progress_topic_follows_an_existing_source_or_is_left_out(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic, other = unique_topic("topics"), unique_topic("topics")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1), NewTopic(other, 3, 1)])
    finally:
        await admin.close()
    result = topics_create(kafka_broker.bootstrap, topic, "--partitions", "8")
    assert result.returncode == 0, result.stderr
    assert f"created {topic}.progress: 3 partitions" in result.stdout

    without = topics_create(kafka_broker.bootstrap, other, progress=False)
    assert without.returncode == 0, without.stderr
    assert ".progress" not in without.stdout
    assert f"{other}.progress" not in await existing_topics(kafka_broker.bootstrap)


async def existing_topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_a_dead_letter_topic_below_the_source_topic_size_is_named(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic = unique_topic("topics")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topic, 2, 1, None, {"max.message.bytes": "2000000"}),
                NewTopic(f"{topic}.dlq", 1, 1, None, {"max.message.bytes": "2000000"}),
            ]
        )
    finally:
        await admin.close()
    result = topics_create(kafka_broker.bootstrap, topic, progress=False)
    assert result.returncode == 0, result.stderr
    assert "created" not in result.stdout
    (warning,) = result.stderr.splitlines()
    assert f"{topic}.dlq takes records up to 2000000 bytes" in warning
    assert "Raise it to 2016384" in warning


def test_an_unreachable_broker_is_one_line_and_exit_1() -> None:
    result = topics_create(f"127.0.0.1:{free_port()}", "lead-changes")
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("leadsync topics: cannot reach Kafka at 127.0.0.1:")

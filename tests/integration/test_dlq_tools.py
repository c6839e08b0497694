"""``leadsync dlq list / show / replay`` against the real broker, the simulator and the service.

The commands run exactly as an operator types them (argument parsing, settings
from the environment, ``asyncio.run``), in a thread, while the service runs
in-process and applies what they replay.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from consumer.commands import dlq
from consumer.deadletters.tools.letters import (
    REPLAY_AT,
    REPLAY_COUNT,
    REPLAY_DLQ_OFFSET,
    REPLAY_DLQ_PARTITION,
    REPLAY_ORIGIN_OFFSET,
)
from consumer.deadletters.tools.plan import SkipReason
from consumer.deadletters.tools.render import SKIP_MEANING
from consumer.pipeline import Pipeline
from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.server import Simulator
from consumer.settings import Settings
from tests.integration.conftest import SIM_API_KEY, StartSimulator
from tests.kafka_helpers import (
    Outgoing,
    committed_offsets,
    create_topics,
    event_record,
    produce,
    read_topic,
    service_topics,
    unique_topic,
)
from tests.service_helpers import running_service, service_settings, wait_until

PHONES = {"FirstPhone": "0383218199"}
Cli = Callable[..., Awaitable[tuple[str, str]]]


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="leadsync")
    dlq.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dlq", *argv])
    code: int = args.handler(args)
    return code


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[[Settings], Cli]:
    """``run = cli(settings); out, err = await run("list", "--json")`` (exit 0 asserted)."""

    def bind(settings: Settings) -> Cli:
        monkeypatch.setenv("LEADSYNC_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
        monkeypatch.setenv("LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE", "false")  # Tansu
        monkeypatch.setenv("LEADSYNC_SOURCE_TOPIC", settings.source_topic)
        monkeypatch.setenv("LEADSYNC_GROUP_ID", settings.group_id)
        for name in ("LEADSYNC_NOOJEE_URL", "LEADSYNC_NOOJEE_API_KEY", "LEADSYNC_DLQ_TOPIC"):
            monkeypatch.delenv(name, raising=False)

        async def run(*argv: str, expect: int = 0) -> tuple[str, str]:
            capsys.readouterr()
            code = await asyncio.to_thread(run_cli, list(argv))
            out, err = capsys.readouterr()
            assert code == expect, f"leadsync dlq {' '.join(argv)} exited {code}: {err}"
            return out, err

        return run

    return bind


async def log_ends(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's high watermark, from a fetch (Tansu's ListOffsets is not the log end)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning()
        ends: dict[int, int] = {}
        while len(ends) < len(tps):
            await consumer.getmany(timeout_ms=200)
            ends = {tp.partition: hw for tp in tps if (hw := consumer.highwater(tp)) is not None}
        return ends
    finally:
        await consumer.stop()


async def all_topics(bootstrap: str) -> set[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        topics: set[str] = await consumer.topics()
        return topics
    finally:
        await consumer.stop()


async def start(
    broker: EmbeddedBroker, simulator: StartSimulator, records: list[Outgoing], **declared: Any
) -> tuple[Simulator, Settings]:
    topic = unique_topic()
    await create_topics(broker.bootstrap, service_topics(topic, 3, dlq_partitions=2))
    await produce(broker.bootstrap, topic, records)
    sim = await simulator(threads=16, min_service_ms=1, **declared)
    settings = service_settings(
        broker.bootstrap, topic, sim.url, SIM_API_KEY, rate_limit=5000, max_concurrency=8
    )
    return sim, settings


async def settled(pipeline: Pipeline, finished: int) -> None:
    await wait_until(lambda: pipeline.counts.finished >= finished, timeout_s=40, what="events")
    await wait_until(lambda: pipeline.in_flight == 0, timeout_s=10, what="idle")


def applied_notes(sim: Simulator, lead: str) -> list[object]:
    return [update.body.get("Note") for update in sim.state.applied(lead)]


async def test_replay_by_reason_after_the_fix_applies_each_dead_letter_once(
    kafka_broker: EmbeddedBroker, simulator: StartSimulator, cli: Callable[[Settings], Cli]
) -> None:
    unknown = [f"U-{i}" for i in range(100)]
    promo = [f"D-{i}" for i in range(80)]
    twice = [f"W-{i}" for i in range(10)]  # two dead-lettered events each: order matters
    zone = [f"T-{i}" for i in range(100)]
    good = [f"G-{i}" for i in range(50)]
    records = [event_record(lead, phones=PHONES, disposition="Sale") for lead in unknown + good]
    records += [event_record(lead, phones=PHONES, disposition="Promo") for lead in promo]
    for note in ("first", "second"):
        records += [
            event_record(lead, phones=PHONES, disposition="Promo", fields={"Note": note})
            for lead in twice
        ]
    records += [event_record(lead, phones=PHONES, contact_hours="Australia/Perth") for lead in zone]
    records += [Outgoing(f"BAD-{i}".encode(), b"not json") for i in range(5)]
    sim, settings = await start(
        kafka_broker,
        simulator,
        records,
        unknown_leads=frozenset(unknown),
        valid_dispositions=frozenset({"Sale"}),
        valid_contact_hours=frozenset({"Australia/Melbourne"}),
    )
    run = cli(settings)
    dlq_topic = settings.dead_letter_topic
    async with running_service(settings) as pipeline:
        await settled(pipeline, len(records))
        assert pipeline.counts.applied == len(good)

        out, err = await run("list", "--json")
        listed = json.loads(out)
        assert listed["total"] == 305
        assert listed["counts"] == {
            "COULDNT_FIND_THE_LEAD": 100,
            "INVALID_DISPOSTION": 100,
            "INVALID_TIMEZONE_SPECIFIED": 100,
            "INVALID_EVENT": 5,
        }
        assert f"reading {dlq_topic}: 305/305" in err  # plain progress off a terminal
        one = next(item for item in listed["dead_letters"] if item["lead_id"] == "W-3")
        out, _ = await run("show", f"{one['dlq_partition']}:{one['dlq_offset']}")
        assert "Create the disposition in the campaign" in out
        assert '"lead_id": "W-3"' in out
        out, _ = await run("list", "--lead", "W-3", "--json")
        assert [item["reason"] for item in json.loads(out)["dead_letters"]] == [
            "INVALID_DISPOSTION"
        ] * 2
        out, _ = await run("list", "--dlq-partition", "1", "--from-offset", "3",
                                 "--to-offset", "5", "--json")  # fmt: skip
        assert [(d["dlq_partition"], d["dlq_offset"]) for d in json.loads(out)["dead_letters"]] == [
            (1, 3), (1, 4), (1, 5)
        ]  # fmt: skip

        sim.state.update_config(
            {
                "unknown_leads": [],
                "valid_dispositions": ["Sale", "Promo"],
                "valid_contact_hours": ["Australia/Melbourne", "Australia/Perth"],
            }
        )
        dlq_before = await log_ends(kafka_broker.bootstrap, dlq_topic)
        out, err = await run("replay", "--reason", "COULDNT_FIND_THE_LEAD")
        assert out.splitlines()[0] == "replayed 100 of 100 selected dead letters"
        out, err = await run(
            "replay", "--reason", "invalid_dispostion,INVALID_TIMEZONE_SPECIFIED", "--rate", "2000"
        )
        assert out.splitlines()[0] == "replayed 200 of 200 selected dead letters"
        assert f"replaying to {settings.source_topic}: 200/200" in err
        await settled(pipeline, len(records) + 300)
        assert pipeline.counts.applied == len(good) + 300

        out, _ = await run("replay", "--reason", "COULDNT_FIND_THE_LEAD")
        assert out.splitlines()[:3] == [
            "replayed 0 of 100 selected dead letters",
            "skipped 100:",
            "       100  already_replayed: a replay of it is already in the source topic",
        ]
        await asyncio.sleep(0.5)  # time for a replay to be taken (there must be none)
        assert pipeline.counts.finished == len(records) + 300
    assert await log_ends(kafka_broker.bootstrap, dlq_topic) == dlq_before
    for lead in unknown + promo + zone + good:
        assert len(sim.state.applied(lead)) == 1, lead
    for lead in twice:
        assert applied_notes(sim, lead) == ["first", "second"], lead
    assert sum(sim.state.applied_counts().values()) == len(good) + 300


async def test_superseded_dead_letters_are_skipped_unless_included_and_a_dry_run_writes_nothing(
    kafka_broker: EmbeddedBroker, simulator: StartSimulator, cli: Callable[[Settings], Cli]
) -> None:
    newer = [f"S-{i}" for i in range(5)]
    records = []
    for lead in newer:  # an old update that failed, then a newer one that was applied
        records.append(
            event_record(lead, phones=PHONES, disposition="Promo", fields={"Note": "old"})
        )
        records.append(
            event_record(lead, phones=PHONES, disposition="Sale", fields={"Note": "new"})
        )
    crm_headers = [
        ("crm.source", b"outbox"),
        ("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01"),
    ]
    lonely = event_record("P-1", phones=PHONES, disposition="Promo", fields={"Note": "only"})
    records.append(Outgoing(lonely.key, lonely.value, headers=crm_headers))
    sim, settings = await start(
        kafka_broker, simulator, records, valid_dispositions=frozenset({"Sale"})
    )
    run = cli(settings)
    topic, dlq_topic = settings.source_topic, settings.dead_letter_topic
    async with running_service(settings) as pipeline:
        await settled(pipeline, len(records))
        await asyncio.sleep(3 * settings.commit_interval_s)  # let the last commit land
        sim.state.update_config({"valid_dispositions": ["Sale", "Promo"]})

        async def world() -> tuple[object, ...]:
            return (
                await all_topics(kafka_broker.bootstrap),
                await log_ends(kafka_broker.bootstrap, topic),
                await log_ends(kafka_broker.bootstrap, dlq_topic),
                await committed_offsets(kafka_broker.bootstrap, settings.group_id, topic, range(3)),
            )

        before = await world()
        out, _ = await run("replay", "--all", "--dry-run")
        lines = out.splitlines()
        assert sum(line.startswith("skip   ") and ": superseded: " in line for line in lines) == 5
        assert any(line.startswith("replay ") and "lead P-1 " in line for line in lines)
        assert "would replay 1 of 6 selected dead letters" in lines
        assert lines[-1] == "dry run: nothing was written"
        out, _ = await run("replay", "--all", "--dry-run", "--include-superseded", "--json")
        assert json.loads(out)["replayed"] == 6
        assert await world() == before

        out, _ = await run("replay", "--all")
        assert out.splitlines()[:3] == [
            "replayed 1 of 6 selected dead letters",
            "skipped 5:",
            f"         5  superseded: {SKIP_MEANING[SkipReason.SUPERSEDED]}",
        ]
        await settled(pipeline, len(records) + 1)
        assert applied_notes(sim, "P-1") == ["only"]
        for lead in newer:
            assert applied_notes(sim, lead) == ["new"]  # the newer data stays

        out, _ = await run("replay", "--all", "--include-superseded")
        assert out.splitlines()[:3] == [
            "replayed 5 of 6 selected dead letters",
            "skipped 1:",
            "         1  already_replayed: a replay of it is already in the source topic",
        ]
        await settled(pipeline, len(records) + 6)
        for lead in newer:
            assert applied_notes(sim, lead) == ["new", "old"]  # what the operator asked for

    replays = [r for r in await read_topic(kafka_broker.bootstrap, topic, expect=len(records) + 6)
               if any(name == REPLAY_COUNT for name, _ in r.headers)]  # fmt: skip
    assert len(replays) == 6
    replay = next(r for r in replays if r.key == b"P-1")
    assert replay.value == lonely.value
    headers = dict(replay.headers)
    assert headers["crm.source"] == b"outbox"
    assert headers["traceparent"] == crm_headers[1][1]
    assert headers[REPLAY_COUNT] == b"1"
    assert headers[REPLAY_AT].endswith(b"Z")
    assert int(headers[REPLAY_ORIGIN_OFFSET]) < replay.offset
    assert not any(name.startswith(("leadsync.dlq.", "leadsync.source.")) for name in headers)
    dead = await read_topic(kafka_broker.bootstrap, dlq_topic, expect=6)
    source = {(r.partition, r.offset): r for r in dead}
    letter = source[int(headers[REPLAY_DLQ_PARTITION]), int(headers[REPLAY_DLQ_OFFSET])]
    assert letter.value == lonely.value


async def test_a_replay_that_keeps_failing_stops_at_max_replays_unless_forced(
    kafka_broker: EmbeddedBroker, simulator: StartSimulator, cli: Callable[[Settings], Cli]
) -> None:
    records = [event_record("L-1", phones=PHONES, disposition="Sale")]
    _, settings = await start(kafka_broker, simulator, records, unknown_leads=frozenset({"L-1"}))
    run = cli(settings)
    async with running_service(settings) as pipeline:
        await settled(pipeline, 1)
        for round_ in range(1, 4):  # the cause is never fixed: each replay fails again
            out, _ = await run("replay", "--lead", "L-1")
            assert out.splitlines()[0] == f"replayed 1 of {round_} selected dead letters"
            await settled(pipeline, 1 + round_)
        out, _ = await run("replay", "--lead", "L-1", "--dry-run")
        assert "would replay 0 of 4 selected dead letters" in out
        assert "max_replays: replayed 3 times already and failed each time" in out
        out, _ = await run("list", "--lead", "L-1", "--json")
        assert [d["replay_count"] for d in json.loads(out)["dead_letters"]] == [0, 1, 2, 3]
        out, _ = await run("replay", "--lead", "L-1", "--force")
        assert out.splitlines()[0] == "replayed 1 of 4 selected dead letters"
        await settled(pipeline, 5)
    assert pipeline.counts.dead_lettered == {"COULDNT_FIND_THE_LEAD": 5}


async def test_missing_records_and_topics_are_reported_plainly(
    kafka_broker: EmbeddedBroker,
    cli: Callable[[Settings], Cli],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = unique_topic()
    await create_topics(kafka_broker.bootstrap, service_topics(topic, 1))
    run = cli(service_settings(kafka_broker.bootstrap, topic, "http://127.0.0.1:9", "unused"))
    out, _ = await run("list")
    assert out.splitlines()[-1] == "0 dead letters selected"
    out, _ = await run("replay", "--all")
    assert out.splitlines() == ["replayed 0 of 0 selected dead letters"]
    _, err = await run("show", "0:5", expect=1)
    assert err == f"leadsync dlq: {topic}.dlq has no record at 0:5\n"
    _, err = await run("show", "3:0", expect=1)
    assert err == f"leadsync dlq: topic '{topic}.dlq' has no partition 3 (it has 1)\n"
    monkeypatch.setenv("LEADSYNC_DLQ_TOPIC", f"{topic}.nope")
    _, err = await run("list", expect=1)
    assert err == f"leadsync dlq: topic '{topic}.nope' does not exist\n"

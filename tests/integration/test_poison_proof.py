"""Nothing a producer sends stops the sync, and no fault path loses an event (issue 14).

Each test runs the real service in this process against the test broker and the
simulated PBX, and fails on the code before the issue was fixed.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from typing import Any

import pytest
from aiohttp import web

from consumer.errors import EXIT_CRASH, EXIT_INTERNAL_ERRORS, ServiceFailed
from consumer.intake.committer import Committer
from consumer.pbx.client import CallResult, NoojeeClient
from consumer.sandbox.broker import EmbeddedBroker
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from contracts import deadletter as h
from contracts.deadletter import parse_dead_letter_headers
from contracts.noojee import UpdateLeadFast
from tests.kafka_helpers import (
    Outgoing,
    RawHeaderName,
    committed_offsets,
    create_topics,
    event_record,
    produce,
    raw_header_names,
    read_topic,
    service_topics,
    unique_topic,
)
from tests.oracle import applied_histories, verify
from tests.service_helpers import running_service, service_settings, started_service, wait_until


def numbered(lead: str, seq: int, **fields: Any) -> Outgoing:
    return event_record(
        lead, phones={"FirstPhone": "0383218199"}, fields={"Seq": str(seq)}, **fields
    )


async def topics(broker: EmbeddedBroker, partitions: int = 2) -> str:
    topic = unique_topic()
    await create_topics(broker.bootstrap, service_topics(topic, partitions))
    return topic


async def test_a_header_name_that_is_not_utf8_is_dead_lettered_and_its_partition_goes_on(
    kafka_broker: EmbeddedBroker,
) -> None:
    # aiokafka's reader raised UnicodeDecodeError out of getmany for such a record, on
    # every poll: the service crashed, and every restart crashed on it again.
    topic = await topics(kafka_broker, partitions=1)
    good = [numbered("H-1", seq) for seq in range(20)]
    bad = Outgoing(
        b"H-2",
        numbered("H-2", 0).value,
        headers=[(RawHeaderName(b"\xff\xfecrm"), b"x"), ("crm.source", b"outbox")],  # type: ignore[list-item]
    )
    records = [*good[:10], bad, *good[10:]]
    with raw_header_names():
        produced = await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    async with run_simulator(SimulatorConfig(api_key=key, threads=8, min_service_ms=1)) as sim:
        settings = service_settings(kafka_broker.bootstrap, topic, sim.url, key)
        async with running_service(settings) as pipeline:
            await wait_until(
                lambda: pipeline.counts.finished >= len(records), timeout_s=60, what="all"
            )
        histories = applied_histories(sim.state, ["H-1", "H-2"])
    assert histories["H-1"] == [str(seq) for seq in range(20)]
    assert histories["H-2"] == []
    dead = await read_topic(kafka_broker.bootstrap, f"{topic}.dlq", expect=1)
    assert len(dead) == 1
    headers = parse_dead_letter_headers(dead[0].headers)
    assert headers[h.REASON] == "INVALID_EVENT"
    assert "header name is not UTF-8" in headers[h.MESSAGE]
    assert dead[0].value == bad.value
    # The name travels escaped (Kafka header names are UTF-8); the rest unchanged.
    assert ("\\xff\\xfecrm", b"x") in dead[0].headers
    assert ("crm.source", b"outbox") in dead[0].headers
    committed = await committed_offsets(kafka_broker.bootstrap, settings.group_id, topic, [0])
    assert committed == produced.log_end


async def test_after_a_freeze_a_new_group_resumes_at_the_first_unfinished_event(
    kafka_broker: EmbeddedBroker,
) -> None:
    # Issue 14, item 3: after a freeze the process fences itself; still a member a
    # session later, it used to resume "from the commits", which aiokafka skips for a
    # partition with none. Records fetched while fenced, and the unfinished ones, were
    # then committed past: neither applied nor dead-lettered.
    topic = await topics(kafka_broker)
    leads = [f"F-{n}" for n in range(10)]
    first = [numbered(leads[n % 10], n) for n in range(100)]
    then = [numbered(leads[n % 10], n) for n in range(100, 200)]
    produced = await produce(kafka_broker.bootstrap, topic, first)
    key = secrets.token_hex(8)
    # Slow calls, one lead at a time per lane: at the freeze most events are unfinished,
    # and nothing has been committed yet (a brand-new group).
    config = SimulatorConfig(api_key=key, threads=4, min_service_ms=150)
    async with run_simulator(config) as sim:
        settings = service_settings(kafka_broker.bootstrap, topic, sim.url, key, max_concurrency=2)
        async with running_service(settings) as pipeline:
            await wait_until(
                lambda: pipeline.counts.applied >= 2, timeout_s=30, what="the first calls"
            )
            skew = pipeline.freeze_watch.session_s + 1.0
            pipeline.freeze_watch.clock = lambda: time.monotonic() + skew  # the freeze
            await wait_until(lambda: not pipeline.assigned, timeout_s=5, what="the fence")
            produced.placements += (await produce(kafka_broker.bootstrap, topic, then)).placements
            await wait_until(
                lambda: bool(pipeline.assigned),
                timeout_s=pipeline.freeze_watch.session_s + 10,
                what="the partitions taken up again",
            )
            await wait_until(
                lambda: (
                    sum(len(sim.state.applied(lead)) > 0 for lead in leads) == 10
                    and all(
                        str(seq)
                        in [str(u.body.get("Seq")) for u in sim.state.applied(leads[seq % 10])]
                        for seq in range(200)
                    )
                ),
                timeout_s=90,
                what="every event applied",
            )
        histories = applied_histories(sim.state, leads)
    committed = await committed_offsets(kafka_broker.bootstrap, settings.group_id, topic, [0, 1])
    verdict = verify(
        [r.value for r in [*first, *then]],
        histories,
        [],
        allow_duplicates=True,  # calls on the wire at the freeze are sent again
        committed=committed,
        log_end=produced.log_end,
    )
    verdict.assert_ok()


def raising_for(monkeypatch: pytest.MonkeyPatch, leads: set[str]) -> None:
    """The PBX client raises for calls of ``leads``: a bug somewhere below the worker."""
    send = NoojeeClient.update_lead_fast

    async def failing(client: NoojeeClient, request: UpdateLeadFast) -> CallResult:
        if request.lead_id in leads:
            raise ZeroDivisionError(f"boom for {request.lead_id}")
        result: CallResult = await send(client, request)
        return result

    monkeypatch.setattr(NoojeeClient, "update_lead_fast", failing)


async def test_an_internal_error_dead_letters_its_event_and_the_sync_goes_on(
    kafka_broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    raising_for(monkeypatch, {"I-3"})
    topic = await topics(kafka_broker)
    records = [numbered(f"I-{n % 5}", n) for n in range(50)]
    produced = await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    async with run_simulator(SimulatorConfig(api_key=key, threads=8, min_service_ms=1)) as sim:
        settings = service_settings(kafka_broker.bootstrap, topic, sim.url, key)
        pipeline, service = await started_service(settings)
        await wait_until(lambda: pipeline.counts.finished >= 50, timeout_s=60, what="all")
        pipeline.request_stop()
        assert await asyncio.wait_for(service, timeout=30) == 0
        histories = applied_histories(sim.state, [f"I-{n}" for n in range(5)])
    dead = await read_topic(kafka_broker.bootstrap, f"{topic}.dlq", expect=10)
    assert len(dead) == 10  # I-3's ten events, one dead letter each
    for record in dead:
        headers = parse_dead_letter_headers(record.headers)
        assert headers[h.REASON] == "INTERNAL_ERROR"
        assert "ZeroDivisionError: boom for I-3" in headers[h.MESSAGE]
        assert "ZeroDivisionError" in headers[h.TRACEBACK]
        assert 'File "' in headers[h.TRACEBACK]
    committed = await committed_offsets(kafka_broker.bootstrap, settings.group_id, topic, [0, 1])
    verify(
        [r.value for r in records],
        histories,
        dead,
        committed=committed,
        log_end=produced.log_end,
    ).assert_ok()


async def test_a_run_of_internal_errors_stops_the_service_with_exit_5_committing_none(
    kafka_broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    raising_for(monkeypatch, {f"R-{n}" for n in range(30)})
    topic = await topics(kafka_broker, partitions=1)
    records = [numbered(f"R-{n}", n) for n in range(30)]
    await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    async with run_simulator(SimulatorConfig(api_key=key, threads=8, min_service_ms=1)) as sim:
        settings = service_settings(
            kafka_broker.bootstrap, topic, sim.url, key, max_consecutive_internal_errors=5
        )
        _, service = await started_service(settings)
        assert await asyncio.wait_for(service, timeout=60) == EXIT_INTERNAL_ERRORS
    dead = await read_topic(kafka_broker.bootstrap, f"{topic}.dlq", expect=4, timeout_s=5)
    assert len(dead) == 4  # the fifth in a row stopped it instead
    committed = await committed_offsets(kafka_broker.bootstrap, settings.group_id, topic, [0])
    assert (committed[0] or 0) <= 4  # nothing past the failing events


async def test_a_committer_that_dies_stops_the_service(
    kafka_broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loose tasks died unnoticed: a dead committer left every offset uncommitted.
    topic = await topics(kafka_broker, partitions=1)
    key = secrets.token_hex(8)
    async with run_simulator(SimulatorConfig(api_key=key, threads=8, min_service_ms=1)) as sim:
        settings = service_settings(kafka_broker.bootstrap, topic, sim.url, key)
        pipeline, service = await started_service(settings)

        async def broken(self: Committer, only: object = None) -> bool:
            raise RuntimeError("the commit policy has a bug")

        monkeypatch.setattr(Committer, "commit", broken)
        assert await asyncio.wait_for(service, timeout=30) == EXIT_CRASH
    assert isinstance(pipeline.fatal, ServiceFailed)
    assert "the committer failed" in str(pipeline.fatal)


async def test_a_dead_letter_too_large_for_its_topic_goes_without_its_value(
    kafka_broker: EmbeddedBroker,
) -> None:
    # The test broker does not enforce max.message.bytes, so the producer's own limit
    # (LEADSYNC_DLQ_MAX_MESSAGE_BYTES, its max_request_size) refuses the record here:
    # the same MessageSizeTooLargeError a broker answers. It used to be retried forever,
    # and the partition's commit stuck behind it.
    topic = await topics(kafka_broker, partitions=1)
    big = {"event_id": "e", "lead_id": "B-1", "occurred_at": "2026-11-26T10:15:00Z"}
    large = Outgoing(b"B-1", json.dumps({**big, "attachment": "x" * 20_000}).encode())
    records = [numbered("B-0", 0), large, numbered("B-0", 1)]
    produced = await produce(kafka_broker.bootstrap, topic, records)
    key = secrets.token_hex(8)
    async with run_simulator(SimulatorConfig(api_key=key, threads=8, min_service_ms=1)) as sim:
        settings = service_settings(
            kafka_broker.bootstrap, topic, sim.url, key, dlq_max_message_bytes=10_000
        )
        async with running_service(settings) as pipeline:
            await wait_until(lambda: pipeline.counts.finished >= 3, timeout_s=30, what="all")
        assert applied_histories(sim.state, ["B-0"])["B-0"] == ["0", "1"]
    dead = await read_topic(kafka_broker.bootstrap, f"{topic}.dlq", expect=1)
    assert len(dead) == 1
    headers = parse_dead_letter_headers(dead[0].headers)
    assert dead[0].value is None
    assert dead[0].key == b"B-1"
    assert int(headers[h.VALUE_OMITTED]) == len(large.value or b"")
    assert headers[h.REASON] == "INVALID_EVENT"
    assert (headers[h.SOURCE_PARTITION], headers[h.SOURCE_OFFSET]) == ("0", "1")
    assert len(headers[h.MESSAGE].encode()) <= h.MAX_MESSAGE_BYTES
    committed = await committed_offsets(kafka_broker.bootstrap, settings.group_id, topic, [0])
    assert committed == produced.log_end


async def test_a_merge_the_pbx_cannot_take_sends_its_events_one_by_one(
    kafka_broker: EmbeddedBroker,
) -> None:
    # Each event alone is valid; merged, a field of the second would collide with a
    # phone of the first. Both used to be dead-lettered together as INVALID_REQUEST.
    topic = await topics(kafka_broker, partitions=1)
    lead = "M-1"
    records = [
        event_record(lead, phones={"Mobile": "0400000001"}, fields={"Seq": "0"}),
        event_record(lead, fields={"Seq": "1", "mobile": "note"}),
    ]
    key = secrets.token_hex(8)
    config = SimulatorConfig(api_key=key, threads=8, min_service_ms=1, hold_leads={"M-0": 1.0})
    async with run_simulator(config) as sim:
        settings = service_settings(
            kafka_broker.bootstrap, topic, sim.url, key, coalesce=True, max_concurrency=1
        )
        blocker = [event_record("M-0", phones={"FirstPhone": "1"}, fields={"Seq": "0"})]
        # The held call for M-0 keeps the single slot, so M-1's two events are both
        # waiting when the first of them gets it: the moment a merge is tried.
        await produce(kafka_broker.bootstrap, topic, [*blocker, *records])
        async with running_service(settings) as pipeline:
            await wait_until(lambda: pipeline.counts.finished >= 3, timeout_s=30, what="all")
        assert applied_histories(sim.state, [lead])[lead] == ["0", "1"]
    assert await read_topic(kafka_broker.bootstrap, f"{topic}.dlq", expect=0, timeout_s=1) == []


async def test_a_pbx_answer_echoing_the_key_is_redacted_in_the_dead_letter(
    kafka_broker: EmbeddedBroker,
) -> None:
    # A proxy's error page that quotes the request line carried apiKey into
    # leadsync.dlq.response, and so into dlq show.
    key = "k3y-" + secrets.token_hex(8)

    async def echo(request: web.Request) -> web.Response:
        return web.Response(
            status=404,
            text=f"<html>No route for POST {request.path_qs} (key {key})</html>",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_post("/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        topic = await topics(kafka_broker, partitions=1)
        await produce(kafka_broker.bootstrap, topic, [numbered("K-1", 0)])
        settings = service_settings(kafka_broker.bootstrap, topic, f"http://127.0.0.1:{port}", key)
        async with running_service(settings) as pipeline:
            await wait_until(lambda: pipeline.counts.finished >= 1, timeout_s=30, what="one")
    finally:
        await runner.cleanup()
    dead = await read_topic(kafka_broker.bootstrap, f"{topic}.dlq", expect=1)
    headers = parse_dead_letter_headers(dead[0].headers)
    assert headers[h.REASON] == "HTTP_404"
    assert key not in json.dumps(headers)
    assert re.search(r"apiKey=REDACTED", headers[h.RESPONSE]), headers[h.RESPONSE]
    assert "(key REDACTED)" in headers[h.RESPONSE]


pytestmark = pytest.mark.timeout(180)

"""Scenario 10: poison records mixed into 5,000 good ones."""

from __future__ import annotations

import json

import pytest

from contracts import deadletter as h
from contracts.deadletter import parse_dead_letter_headers
from tests.faults.conftest import MakeStage
from tests.faults.harness import until_applied
from tests.kafka_helpers import Outgoing, read_topic

_EVENT = {"event_id": "e-1", "lead_id": "POISON", "occurred_at": "2026-11-26T10:15:00Z"}
ONE_MIB = 1 << 20

# value -> what its dead letter's message must name
POISONS: list[tuple[bytes | None, str]] = [
    (b"CRM outbox row 17 {not json", "JSON"),
    (b"\xff\xfe\x00 binary", "UTF-8"),
    (json.dumps({**_EVENT, "priority": "high"}).encode(), "priority"),
    (json.dumps({k: v for k, v in _EVENT.items() if k != "occurred_at"}).encode(), "occurred_at"),
    (json.dumps({**_EVENT, "attachment": "x" * ONE_MIB}).encode(), "attachment"),
    (None, "value"),
]


@pytest.mark.timeout(300)
async def test_poison_records_are_dead_lettered_once_with_their_reason_good_ones_applied(
    stage: MakeStage,
) -> None:
    poisons = POISONS * 2
    spacing = 5000 // (2 * len(poisons))
    extra = [
        (spacing * (2 * i + 1), Outgoing(f"POISON-{i}".encode(), value))
        for i, (value, _) in enumerate(poisons)
    ]
    st = await stage(
        events=5000,
        leads=500,
        partitions=4,
        seed=10,
        extra=extra,
        sim={"threads": 40, "min_service_ms": 2, "max_service_ms": 5},
        max_concurrency=16,
    )
    assert st.load.produced is not None
    placed = {st.load.produced.placements[position]: record.value for position, record in extra}
    name = st.fleet.start()
    await until_applied(st.sim, st.load, timeout_s=240)
    await st.until_committed()
    log = st.fleet.log(name)
    assert await st.fleet.stop(name, timeout_s=40) == 0, log[-3000:]

    verdict = await st.judge(dead_letters=len(extra))
    dead = await read_topic(st.bootstrap, f"{st.load.topic}.dlq", expect=len(extra))
    named = dict(POISONS)
    seen: dict[tuple[int, int], str] = {}
    for record in dead:
        headers = parse_dead_letter_headers(record.headers)
        source = (int(headers[h.SOURCE_PARTITION]), int(headers[h.SOURCE_OFFSET]))
        assert source not in seen, f"{source} dead-lettered twice"
        seen[source] = headers[h.REASON]
        assert record.value == placed[source]
        assert headers[h.REASON] == "INVALID_EVENT"
        assert named[record.value] in headers[h.MESSAGE], headers[h.MESSAGE]
    print(
        f"scenario 10: {verdict.applied} good events applied, {len(seen)} poison records "
        f"dead-lettered once each ({verdict.duplicates} duplicates)"
    )
    verdict.assert_ok()
    assert set(seen) == set(placed)
    assert verdict.duplicates == 0

"""Scenario 10: a corpus of hostile records (tests/hostile.py) mixed into 5,000 good events.

``leadsync run`` must stay up, apply every good event, dead-letter every hostile
record exactly once with its reason, and commit to the log end.
"""

from __future__ import annotations

import time

import pytest

from contracts import deadletter as h
from contracts.deadletter import parse_dead_letter_headers
from tests.faults.conftest import MakeStage
from tests.faults.harness import until_applied
from tests.hostile import CORPUS
from tests.kafka_helpers import raw_header_names, read_topic


@pytest.mark.timeout(300)
async def test_hostile_records_are_dead_lettered_once_with_their_reason_good_ones_applied(
    stage: MakeStage,
) -> None:
    spacing = 5000 // (len(CORPUS) + 1)
    extra = [(spacing * (i + 1), hostile.record) for i, hostile in enumerate(CORPUS)]
    with raw_header_names():  # one kind has a header name that is not UTF-8
        st = await stage(
            events=5000,
            leads=500,
            partitions=4,
            seed=10,
            extra=extra,
            sim={"threads": 40, "min_service_ms": 2, "max_service_ms": 5},
            max_concurrency=16,
        )
    began = time.monotonic()
    name = st.fleet.start()
    await until_applied(st.sim, st.load, timeout_s=240)
    await st.until_committed()
    elapsed = time.monotonic() - began
    log = st.fleet.log(name)
    assert st.fleet.members[name].process.poll() is None, "it stopped:\n" + log[-3000:]
    assert await st.fleet.stop(name, timeout_s=40) == 0, log[-3000:]

    verdict = await st.judge(dead_letters=len(extra))
    dead = await read_topic(st.bootstrap, f"{st.load.topic}.dlq", expect=len(extra))
    by_key = {hostile.record.key: hostile for hostile in CORPUS}
    seen: dict[bytes | None, int] = {}
    for record in dead:
        hostile = by_key[record.key]
        seen[record.key] = seen.get(record.key, 0) + 1
        headers = parse_dead_letter_headers(record.headers)
        assert headers[h.REASON] == "INVALID_EVENT", hostile.kind
        assert hostile.named in headers[h.MESSAGE], (hostile.kind, headers[h.MESSAGE])
        assert len(headers[h.MESSAGE].encode()) <= h.MAX_MESSAGE_BYTES
        assert h.added_headers_size(record.headers) <= h.MAX_HEADERS_BYTES
        assert record.value == hostile.record.value, hostile.kind  # kept byte for byte
    twice = {key: count for key, count in seen.items() if count != 1}
    assert twice == {}, f"dead-lettered more than once: {twice}"
    assert set(seen) == set(by_key), f"not dead-lettered: {set(by_key) - set(seen)}"
    print(
        f"scenario 10: {len(CORPUS)} kinds of hostile record among {verdict.applied} good "
        f"events: {len(dead)} dead letters, each once; all good events applied; committed "
        f"to the log end in {elapsed:.1f} s; the process stayed up"
    )
    verdict.assert_ok()
    assert verdict.duplicates == 0

"""The simulator's pure parts: options, the lead store's decision table, counters, FIFO gate.

Rows cite the line of docs/reference/noojee-api.md (or of
docs/reference/simulator-api.md where the vendor is silent) that they check.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.sandbox.simulator.config import (
    ConfigError,
    SimulatorConfig,
    apply_update,
    config_to_json,
)
from consumer.sandbox.simulator.server import FifoGate
from consumer.sandbox.simulator.state import SimulatorState
from consumer.sandbox.simulator.store import LeadStore, response_of
from contracts.noojee import NO_CHANGE, Endpoint, NoojeeCode

KEY = "unit-key-91b2"
PHONE = "0383218199"


def config(**options: Any) -> SimulatorConfig:
    return SimulatorConfig(api_key=KEY, **options)


def lead(lead_id: str = "L1", **fields: Any) -> dict[str, Any]:
    return {"njExternalLeadId": lead_id, "njDisposition": "Sale", "FirstPhone": PHONE, **fields}


# --- options -----------------------------------------------------------------


def test_defaults_follow_the_vendor() -> None:
    """'at most (PBX hardware threads / 2)', 'no call ... under 100 ms', 'queued ... 1 minute'."""
    default = config()
    assert (default.capacity, default.min_service_ms, default.queue_timeout_s) == (4, 100, 60)
    assert config(threads=1).capacity == 1
    assert KEY not in repr(default)
    assert KEY not in json.dumps(config_to_json(default))


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"api_key": ""}, "api_key"),
        ({"threads": 0}, "threads"),
        ({"min_service_ms": -1}, "min_service_ms"),
        ({"min_service_ms": 50, "max_service_ms": 10}, "max_service_ms"),
        ({"queue_timeout_s": 0}, "queue_timeout_s"),
        ({"error_ratio": 1.5}, "error_ratio"),
        ({"spike_ratio": float("nan")}, "spike_ratio"),
        ({"outage": "down"}, "outage"),
        ({"phone_fields": ()}, "phone_fields"),
        ({"conflict_leads": {"L1": -1}}, "conflict_leads"),
        ({"hold_leads": {"L1": float("inf")}}, "hold_leads"),
    ],
)
def test_invalid_options_are_refused_by_name(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        SimulatorConfig(**{"api_key": KEY, **options})


def test_admin_update_is_partial_and_typed() -> None:
    updated = apply_update(
        config(valid_dispositions=frozenset({"Sale"})),
        {"dnc_numbers": ["1", "2"], "valid_dispositions": None, "error_ratio": 0.5},
    )
    assert updated.dnc_numbers == frozenset({"1", "2"})
    assert (updated.valid_dispositions, updated.error_ratio, updated.threads) == (None, 0.5, 8)


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        ([], "JSON object"),
        ({"threads": 4}, "unknown option(s) threads"),
        ({"never_dialled": "L1"}, "never_dialled must be a list of strings"),
        ({"unknown_leads": None}, "unknown_leads"),
        ({"conflict_leads": {"L1": 1.5}}, "conflict_leads"),
        ({"hold_leads": {"L1": "long"}}, "hold_leads"),
        ({"spike_ms": True}, "spike_ms must be a number"),
        ({"outage": 503}, "outage"),
        ({"min_service_ms": 500}, "max_service_ms"),  # max (100) would fall under min
    ],
)
def test_admin_update_errors_name_the_option(doc: object, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        apply_update(config(max_service_ms=100), doc)


# --- the lead store: response codes -------------------------------------------------


@pytest.mark.parametrize(
    ("options", "body", "code"),
    [
        ({}, lead(), NoojeeCode.OK),
        ({"unknown_leads": frozenset({"L1"})}, lead(), NoojeeCode.COULDNT_FIND_THE_LEAD),
        ({"known_leads": frozenset()}, lead(), NoojeeCode.COULDNT_FIND_THE_LEAD),
        ({}, lead(njExternalLeadId=7), NoojeeCode.COULDNT_FIND_THE_LEAD),
        ({"duplicate_external_ids": frozenset({"L1"})}, lead(), NoojeeCode.DUPLICATE_EXTERNAL_ID),
        ({}, {"njExternalLeadId": "L1", "njDisposition": "Sale"}, NoojeeCode.NO_PHONE_FIELDS),
        ({"phone_fields": ("Mobile",)}, lead(), NoojeeCode.NO_PHONE_FIELDS),
        ({"dnc_numbers": frozenset({PHONE})}, lead(), NoojeeCode.DNC),
        ({"dnc_numbers": frozenset({NO_CHANGE})}, lead(FirstPhone=NO_CHANGE), NoojeeCode.OK),
        ({"duplicate_numbers": frozenset({"2"})}, lead(SecondPhone="2"), NoojeeCode.DUPLICATE),
        ({"valid_dispositions": frozenset()}, lead(), NoojeeCode.INVALID_DISPOSTION),
        ({}, {"njExternalLeadId": "L1", "FirstPhone": PHONE}, NoojeeCode.INVALID_DISPOSTION),
        ({"valid_dispositions": frozenset()}, lead(njDisposition=NO_CHANGE), NoojeeCode.OK),
        (
            {"never_dialled": frozenset({"L1"})},
            lead(njDisposition=NO_CHANGE),
            NoojeeCode.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED,
        ),
        (
            {"importing_leads": frozenset({"L1"}), "known_leads": frozenset()},
            lead(Name=NO_CHANGE),
            NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED,
        ),
        (
            {"valid_contact_hours": frozenset({"UTC"})},
            lead(njContactHours="Mars"),
            NoojeeCode.INVALID_TIMEZONE_SPECIFIED,
        ),
        ({"valid_contact_hours": frozenset({"UTC"})}, lead(njContactHours="UTC"), NoojeeCode.OK),
        ({"conflict_leads": {"L1": 1}}, lead(), NoojeeCode.LEAD_NOT_UPDATED_DUE_TO_CONFLICT),
        # Precedence: the first failing check answers.
        (
            {"unknown_leads": frozenset({"L1"}), "dnc_numbers": frozenset({PHONE})},
            lead(),
            NoojeeCode.COULDNT_FIND_THE_LEAD,
        ),
        (
            {"dnc_numbers": frozenset({PHONE}), "valid_dispositions": frozenset()},
            lead(),
            NoojeeCode.DNC,
        ),
        ({}, lead(njContactHours="Mars"), NoojeeCode.OK),  # None: any contact hours
        (
            {"valid_contact_hours": frozenset({"1"})},
            lead(njContactHours=1),
            NoojeeCode.INVALID_TIMEZONE_SPECIFIED,
        ),
    ],
)
def test_answer_follows_the_code_table(
    options: dict[str, Any], body: dict[str, Any], code: NoojeeCode
) -> None:
    """One line of docs/reference/noojee-api.md's code table per row, checks in the order
    of docs/reference/simulator-api.md ("How a call is answered")."""
    assert LeadStore(config(**options)).answer(body, fail=False) is code


def test_injected_failure_comes_after_every_data_check() -> None:
    """'103 EXCEPTION 500 server error' — a ratio of calls, only when the data is fine."""
    store = LeadStore(config(unknown_leads=frozenset({"GONE"})))
    assert store.answer(lead(), fail=True) is NoojeeCode.EXCEPTION
    assert store.answer(lead("GONE"), fail=True) is NoojeeCode.COULDNT_FIND_THE_LEAD
    assert store.answer("not an object", fail=False) is None
    assert response_of(NoojeeCode.EXCEPTION) == (500, {"code": 103, "message": "EXCEPTION"})
    assert response_of(None)[0] == 400


def test_calls_dial_insert_and_consume_conflicts() -> None:
    """107 until a real disposition dials the lead; an insert makes the lead known; each
    declared conflict answers 110 once; redeclaring an option forgets what calls changed."""
    options = config(
        never_dialled=frozenset({"N"}),
        known_leads=frozenset({"N", "C"}),
        importing_leads=frozenset({"NEW"}),
        conflict_leads={"C": 2},
    )
    store = LeadStore(options)
    bodies = [lead("N", njDisposition=NO_CHANGE), lead("N"), lead("N", njDisposition=NO_CHANGE)]
    bodies += [lead("NEW", Name=NO_CHANGE), lead("NEW"), lead("NEW", Name=NO_CHANGE)]
    bodies += [lead("C"), lead("C"), lead("C")]
    codes = [store.answer(body, fail=False) for body in bodies]
    assert codes == [107, 0, 0, 108, 0, 0, 110, 110, 0]
    assert store.to_json()["known_leads"] == ["C", "N", "NEW"]
    assert store.to_json()["never_dialled"] == []
    store.redeclare(options, ["never_dialled", "conflict_leads"])
    assert store.answer(lead("N", njDisposition=NO_CHANGE), fail=False) == 107
    assert store.answer(lead("C"), fail=False) == 110


# --- the lead store: insertLeadFast -----------------------------------------------

NEW: dict[str, Any] = {"known_leads": frozenset()}
"""Every lead id unknown until inserted (the PBX starts empty)."""


def new_lead(lead_id: str = "L1", **fields: Any) -> dict[str, Any]:
    return {"njExternalLeadId": lead_id, "FirstPhone": PHONE, **fields}


@pytest.mark.parametrize(
    ("options", "body", "duplicates", "code"),
    [
        (NEW, new_lead(), False, NoojeeCode.OK),
        (NEW, new_lead(njDisposition="New"), False, NoojeeCode.OK),
        # 'IMPORT_BUT_NOCHANGE_SPECIFIED: <No Change> used on an insert', any field.
        (NEW, new_lead(City=NO_CHANGE), False, NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED),
        (NEW, new_lead(FirstPhone=NO_CHANGE), False, NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED),
        # 'NO_PHONE_FIELDS: no phone field in the lead'.
        (NEW, {"njExternalLeadId": "L1", "Name": "Jane"}, False, NoojeeCode.NO_PHONE_FIELDS),
        # 'DUPLICATE_EXTERNAL_ID: a lead with this njExternalLeadId already exists'.
        ({}, new_lead(), False, NoojeeCode.DUPLICATE_EXTERNAL_ID),
        (
            {**NEW, "duplicate_external_ids": frozenset({"L1"})},
            new_lead(),
            False,
            NoojeeCode.DUPLICATE_EXTERNAL_ID,
        ),
        ({"unknown_leads": frozenset({"L1"})}, new_lead(), False, NoojeeCode.OK),
        ({"importing_leads": frozenset({"L1"})}, new_lead(), False, NoojeeCode.OK),
        ({**NEW, "dnc_numbers": frozenset({PHONE})}, new_lead(), False, NoojeeCode.DNC),
        # 'DUPLICATE: another lead has this phone (unless allowDuplicates)'.
        ({**NEW, "duplicate_numbers": frozenset({PHONE})}, new_lead(), False, NoojeeCode.DUPLICATE),
        ({**NEW, "duplicate_numbers": frozenset({PHONE})}, new_lead(), True, NoojeeCode.OK),
        (
            {**NEW, "valid_dispositions": frozenset({"Sale"})},
            new_lead(njDisposition="New"),
            False,
            NoojeeCode.INVALID_DISPOSTION,
        ),
        ({**NEW, "valid_dispositions": frozenset({"Sale"})}, new_lead(), False, NoojeeCode.OK),
        (
            {**NEW, "valid_contact_hours": frozenset({"UTC"})},
            new_lead(njContactHours="Mars"),
            False,
            NoojeeCode.INVALID_TIMEZONE_SPECIFIED,
        ),
        # Precedence (assumption): the body's own checks (108, 102) before the lookups.
        ({}, new_lead(City=NO_CHANGE), False, NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED),
        ({}, {"njExternalLeadId": "L1"}, False, NoojeeCode.NO_PHONE_FIELDS),
    ],
)
def test_insert_follows_the_code_table(
    options: dict[str, Any], body: dict[str, Any], duplicates: bool, code: NoojeeCode
) -> None:
    """docs/reference/noojee-api.md, "Creating leads"; the order of simulator-api.md."""
    store = LeadStore(config(**options))
    assert store.answer_insert(body, allow_duplicates=duplicates, fail=False) is code


def test_an_inserted_lead_is_known_and_its_numbers_taken() -> None:
    """A lead created by insert is then known to updates (and to a second insert: 112);
    its phone makes another insert a 105 unless allowDuplicates; without a disposition
    it was never dialled, so an update keeping '<No Change>' answers 107 until one is set."""
    store = LeadStore(config(**NEW))
    assert store.answer(lead("L1"), fail=False) is NoojeeCode.COULDNT_FIND_THE_LEAD
    assert store.answer_insert(new_lead("L1"), allow_duplicates=False, fail=True) == 103
    assert store.answer_insert(new_lead("L1"), allow_duplicates=False, fail=False) == 0
    assert store.answer_insert(new_lead("L1"), allow_duplicates=False, fail=False) == 112
    assert store.answer_insert(new_lead("L2"), allow_duplicates=False, fail=False) == 105
    assert store.answer_insert(new_lead("L2"), allow_duplicates=True, fail=False) == 0
    keep = lead("L1", njDisposition=NO_CHANGE, FirstPhone=NO_CHANGE)
    assert store.answer(keep, fail=False) == 107
    assert store.to_json()["never_dialled"] == ["L1", "L2"]
    assert store.answer(lead("L1", FirstPhone="0400000001"), fail=False) == 0
    assert store.answer(keep, fail=False) == 0
    # L1's old number is free again; its new one is taken.
    assert store.answer_insert(new_lead("L3"), allow_duplicates=False, fail=False) == 105
    taken = new_lead("L4", FirstPhone="0400000001")
    assert store.answer_insert(taken, allow_duplicates=False, fail=False) == 105
    assert store.to_json()["known_leads"] == ["L1", "L2"]
    store.redeclare(config(**NEW), ["known_leads"])
    assert store.answer(lead("L1"), fail=False) == 101


def test_history_and_stats_name_the_endpoint() -> None:
    """/_sim/leads/{id} and /_sim/calls/{id} show which endpoint each call used."""
    state = SimulatorState(config(**NEW))
    inserted = state.begin("A", 1, 1.0, Endpoint.INSERT)
    assert state.finish(inserted, new_lead("A"), {}, 2.0) == (200, {"code": 0, "message": "OK"})
    again = state.begin("A", 2, 3.0, Endpoint.INSERT)
    assert state.finish(again, new_lead("A"), {}, 4.0)[1]["code"] == 112
    updated = state.begin("A", 3, 5.0)
    state.finish(updated, lead("A"), {}, 6.0)
    applied = [update.to_json() for update in state.applied("A")]
    assert [update["endpoint"] for update in applied] == ["insertLeadFast", "updateLeadFast"]
    assert [call.to_json()["endpoint"] for call in state.calls("A")] == [
        "insertLeadFast",
        "insertLeadFast",
        "updateLeadFast",
    ]
    assert state.stats_json()["endpoints"]["insertLeadFast"]["applied"] == 1
    assert state.stats_json()["endpoints"]["updateLeadFast"]["applied"] == 1


# --- counters, history, overlaps -----------------------------------------------


def test_counters_history_and_overlaps_are_exact() -> None:
    state = SimulatorState(config())
    first = state.begin("A", 1, 10.0)
    second = state.begin("A", 2, 10.5)
    other = state.begin("B", 3, 10.6)
    assert (state.stats.executing, state.stats.max_concurrency) == (3, 3)
    assert state.finish(first, lead("A", Name="1"), {"fCampaignId": "41"}, 11.0)[0] == 200
    state.abort(other, 11.1)
    assert state.finish(second, lead("A", Name="2"), {}, 11.5)[0] == 200
    assert state.overlaps() == ["A"]
    assert [update.body["Name"] for update in state.applied("A")] == ["1", "2"]
    assert state.applied("A")[0].to_json()["query"] == {"fCampaignId": "41"}
    assert state.applied_counts() == {"A": 2}
    assert [call.code for call in state.calls("B")] == [None]
    stats = state.stats_json()
    assert (stats["applied"], stats["aborted"], stats["executing"], stats["codes"]) == (
        2,
        1,
        0,
        {"0": 2},
    )


def test_reset_clears_history_but_keeps_calls_in_flight() -> None:
    """docs/reference/simulator-api.md: 'POST /_sim/reset → clears history and counters'."""
    state = SimulatorState(config())
    done = state.begin("A", 1, 1.0)
    state.finish(done, lead("A"), {}, 2.0)
    running = state.begin("A", 2, 3.0)
    state.begin("A", 3, 3.0)
    stats = state.stats
    state.reset()
    assert stats is state.stats
    assert (state.stats.applied, state.stats.executing, state.stats.max_concurrency) == (0, 2, 2)
    assert (state.applied("A"), state.overlaps(), state.calls("A")) == ([], [], [])
    state.finish(running, lead("A"), {}, 4.0)
    assert (state.stats.applied, state.stats.executing) == (1, 1)


@given(st.lists(st.booleans(), max_size=60))
def test_max_concurrency_is_the_true_maximum(starts: list[bool]) -> None:
    """Each True starts a call, each False finishes the oldest one (if any)."""
    state = SimulatorState(config())
    running: list[Any] = []
    peak = 0
    for seq, start in enumerate(starts):
        if start:
            running.append(state.begin(f"L{seq}", seq, float(seq)))
            peak = max(peak, len(running))
        elif running:
            state.finish(running.pop(0), lead(), {}, float(seq))
    assert (state.stats.max_concurrency, state.stats.executing) == (peak, len(running))


@given(
    low=st.floats(0, 500),
    spread=st.floats(0, 500),
    spike_ratio=st.sampled_from([0.0, 0.5, 1.0]),
    seed=st.integers(0, 2**32),
)
def test_service_time_is_never_under_the_minimum(
    low: float, spread: float, spike_ratio: float, seed: int
) -> None:
    """'no call completes in under 100 ms' — generalised to min_service_ms."""
    state = SimulatorState(
        config(
            min_service_ms=low,
            max_service_ms=low + spread,
            spike_ratio=spike_ratio,
            spike_ms=40,
            hold_leads={"H": 0.0},
            seed=seed,
        )
    )
    for lead_id in ("A", "H", None):
        seconds = state.service_seconds(lead_id)
        assert seconds >= low / 1000
        assert seconds <= (low + spread + (40 if spike_ratio else 0)) / 1000 + 1e-9


# --- the FIFO admission gate -------------------------------------------------


async def test_gate_serves_waiters_in_arrival_order_and_skips_timeouts() -> None:
    """'Calls beyond that are queued' — in order; a call queued too long gives up its place."""
    gate = FifoGate(capacity=1)
    assert await gate.acquire(1.0) == 1
    impatient = asyncio.create_task(gate.acquire(0.01))
    waiters = [asyncio.create_task(gate.acquire(10.0)) for _ in range(3)]
    assert await impatient is None
    for _ in waiters:
        gate.release()
    assert [await waiter for waiter in waiters] == [2, 3, 4]
    gate.release()
    assert await gate.acquire(0.01) == 5


async def test_gate_passes_on_a_slot_granted_to_a_cancelled_waiter() -> None:
    gate = FifoGate(capacity=1)
    assert await gate.acquire(1.0) == 1
    cancelled = asyncio.create_task(gate.acquire(10.0))
    behind = asyncio.create_task(gate.acquire(10.0))
    await asyncio.sleep(0)
    gate.release()  # granted to `cancelled`, which is cancelled before it runs
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await behind == 3

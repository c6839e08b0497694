"""The demo's sample records: seeded, counted, and each one what it claims to be."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from consumer.sandbox.samples import (
    _INVALID_VALUES,
    APPLIED,
    DISPOSITIONS,
    DNC_NUMBER,
    UNKNOWN_DISPOSITION,
    SamplePlan,
    build_plan,
)
from contracts.deadletter import DeadLetterReason
from contracts.events import InvalidEvent, parse_lead_change
from contracts.noojee import NoojeeCode

EVENTS, LEADS = 2000, 400


@pytest.fixture(scope="module")
def plan() -> SamplePlan:
    return build_plan(EVENTS, LEADS, seed=11)


def test_the_same_seed_gives_the_same_plan(plan: SamplePlan) -> None:
    again = build_plan(EVENTS, LEADS, seed=11)
    assert again.records == plan.records
    assert again.expected == plan.expected
    assert again.unknown_leads == plan.unknown_leads


def test_another_seed_gives_other_records(plan: SamplePlan) -> None:
    assert build_plan(EVENTS, LEADS, seed=12).records != plan.records


def test_expected_counts_match_the_records(plan: SamplePlan) -> None:
    assert len(plan.records) == EVENTS
    assert plan.expected == Counter(record.expect for record in plan.records)
    assert sum(plan.expected.values()) == EVENTS


def test_every_kind_of_outcome_is_present(plan: SamplePlan) -> None:
    assert set(plan.expected) == {
        APPLIED,
        DeadLetterReason.INVALID_EVENT,
        NoojeeCode.COULDNT_FIND_THE_LEAD.name,
        NoojeeCode.INVALID_DISPOSTION.name,
        NoojeeCode.DNC.name,
    }
    assert plan.expected[APPLIED] > 0.9 * EVENTS


def test_invalid_records_really_fail_validation(plan: SamplePlan) -> None:
    invalid = [r for r in plan.records if r.expect == DeadLetterReason.INVALID_EVENT]
    assert invalid
    for record in invalid:
        with pytest.raises(InvalidEvent):
            parse_lead_change(record.value)


@pytest.mark.parametrize("value", _INVALID_VALUES)
def test_each_invalid_sample_is_invalid(value: bytes) -> None:
    with pytest.raises(InvalidEvent):
        parse_lead_change(value)


def test_valid_records_parse_and_are_keyed_by_their_lead(plan: SamplePlan) -> None:
    for record in plan.records:
        if record.expect == DeadLetterReason.INVALID_EVENT:
            continue
        event = parse_lead_change(record.value)
        assert record.key == event.lead_id.encode()


def test_each_expected_failure_is_built_the_way_the_simulator_fails_it(plan: SamplePlan) -> None:
    for record in plan.records:
        if record.expect == DeadLetterReason.INVALID_EVENT:
            continue
        body = json.loads(record.value)
        lead = body["lead_id"]
        phone = body["phones"]["FirstPhone"]
        # The simulator checks the lead first, so an unknown lead wins over the rest.
        assert (lead in plan.unknown_leads) == (
            record.expect == NoojeeCode.COULDNT_FIND_THE_LEAD.name
        )
        if lead in plan.unknown_leads:
            continue
        if record.expect == NoojeeCode.INVALID_DISPOSTION.name:
            assert body["disposition"] == UNKNOWN_DISPOSITION
            assert body["disposition"] not in plan.valid_dispositions
        else:
            assert body["disposition"] in DISPOSITIONS
        assert (phone in plan.dnc_numbers) == (record.expect == NoojeeCode.DNC.name)


def test_a_lead_fails_alike_whenever_its_events_could_be_merged(plan: SamplePlan) -> None:
    # The service may coalesce a lead's waiting events with the same disposition:
    # such events must all expect one outcome, and do-not-call is a lead's property.
    outcomes: dict[tuple[str, str], set[str]] = defaultdict(set)
    dnc: dict[str, set[bool]] = defaultdict(set)
    for record in plan.records:
        if record.expect == DeadLetterReason.INVALID_EVENT:
            continue
        body = json.loads(record.value)
        outcomes[body["lead_id"], body["disposition"]].add(record.expect)
        if body["lead_id"] not in plan.unknown_leads:
            dnc[body["lead_id"]].add(record.expect == NoojeeCode.DNC.name)
    assert all(len(expects) == 1 for expects in outcomes.values())
    assert all(len(flags) == 1 for flags in dnc.values())
    assert any(flags == {True} for flags in dnc.values())


def test_events_of_a_lead_are_in_time_order(plan: SamplePlan) -> None:
    last: dict[str, datetime] = {}
    for record in plan.records:
        if record.expect == DeadLetterReason.INVALID_EVENT:
            continue
        event = parse_lead_change(record.value)
        if event.lead_id in last:
            assert last[event.lead_id] < event.occurred_at
        last[event.lead_id] = event.occurred_at


def test_plan_defaults_describe_the_simulator_setup(plan: SamplePlan) -> None:
    assert plan.dnc_numbers == frozenset({DNC_NUMBER})
    assert plan.valid_dispositions == frozenset(DISPOSITIONS)
    assert all(lead.startswith("DEMO-") for lead in plan.unknown_leads)


def test_an_empty_plan_is_empty() -> None:
    empty = build_plan(0, 10)
    assert empty.records == []
    assert empty.expected == Counter()

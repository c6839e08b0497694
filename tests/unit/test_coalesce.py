"""Coalescing rules: last write wins per field, never across a disposition or campaign change."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.delivery.coalesce import can_join, group_disposition, merge
from contracts.events import LeadChange
from contracts.noojee import NO_CHANGE


def event(n: int, **values: Any) -> LeadChange:
    return LeadChange.from_dict(
        {
            "event_id": f"e{n}",
            "lead_id": "L1",
            "occurred_at": f"2026-11-26T10:{n:02d}:00Z",
            **values,
        }
    )


@pytest.mark.parametrize(
    ("group", "candidate", "joins"),
    [
        pytest.param([{}], {}, True, id="no-dispositions"),
        pytest.param([{}], {"disposition": "A"}, True, id="first-disposition"),
        pytest.param([{"disposition": "A"}], {}, True, id="keeps-disposition"),
        pytest.param([{"disposition": "A"}], {"disposition": "A"}, True, id="same-again"),
        pytest.param([{"disposition": "A"}], {"disposition": "B"}, False, id="change"),
        pytest.param([{"disposition": "A"}, {}], {"disposition": "B"}, False, id="change-later"),
        pytest.param(
            [{"campaign": {"campaign_id": 1}}],
            {"campaign": {"campaign_id": 2}},
            False,
            id="campaign",
        ),
        pytest.param([{}], {"campaign": {"campaign_id": 2}}, False, id="campaign-appears"),
    ],
)
def test_who_may_join(group: list[dict[str, Any]], candidate: dict[str, Any], joins: bool) -> None:
    events = [event(i, **values) for i, values in enumerate(group)]
    assert can_join(events, event(len(group), **candidate)) is joins


def test_merge_is_last_write_wins_per_field_and_keeps_earlier_values() -> None:
    merged = merge(
        [
            event(
                1,
                disposition="Callback",
                priority=5,
                phones={"FirstPhone": "0311111111"},
                fields={"Name": "Jane", "City": "Abbotsford"},
            ),
            event(
                2,
                phones={"FirstPhone": NO_CHANGE, "SecondPhone": "0322222222"},
                fields={"City": "Richmond"},
                callback_at="2026-11-27T09:30:00+11:00",
            ),
        ]
    )
    assert merged.event_id == "e2"
    assert merged.disposition == "Callback"
    assert merged.priority == 5
    assert merged.phones == {"FirstPhone": "0311111111", "SecondPhone": "0322222222"}
    assert merged.fields == {"Name": "Jane", "City": "Richmond"}
    assert merged.callback_at is not None
    assert group_disposition([event(1, disposition="X"), event(2)]) == "X"


def test_merge_of_one_event_is_that_event() -> None:
    only = event(1, disposition="A")
    assert merge([only]) is only


@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "A", "B"]),
            st.dictionaries(st.sampled_from(["Name", "City", "Seq"]), st.text("xyz", max_size=3)),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_grouping_keeps_every_disposition_change_and_the_final_state(
    script: list[tuple[str | None, dict[str, str]]],
) -> None:
    events = [
        event(i, **({"disposition": d} if d else {}), fields=f) for i, (d, f) in enumerate(script)
    ]
    groups: list[list[LeadChange]] = []
    for item in events:
        if groups and can_join(groups[-1], item):
            groups[-1].append(item)
        else:
            groups.append([item])
    calls = [merge(group) for group in groups]
    set_dispositions = [e.disposition for e in events if e.disposition]
    changes = [d for i, d in enumerate(set_dispositions) if i == 0 or set_dispositions[i - 1] != d]
    sent = [c.disposition for c in calls if c.disposition]
    assert [d for i, d in enumerate(sent) if i == 0 or sent[i - 1] != d] == changes
    assert len(calls) <= len(changes) + 1
    final: dict[str, str] = {}
    for e in events:
        final.update(e.fields or {})
    applied: dict[str, str] = {}
    for c in calls:
        applied.update(c.fields or {})
    assert applied == final


def test_phone_names_merge_ignoring_case_as_the_request_builder_reads_them() -> None:
    # Issue 14, item 5: the builder maps "firstphone" onto the configured FirstPhone; the
    # merge compared names exactly, so a later "<No Change>" under another spelling
    # overwrote the number: the call sent "<No Change>" and the number was lost.
    first = event(1, phones={"firstphone": "0399990000"})
    later = event(2, phones={"FirstPhone": NO_CHANGE, "SecondPhone": "0311112222"})
    merged = merge([first, later])
    assert merged.phones == {"firstphone": "0399990000", "SecondPhone": "0311112222"}
    again = merge([later, event(3, phones={"FIRSTPHONE": "0400000000"})])
    assert again.phones == {"FIRSTPHONE": "0400000000", "SecondPhone": "0311112222"}


# --- creates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "candidate", "joins"),
    [
        pytest.param([{"operation": "create"}], {}, True, id="update-joins-a-create"),
        pytest.param([{}], {"operation": "create"}, False, id="create-never-joins-an-update"),
        pytest.param(
            [{"operation": "create"}], {"operation": "create"}, False, id="create-never-joins"
        ),
        pytest.param(
            [{"operation": "create", "disposition": "New"}],
            {"disposition": "Callback"},
            False,
            id="a-disposition-change-still-splits",
        ),
    ],
)
def test_a_create_only_heads_a_group(
    group: list[dict[str, Any]], candidate: dict[str, Any], joins: bool
) -> None:
    events = [event(i, **values) for i, values in enumerate(group)]
    assert can_join(events, event(len(group), **candidate)) is joins


def test_a_create_and_its_updates_merge_into_one_create_with_the_newest_state() -> None:
    merged = merge(
        [
            event(
                1,
                operation="create",
                phones={"FirstPhone": "0311111111"},
                fields={"Name": "Jane", "City": "Abbotsford"},
            ),
            event(
                2,
                phones={"FirstPhone": NO_CHANGE, "SecondPhone": NO_CHANGE},
                fields={"City": "Richmond", "Notes": NO_CHANGE},
            ),
            event(3, disposition="New", phones={"MobilePhone": "0400000000"}),
        ]
    )
    assert merged.creates
    assert merged.disposition == "New"
    # '<No Change>' keeps what the create set; where it set nothing, there is nothing to keep.
    assert merged.phones == {"FirstPhone": "0311111111", "MobilePhone": "0400000000"}
    assert merged.fields == {"Name": "Jane", "City": "Richmond"}
    assert merged.event_id == "e3"


def test_a_creates_own_no_change_is_kept_for_the_pbx_to_refuse() -> None:
    merged = merge(
        [
            event(1, operation="create", phones={"FirstPhone": "1"}, fields={"City": NO_CHANGE}),
            event(2, fields={"Name": "Jane"}),
        ]
    )
    assert merged.fields == {"City": NO_CHANGE, "Name": "Jane"}


def test_updates_merged_without_a_create_stay_an_update() -> None:
    merged = merge([event(1, fields={"A": "1"}), event(2, fields={"B": NO_CHANGE})])
    assert not merged.creates
    assert merged.fields == {"A": "1", "B": NO_CHANGE}

"""consumer.deadletters.tools.filters: which dead letters a set of filters selects."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from consumer.deadletters.tools.filters import Selection, parse_moment, parse_position
from consumer.deadletters.tools.letters import DeadLetter, SourcePosition

NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LETTER = DeadLetter(
    partition=1,
    offset=50,
    key=b"CRM-1",
    value=None,
    original_headers=(),
    reason="COULDNT_FIND_THE_LEAD",
    code="101",
    http_status="400",
    message="",
    attempts="1",
    failed_at=NOON,
    source=SourcePosition("lead-changes", 3, 900),
    lead_id="CRM-1",
    replay_count=0,
    origin_offset=None,
)


@pytest.mark.parametrize(
    ("selection", "selected"),
    [
        (Selection(), True),
        (Selection(reasons=frozenset({"COULDNT_FIND_THE_LEAD"})), True),
        (Selection(reasons=frozenset({"INVALID_EVENT", "COULDNT_FIND_THE_LEAD"})), True),
        (Selection(reasons=frozenset({"INVALID_EVENT"})), False),
        (Selection(codes=frozenset({"101"})), True),
        (Selection(codes=frozenset({"106"})), False),
        (Selection(leads=frozenset({"CRM-1"})), True),
        (Selection(leads=frozenset({"CRM-2"})), False),
        (Selection(source_partitions=frozenset({3})), True),
        (Selection(source_partitions=frozenset({0, 1})), False),
        (Selection(since=NOON), True),
        (Selection(since=NOON + timedelta(seconds=1)), False),
        (Selection(until=NOON), True),
        (Selection(until=NOON - timedelta(seconds=1)), False),
        (Selection(dlq_partitions=frozenset({1})), True),
        (Selection(dlq_partitions=frozenset({0})), False),
        (Selection(from_offset=50, to_offset=50), True),
        (Selection(from_offset=51), False),
        (Selection(to_offset=49), False),
        # Every given filter must match.
        (Selection(reasons=frozenset({"COULDNT_FIND_THE_LEAD"}), leads=frozenset({"X"})), False),
    ],
)
def test_each_filter_selects_what_it_names(selection: Selection, selected: bool) -> None:
    assert selection.matches(LETTER) is selected


def test_a_letter_without_source_or_time_fails_those_filters_only() -> None:
    bare = dataclasses.replace(LETTER, source=None, failed_at=None)
    assert Selection().matches(bare)
    assert not Selection(source_partitions=frozenset({3})).matches(bare)
    assert not Selection(since=NOON - timedelta(days=1)).matches(bare)


def test_reasons_match_whatever_case_the_header_has() -> None:
    lower = dataclasses.replace(LETTER, reason="couldnt_find_the_lead")
    assert Selection(reasons=frozenset({"COULDNT_FIND_THE_LEAD"})).matches(lower)


def test_inverted_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="--since"):
        Selection(since=NOON, until=NOON - timedelta(seconds=1))
    with pytest.raises(ValueError, match="--from-offset"):
        Selection(from_offset=2, to_offset=1)


def test_is_everything_only_without_filters() -> None:
    assert Selection().is_everything
    assert not Selection(leads=frozenset({"X"})).is_everything
    assert not Selection(from_offset=0).is_everything


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("30m", NOON - timedelta(minutes=30)),
        ("2h", NOON - timedelta(hours=2)),
        ("7d", NOON - timedelta(days=7)),
        ("1w", NOON - timedelta(weeks=1)),
        ("45s", NOON - timedelta(seconds=45)),
        ("2026-11-26T10:15:00Z", datetime(2026, 11, 26, 10, 15, tzinfo=UTC)),
        ("2026-11-26T21:15:00+11:00", datetime(2026, 11, 26, 10, 15, tzinfo=UTC)),
        ("2026-11-26T10:15", datetime(2026, 11, 26, 10, 15, tzinfo=UTC)),
        ("2026-11-26", datetime(2026, 11, 26, tzinfo=UTC)),
    ],
)
def test_moments_are_durations_ago_or_iso_times(text: str, moment: datetime) -> None:
    assert parse_moment(text, NOON) == moment


@pytest.mark.parametrize("text", ["yesterday", "2h ago", "-5m", "26/11/2026"])
def test_other_moments_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="30m, 2h, 7d"):
        parse_moment(text, NOON)


def test_positions_are_partition_colon_offset() -> None:
    assert parse_position("0:1742") == (0, 1742)
    for text in ("0", "a:1", "0:-1", "0:1:2", ":5"):
        with pytest.raises(ValueError, match="<dlq-partition>:<offset>"):
            parse_position(text)

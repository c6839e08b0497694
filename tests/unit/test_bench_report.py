"""The benchmark's pure parts: statistics, /proc parsing, profile hotspots, report formatting."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.measures import (
    AppliedCall,
    busiest_window,
    first_full,
    first_start_after,
    handover_gaps,
    increase,
    latencies,
    partition_pauses,
    percentile,
    start_rate,
    throughput,
    value_at,
    waits,
    work_span,
)
from benchmarks.procstat import cpu_seconds, status_kb
from benchmarks.profiling import hotspots, parse_collapsed
from benchmarks.report import (
    DASH,
    TIMES,
    Figure,
    ScenarioResult,
    figures_table,
    format_ratio,
    format_value,
)
from benchmarks.resources import intake_floor
from benchmarks.startup_log import rejoins, steps


def call(started: float, finished: float, sent: float | None = None) -> AppliedCall:
    return AppliedCall("L1", started, finished, sent)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),  # numpy.percentile([1,2,3,4], 50)
        ([4.0, 1.0, 3.0, 2.0], 25, 1.75),  # order of the input does not matter
        (list(map(float, range(1, 101))), 99, 99.01),
    ],
)
def test_percentile_interpolates_linearly_between_ranks(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_outside_0_to_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], q)


def test_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1), st.floats(0, 100))
def test_a_percentile_lies_between_the_smallest_and_largest_value(
    values: list[float], q: float
) -> None:
    assert min(values) - 1e-6 <= percentile(values, q) <= max(values) + 1e-6


@pytest.mark.parametrize(
    ("starts", "expected"),
    [
        ([], 0),
        ([0.0], 1),
        ([0.0, 0.5, 0.999, 1.0], 3),  # the window is half-open: 1.0 is outside [0, 1)
        ([0.0, 1.0, 2.0, 3.0], 1),
        ([3.0, 0.2, 0.1, 0.3, 2.0], 3),  # unsorted input
        ([0.0, 0.05, 0.1, 1.2, 1.21, 1.22, 1.23], 4),
    ],
)
def test_busiest_window_counts_the_most_starts_in_any_second(
    starts: list[float], expected: int
) -> None:
    assert busiest_window(starts) == expected


def test_throughput_utilisation_and_idle_time_from_calls() -> None:
    # Two slots, calls of 100 ms back to back except one 100 ms gap on one slot.
    calls = [call(0.0, 0.1), call(0.1, 0.2), call(0.0, 0.1), call(0.2, 0.3)]
    measured = throughput(calls)
    assert measured.applied == 4
    assert measured.window_s == pytest.approx(0.3)
    assert measured.mean_service_s == pytest.approx(0.1)
    assert measured.per_s == pytest.approx(4 / 0.3)
    assert measured.ideal_per_s(2) == pytest.approx(20.0)
    assert measured.utilisation(2) == pytest.approx((4 / 0.3) / 20)
    # 2 slots x 0.3 s = 0.6 slot-seconds for 4 calls of 0.1 s: 0.05 s idle per call
    assert measured.idle_per_call_s(2) == pytest.approx(0.05)


def test_throughput_of_no_calls_is_zero_not_an_error() -> None:
    measured = throughput([])
    assert (measured.per_s, measured.utilisation(4), measured.idle_per_call_s(4)) == (0, 0, 0)


def test_latency_and_wait_use_the_produce_time_when_the_event_carried_one() -> None:
    calls = [call(1.0, 1.2, sent=0.5), call(2.0, 2.1)]
    assert latencies(calls) == [pytest.approx(0.7)]
    assert waits(calls) == [pytest.approx(0.5)]


def test_start_rate_counts_intervals_between_starts() -> None:
    assert start_rate([call(t / 20, t / 20 + 0.1) for t in range(21)]) == pytest.approx(20)
    assert start_rate([call(0, 1)]) == 0


def test_handover_gaps_pair_each_start_with_the_latest_free_slot() -> None:
    # Two slots: one handed over after 1 ms, the other after 3 ms; the last end of
    # each slot is followed by no start and counts nowhere.
    calls = [call(0.0, 0.1), call(0.0, 0.2), call(0.101, 0.3), call(0.203, 0.35)]
    assert handover_gaps(calls) == [pytest.approx(0.001), pytest.approx(0.003)]
    assert handover_gaps([]) == []


def test_partition_pauses_are_the_longest_gap_of_each_partition_in_a_window() -> None:
    # Events dealt out over 2 partitions in turn: R0, R2 on 0; R1, R3 on 1.
    calls = [
        AppliedCall("R0000000", 1.0, 1.1),
        AppliedCall("R0000002", 5.0, 5.1),
        AppliedCall("R0000001", 1.0, 1.1),
        AppliedCall("R0000003", 2.0, 2.1),
        AppliedCall("X0000005", 9.0, 9.1),  # another prefix: not counted
    ]
    assert sorted(partition_pauses(calls, 2, 0.0, 10.0, prefix="R")) == [1.0, 4.0]
    assert partition_pauses(calls, 2, 2.5, 10.0, prefix="R") == [4.0]  # ends after 2.5


def test_first_full_is_when_capacity_calls_first_ran_at_once() -> None:
    # One call, then two overlapping from 0.3 s, then three from 0.5 s.
    calls = [call(0.0, 0.2), call(0.2, 1.0), call(0.3, 1.0), call(0.5, 0.9)]
    assert first_full(calls, 2) == pytest.approx(0.3)
    assert first_full(calls, 3) == pytest.approx(0.5)
    assert first_full(calls, 4) is None
    assert first_full([], 1) is None
    # An end and a start at the same moment are a handover, not two at once.
    assert first_full([call(0.0, 1.0), call(1.0, 2.0)], 2) is None


def test_first_start_after_a_moment() -> None:
    calls = [call(1.0, 1.1), call(5.0, 5.1), call(3.0, 3.1)]
    assert first_start_after(calls, 2.0) == 3.0
    assert first_start_after(calls, 6.0) is None


def test_value_at_interpolates_and_clamps() -> None:
    samples = [(10.0, 1.0), (12.0, 3.0), (14.0, 3.0)]
    assert value_at(samples, 11.0) == pytest.approx(2.0)
    assert value_at(samples, 9.0) == 1.0
    assert value_at(samples, 20.0) == 3.0
    assert increase(samples, 10.0, 13.0) == pytest.approx(2.0)


def test_work_span_runs_from_the_last_zero_to_the_target() -> None:
    samples = [(0.0, 0.0), (1.0, 0.0), (2.0, 5.0), (3.0, 9.0), (4.0, 10.0), (5.0, 10.0)]
    assert work_span(samples, 10) == (1.0, 4.0)
    assert work_span(samples, 11) is None
    assert work_span([(7.0, 3.0), (8.0, 10.0)], 10) == (7.0, 8.0)


def test_cpu_seconds_counts_fields_after_the_command_name() -> None:
    # A command name with spaces and a parenthesis must not shift the fields.
    fields = ["S", *["0"] * 10, "250", "50", *["0"] * 30]
    stat = "1234 (odd) name) " + " ".join(fields)
    assert cpu_seconds(stat, ticks=100) == pytest.approx(3.0)


def test_status_kb_reads_one_line() -> None:
    status = "Name:\tpython\nVmHWM:\t  81234 kB\nVmRSS:\t  70000 kB\n"
    assert status_kb(status, "VmHWM") == 81234
    assert status_kb(status, "VmSwap") == 0


def test_hotspots_rank_own_and_inclusive_samples() -> None:
    raw = "\n".join(
        [
            "main (app/cli.py);run (app/pipeline.py);post (aiohttp/client.py) 6",
            "main (app/cli.py);run (app/pipeline.py) 3",
            "main (app/cli.py);decode (json/decoder.py) 1",
            " 1",  # py-spy's empty stack line
            "garbage",
        ]
    )
    stacks = parse_collapsed(raw)
    assert len(stacks) == 3
    top = hotspots(stacks, top=2)
    assert [(s.function, s.self_pct, s.total_pct) for s in top] == [
        ("aiohttp/client.py:post", 60.0, 60.0),
        ("app/pipeline.py:run", 30.0, 90.0),
    ]
    # Only the app's own files, and not the entry point that is on every stack.
    assert [s.function for s in hotspots(stacks, only=("app/",))] == ["app/pipeline.py:run"]


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (None, "ms", DASH),
        (math.nan, "ms", DASH),
        (1234.4, "", "1,234"),
        (0.98765, TIMES, "0.99"),
        (1234.5, "ms", "1,234 ms"),  # banker's rounding of .5 is fine for a report
        (12.34, "/s", "12.3 /s"),
        (1.234, "s", "1.23 s"),
    ],
)
def test_format_value(value: float | None, unit: str, shown: str) -> None:
    assert format_value(value, unit) == shown


@pytest.mark.parametrize(
    ("value", "baseline", "shown"),
    [(260.0, 200.0, f"1.30{TIMES}"), (1.0, 0.0, DASH), (None, 2.0, DASH), (2.0, None, DASH)],
)
def test_format_ratio(value: float | None, baseline: float | None, shown: str) -> None:
    assert format_ratio(value, baseline) == shown


def test_figures_table_has_a_row_per_figure_and_names_a_failed_scenario() -> None:
    ok = ScenarioResult("a", "1. A", "setup", "base")
    ok.figures = [
        Figure(
            "CPU per event", 260.0, "µs", 200.0, "≤ 1.3 of baseline", True, compare=True, peer=400.0
        ),
        Figure("109 answers", 3, "", 0, "0", False),
    ]
    failed = ScenarioResult("b", "2. B", "", "", error="RuntimeError: no broker")
    lines = figures_table([ok, failed]).splitlines()
    assert "| FastStream | leadsync ÷ FastStream |" in lines[0]
    assert lines[2] == (
        f"| 1. A | CPU per event | 260 µs | 200 µs | 1.30{TIMES} | 400 µs | 0.65{TIMES}"
        " | ≤ 1.3 of baseline | yes |"
    )
    assert lines[3] == "| 1. A | 109 answers | 3 | 0 |  |  |  | 0 | **no** |"
    assert lines[4].startswith("| 2. B | failed: RuntimeError: no broker |")


def test_theintake_floor_says_whether_kafka_alone_fits_the_cpu_target() -> None:
    # The target is 1.5x a 100 us bare loop: 50 us left for Kafka intake and the rest.
    fits = intake_floor(cpu=160.0, floor=100.0, intake=7.0)
    assert "7 µs per record: within what the target leaves for it (50 µs" in fits
    assert f"(107 µs) leadsync spent 1.50{TIMES}" in fits
    assert "more than the target leaves" in intake_floor(cpu=200.0, floor=100.0, intake=60.0)
    assert "not measured" in intake_floor(cpu=160.0, floor=100.0, intake=None)


LOG = """\
2026-12-05 20:34:24,000 INFO    consumer.ownership.handover: partitions revoked: none
2026-12-05 20:34:29,500 INFO    consumer.pipeline: partitions assigned: t[0], t[1] (share: 40)
2026-12-05 20:34:40,000 INFO    consumer.ownership.handover: partitions revoked: t[0], t[1]
2026-12-05 20:34:45,250 INFO    consumer.pipeline: partitions assigned: t[0] (share: 20)
"""


def test_start_up_steps_and_rejoins_are_read_from_the_service_log() -> None:
    joining = datetime(2026, 12, 5, 20, 34, 24).timestamp()
    found = steps(joining - 0.5, LOG, first_call_at=joining + 7.0)
    assert found is not None
    assert list(found.values()) == [
        pytest.approx(0.5),
        pytest.approx(5.5),
        pytest.approx(1.5),
    ]
    assert steps(joining, "", joining + 1) is None  # a mark missing: not read
    assert rejoins(LOG) == [pytest.approx(5.25)]

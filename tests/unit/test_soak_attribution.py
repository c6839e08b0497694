"""The soak holds each re-send to the fault that caused it (``tests.faults.soak.cause``)."""

from __future__ import annotations

from tests.faults.soak import HANDOVER_EFFECT_S, cause

KILL = (100.0, "2 sigkill")
SLOW = (113.0, "8 slow PBX")
OUTAGE = (300.0, "1 outage")


def test_a_re_send_after_a_kill_stays_the_kills_when_a_slow_pbx_began_in_between() -> None:
    # Seed 137: the killed member's partitions moved 22 s after the kill, 13 s after
    # a slow PBX began; the slow PBX moves nothing, so the kill is the cause.
    assert cause([KILL, SLOW], 122.0) == KILL


def test_past_its_effect_window_a_kill_no_longer_takes_the_blame() -> None:
    assert cause([KILL, SLOW], KILL[0] + HANDOVER_EFFECT_S + 1) == SLOW


def test_the_latest_partition_moving_fault_wins() -> None:
    scale = (110.0, "4 scale")
    assert cause([KILL, scale, SLOW], 120.0) == scale


def test_without_a_moving_fault_the_last_fault_before_is_the_cause() -> None:
    assert cause([(0.0, "no fault"), KILL, OUTAGE], 301.0) == OUTAGE
    assert cause([(0.0, "no fault"), KILL], 50.0) == (0.0, "no fault")
    assert cause([KILL], 50.0) is None

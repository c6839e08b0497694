"""The soak holds each re-send to the fault that caused it (``tests.faults.soak``)."""

from __future__ import annotations

from tests.faults.soak import HANDOVER_EFFECT_S, causes, charge

KILL = (100.0, "2 sigkill")
SLOW = (113.0, "8 slow PBX")
FREEZE = (117.0, "7 broker freeze")
OUTAGE = (300.0, "1 outage")


def test_a_re_send_after_a_kill_stays_the_kills_when_a_slow_pbx_began_in_between() -> None:
    # Seed 137: the killed member's partitions moved 22 s after the kill, 13 s after
    # a slow PBX began; the slow PBX moves nothing, so the kill is the cause.
    assert causes([KILL, SLOW], 122.0) == [KILL]


def test_past_its_effect_window_a_kill_no_longer_takes_the_blame() -> None:
    assert causes([KILL, SLOW], KILL[0] + HANDOVER_EFFECT_S + 1) == [SLOW]


def test_without_a_moving_fault_the_last_fault_before_is_the_cause() -> None:
    assert causes([(0.0, "no fault"), KILL, OUTAGE], 301.0) == [OUTAGE]
    assert causes([(0.0, "no fault"), KILL], 50.0) == [(0.0, "no fault")]
    assert causes([KILL], 50.0) == []


def test_overlapping_faults_share_their_bounds_latest_first() -> None:
    # Seed 1717: a broker froze 17 s after a kill; the kill's 27 re-sends came after
    # the thaw. The freeze takes what its own bound allows, the kill the rest.
    counted = {KILL: (0, 27), FREEZE: (0, 7)}
    charged = []
    for i in range(35):
        fault = charge(counted, 140.0 + i / 10)
        assert fault is not None
        count, bound = counted[fault]
        counted[fault] = (count + 1, bound)
        charged.append(fault)
    assert charged[:7] == [FREEZE] * 7
    assert charged[7:34] == [KILL] * 27
    assert charged[34] == FREEZE  # past both bounds: the latest goes over
    assert counted == {KILL: (27, 27), FREEZE: (8, 7)}

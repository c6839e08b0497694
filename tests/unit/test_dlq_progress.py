"""consumer.deadletters.tools.progress: the bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

import pytest

from consumer.deadletters.tools.progress import Meter, bar_line, duration, plain_line, rate_and_eta


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "?"), (0.4, "0s"), (59.4, "59s"), (60, "1m00s"), (3599, "59m59s"), (7260, "2h01m")],
)
def test_durations_read_at_a_glance(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_rate_and_eta_follow_the_average_so_far() -> None:
    assert rate_and_eta(500, 2000, 5.0) == (100.0, 15.0)
    assert rate_and_eta(0, 2000, 5.0) == (0.0, None)
    assert rate_and_eta(10, None, 0.0) == (0.0, None)


def test_the_bar_shows_share_count_rate_and_eta() -> None:
    line = bar_line("replaying", 4500, 10000, 4.5)
    assert line == "replaying [############................]  45% 4500/10000 1,000/s ETA 6s"
    assert bar_line("reading", 7, None, 1.0) == "reading 7 7/s"
    assert "[" + "#" * 28 + "] 100%" in bar_line("x", 12, 10, 1.0)


def test_plain_lines_drop_the_eta_once_done() -> None:
    assert plain_line("reading t", 50, 100, 10.0) == "reading t: 50/100 in 10s (5/s, 10s left)"
    assert plain_line("reading t", 100, 100, 20.0, final=True) == "reading t: 100/100 in 20s (5/s)"


def test_off_a_terminal_a_line_every_interval_and_one_at_the_end() -> None:
    clock, out = Clock(), io.StringIO()
    meter = Meter(out, tty=False, clock=clock, plain_every_s=5.0)
    meter.start("replaying", None)
    meter.total(1000)
    for _ in range(40):
        clock.now += 0.25  # exact in binary: the 5 s marks fall on steps 20 and 40
        meter.advance(25)
    meter.finish()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 2 + 1  # at 5 s and 10 s, then the final line
    assert lines[0] == "replaying: 500/1000 in 5s (100/s, 5s left)"
    assert lines[1] == "replaying: 1000/1000 in 10s (100/s, 0s left)"
    assert lines[-1] == "replaying: 1000/1000 in 10s (100/s)"


def test_on_a_terminal_the_bar_is_redrawn_in_place() -> None:
    clock, out = Clock(), io.StringIO()
    meter = Meter(out, tty=True, clock=clock)
    meter.start("reading", 20)
    for _ in range(20):
        clock.now += 0.05
        meter.advance(1)
    meter.finish()
    text = out.getvalue()
    assert text.count("\n") == 1
    assert text.endswith("20/20 20/s ETA 0s\n")
    assert 5 <= text.count("\r") <= 11  # at most one redraw per 0.1 s

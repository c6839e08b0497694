"""The one-second window that caps a binding rate limit."""

from __future__ import annotations

import pytest

from consumer.limits.rate_window import SecondWindow


def test_the_window_admits_most_then_waits_for_the_oldest_to_be_a_second_old() -> None:
    window = SecondWindow(3)
    for when in (10.0, 10.2, 10.5):
        assert window.wait_s(when) == 0.0
        window.admit(when)
    assert window.wait_s(10.6) == pytest.approx(0.4)
    assert window.wait_s(11.0) == 0.0  # [10.0, 11.0) holds three; 11.0 opens a new one
    window.admit(11.0)
    assert window.wait_s(11.0) == pytest.approx(0.2)


def test_a_resized_window_keeps_the_latest_admissions() -> None:
    window = SecondWindow(3)
    for when in (0.0, 0.1, 0.2):
        window.admit(when)
    smaller = window.resize(2)
    assert smaller.most == 2
    assert smaller.wait_s(0.3) == pytest.approx(0.8)  # the oldest kept is 0.1
    larger = window.resize(5)
    assert larger.wait_s(0.3) == 0.0


@pytest.mark.parametrize("most", [0, -1, True, 1.5])
def test_a_window_holds_at_least_one(most: object) -> None:
    with pytest.raises(ValueError, match="admissions per second"):
        SecondWindow(most)  # type: ignore[arg-type]

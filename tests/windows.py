"""Counting calls in sliding windows, for rate-limit assertions."""

from __future__ import annotations

from collections.abc import Iterable

from consumer.simulator_state import SimulatorState


def call_starts(state: SimulatorState, leads: Iterable[str]) -> list[float]:
    return sorted(call.started_at for lead in leads for call in state.calls(lead))


def busiest_window(starts: list[float], width_s: float = 1.0) -> int:
    """Most calls that started within any half-open window of ``width_s`` seconds."""
    best = 0
    first = 0
    for last, started in enumerate(starts):
        while started - starts[first] >= width_s:
            first += 1
        best = max(best, last - first + 1)
    return best

"""Counting calls in sliding windows, for rate-limit assertions."""

from __future__ import annotations

from collections.abc import Iterable

from benchmarks.measures import busiest_window
from consumer.simulator_state import SimulatorState

__all__ = ["busiest_window", "call_starts"]


def call_starts(state: SimulatorState, leads: Iterable[str]) -> list[float]:
    return sorted(call.started_at for lead in leads for call in state.calls(lead))

"""Counting calls in sliding windows, for rate-limit assertions."""

from __future__ import annotations

from collections.abc import Iterable

from benchmarks.measures import busiest_window
from consumer.sandbox.simulator.state import SimulatorState

__all__ = ["busiest_window", "call_starts", "most_per_second"]


def call_starts(state: SimulatorState, leads: Iterable[str]) -> list[float]:
    return sorted(call.started_at for lead in leads for call in state.calls(lead))


def most_per_second(rate_limit: int, max_concurrency: int, replicas: int) -> int:
    """The most calls a fleet may start in one second, counted at the PBX.

    consumer/limits/rate_limit.py: a replica admits at most ``ceil(share)`` in a second
    where its rate binds, else ``ceil(share) + slots - 1``; the shares' ceilings
    exceed the limit by at most ``replicas - 1``, the slots add up to at most
    ``max_concurrency``,
    and a send latency varying by less than ``1/rate`` brings one more call per
    replica into a window counted where calls arrive.
    """
    return rate_limit + (replicas - 1) + (max_concurrency - replicas) + replicas

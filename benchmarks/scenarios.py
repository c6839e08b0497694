"""The benchmark's scenarios by name, in the order of the issue that asked for them.

Each is ``async (mode, workdir) -> ScenarioResult`` and runs its own baseline;
see ``capacity``, ``resources``, ``operations``, ``telemetry_cost``,
``handovers`` and ``slow_start`` for what each measures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.capacity import pbx_bound
from benchmarks.creating import snapshot
from benchmarks.flows import Mode
from benchmarks.handovers import rebalance, startup
from benchmarks.misconfigured import misconfigured
from benchmarks.operations import fleet, recovery
from benchmarks.rate import rate_bound
from benchmarks.report import ScenarioResult
from benchmarks.resources import backlog, cpu_bound
from benchmarks.slow_start import slow_pbx
from benchmarks.telemetry_cost import telemetry

Scenario = Callable[[Mode, Path], Awaitable[ScenarioResult]]

SCENARIOS: dict[str, Scenario] = {
    "pbx-bound": pbx_bound,
    "rate-bound": rate_bound,
    "cpu-bound": cpu_bound,
    "backlog": backlog,
    "fleet": fleet,
    "misconfigured": misconfigured,
    "recovery": recovery,
    "telemetry": telemetry,
    "startup": startup,
    "rebalance": rebalance,
    "slow-pbx": slow_pbx,
    "snapshot": snapshot,
}

LEFT_OUT: list[tuple[str, str]] = []
"""Scenarios of the issue not run yet, and why; the report lists them."""

"""The benchmark's scenarios by name, in the order of the issue that asked for them.

Each is ``async (mode, workdir) -> ScenarioResult`` and runs its own baseline;
see ``capacity``, ``resources`` and ``operations`` for what each measures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.capacity import misconfigured, pbx_bound, rate_bound
from benchmarks.flows import Mode
from benchmarks.operations import fleet, recovery
from benchmarks.report import ScenarioResult
from benchmarks.resources import backlog, cpu_bound

Scenario = Callable[[Mode, Path], Awaitable[ScenarioResult]]

SCENARIOS: dict[str, Scenario] = {
    "pbx-bound": pbx_bound,
    "rate-bound": rate_bound,
    "cpu-bound": cpu_bound,
    "backlog": backlog,
    "fleet": fleet,
    "misconfigured": misconfigured,
    "recovery": recovery,
}

LEFT_OUT = [
    (
        "8. Telemetry on vs off",
        "the telemetry switch the comparison needs has not landed yet; the scenario will"
        " run scenario 3's load with export on and off once it has.",
    ),
]
"""Scenarios of the issue not run yet, and why; the report lists them."""

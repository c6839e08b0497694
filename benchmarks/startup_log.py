"""Where a service's start-up went, read from its own text log: no I/O.

The service logs when it begins to join its group (the first "partitions
revoked: none", once connected) and when the group assigned it partitions;
the harness knows when it spawned the process and the PBX when the first call
began. The steps between are the start-up's parts.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from datetime import datetime

_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ +\S+: (.*)$", re.MULTILINE)
MARKS = (
    ("joining", re.compile(r"^partitions revoked: none")),
    ("assigned", re.compile(r"^partitions assigned: (?!none)")),
)
"""The log lines that end each step, in order."""
STEPS = (
    ("imports, health port and Kafka connections", "joining"),
    ("joining the group (join and sync)", "assigned"),
    ("handover wait, committed offsets, first fetch, first call", "first call"),
)


def marks(log: str) -> dict[str, float]:
    """Epoch seconds of the first line of each mark (the log's local time)."""
    found: dict[str, float] = {}
    for stamp, message in _LINE.findall(log):
        for name, pattern in MARKS:
            if name not in found and pattern.search(message):
                found[name] = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return found


def steps(spawned_at: float, log: str, first_call_at: float) -> dict[str, float] | None:
    """Seconds of each step of ``STEPS``; None when a mark is missing from the log."""
    times = marks(log) | {"first call": first_call_at}
    durations: dict[str, float] = {}
    before = spawned_at
    for label, mark in STEPS:
        if mark not in times:
            return None
        durations[label] = times[mark] - before
        before = times[mark]
    return durations


def describe(runs: Sequence[dict[str, float]]) -> str:
    """``label 1.2 s, label 3.4 s, …``: the median of each step over the runs."""
    if not runs:
        return "not read (no run logged every step)"
    return ", ".join(
        f"{label} {statistics.median(run[label] for run in runs):.1f} s" for label, _ in STEPS
    )


_REVOKED = re.compile(r"^partitions revoked: (?!none)")
_ASSIGNED = re.compile(r"^partitions assigned: ")


def rejoins(log: str) -> list[float]:
    """Seconds from each revoke of partitions to the next assignment: the group's join
    and sync, as one member saw them."""
    took, revoked = [], None
    for stamp, message in _LINE.findall(log):
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if _REVOKED.search(message):
            revoked = at
        elif revoked is not None and _ASSIGNED.search(message):
            took.append(at - revoked)
            revoked = None
    return took

"""A process's own CPU time and memory, read from ``/proc`` (Linux), as the kernel counts them.

The parsers are pure; ``read`` does the file reading and answers None for a
process that has gone.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_UTIME = 11
"""Index of utime among the fields after ``comm`` (field 14 of proc(5), counting from 1)."""


@dataclass(frozen=True, slots=True)
class ProcSample:
    at: float
    """Epoch seconds."""
    cpu_s: float
    """User + system CPU seconds since the process started."""
    rss_kb: int
    hwm_kb: int
    """Peak resident set size so far (``VmHWM``)."""


def cpu_seconds(stat: str, ticks: int = CLOCK_TICKS) -> float:
    """User + system time from the text of ``/proc/<pid>/stat``.

    The command name sits in parentheses and may contain spaces or parentheses
    itself, so fields are counted from the last ``)``.
    """
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[_UTIME]) + int(fields[_UTIME + 1])) / ticks


def status_kb(status: str, key: str) -> int:
    """A ``kB`` line of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``); 0 when absent."""
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0])
    return 0


def read(pid: int) -> ProcSample | None:
    try:
        with open(f"/proc/{pid}/stat") as stat, open(f"/proc/{pid}/status") as status:
            stat_text, status_text = stat.read(), status.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if status_kb(status_text, "VmRSS") == 0:  # a zombie: exited, not yet reaped
        return None
    return ProcSample(
        at=time.time(),
        cpu_s=cpu_seconds(stat_text),
        rss_kb=status_kb(status_text, "VmRSS"),
        hwm_kb=status_kb(status_text, "VmHWM"),
    )

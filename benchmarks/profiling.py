"""Where a process spends its CPU: py-spy attached to it, and the hotspots of its samples.

py-spy (a ``dev`` dependency) samples the process from outside, so the service
runs unmodified. By default it pauses the target for each sample, so a
profiled run is never one whose figures are reported. ``hotspots`` reads
py-spy's collapsed-stack output (``-f raw``): pure.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE_HZ = 200
STOP_TIMEOUT_S = 30.0
ENTRY_SHARE = 0.99
Stack = tuple[str, ...]
"""Frames ``function (file)``, outermost first."""


@dataclass(frozen=True, slots=True)
class Hotspot:
    function: str
    """``file:function``."""
    self_pct: float
    """Share of samples with this function running its own code."""
    total_pct: float
    """Share of samples with this function anywhere on the stack."""


def parse_collapsed(text: str) -> list[tuple[Stack, int]]:
    """``frame;frame;… count`` lines; blank stacks and malformed lines are skipped."""
    stacks: list[tuple[Stack, int]] = []
    for line in text.splitlines():
        frames, _, count = line.rpartition(" ")
        if frames.strip() and count.isdigit():
            stacks.append((tuple(_name(frame) for frame in frames.split(";")), int(count)))
    return stacks


def _name(frame: str) -> str:
    """``Class.method (pkg/file.py)`` as ``pkg/file.py:Class.method``."""
    function, _, where = frame.rpartition(" (")
    return f"{where.rstrip(')')}:{function}" if function else frame


def hotspots(
    stacks: list[tuple[Stack, int]], *, top: int = 15, only: tuple[str, ...] = ()
) -> list[Hotspot]:
    """The ``top`` functions by own samples.

    With ``only`` (file prefixes): just those files' functions, ranked by samples
    including callees, leaving out the ones on (nearly) every stack.
    """
    total = sum(count for _, count in stacks)
    if total == 0:
        return []
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for stack, count in stacks:
        own[stack[-1]] += count
        for function in set(stack):
            anywhere[function] += count
    if only:
        # Entry points (``main``, ``run``) are on every stack and say nothing.
        ranked = [
            f for f, n in anywhere.most_common() if f.startswith(only) and n < ENTRY_SHARE * total
        ]
    else:
        ranked = [f for f, _ in own.most_common()]
    return [Hotspot(f, 100 * own[f] / total, 100 * anywhere[f] / total) for f in ranked[:top]]


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: pip install py-spy (the dev extra has it)")
    return found


class Recording:
    """``py-spy record`` attached to ``pid`` until ``stop()`` or the process exits."""

    def __init__(self, process: asyncio.subprocess.Process, out: Path) -> None:
        self._process = process
        self.out = out

    @classmethod
    async def attach(cls, pid: int, out: Path, log: Path) -> Recording:
        with log.open("ab") as sink:
            process = await asyncio.create_subprocess_exec(
                py_spy(),
                *("record", "--pid", str(pid), "--rate", str(SAMPLE_RATE_HZ)),
                *("--format", "raw", "--nolineno", "--output", str(out)),
                stdout=sink,
                stderr=sink,
            )
        return cls(process, out)

    async def stop(self) -> list[tuple[Stack, int]]:
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            await asyncio.wait_for(self._process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
            raise RuntimeError("py-spy did not stop") from None
        stacks = parse_collapsed(self.out.read_text()) if self.out.exists() else []
        if not stacks:
            raise RuntimeError(f"py-spy recorded no samples (its log is next to {self.out})")
        return stacks

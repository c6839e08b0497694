"""Progress of a long read or replay: a redrawn bar on a terminal, plain lines otherwise.

The lines are pure functions of (done, total, elapsed); ``Meter`` only decides
when to write them, so a log collector gets a line every few seconds instead
of a wall of carriage returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TextIO

BAR_WIDTH = 28
REDRAW_S = 0.1
PLAIN_EVERY_S = 5.0


class Progress(Protocol):
    def start(self, label: str, total: int | None) -> None: ...
    def total(self, total: int) -> None: ...
    def advance(self, count: int) -> None: ...
    def finish(self) -> None: ...


def rate_and_eta(done: int, total: int | None, elapsed_s: float) -> tuple[float, float | None]:
    """Records per second so far, and seconds left at that rate (None when unknown)."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    if total is None or rate <= 0:
        return rate, None
    return rate, max(0, total - done) / rate


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def bar_line(label: str, done: int, total: int | None, elapsed_s: float) -> str:
    """``label [#####.....]  45% 4500/10000 1234/s ETA 5s`` (no bar while the total is unknown)."""
    rate, eta = rate_and_eta(done, total, elapsed_s)
    if not total:
        return f"{label} {done} {rate:,.0f}/s"
    share = min(1.0, done / total)
    filled = int(share * BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"{label} [{bar}] {share:4.0%} {done}/{total} {rate:,.0f}/s ETA {duration(eta)}"


def plain_line(
    label: str, done: int, total: int | None, elapsed_s: float, *, final: bool = False
) -> str:
    rate, eta = rate_and_eta(done, total, elapsed_s)
    of = f"/{total}" if total else ""
    left = f", {duration(eta)} left" if total and not final else ""
    return f"{label}: {done}{of} in {duration(elapsed_s)} ({rate:,.0f}/s{left})"


class Meter:
    """Writes progress to ``stream``; ``tty`` None asks the stream."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        plain_every_s: float = PLAIN_EVERY_S,
    ) -> None:
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._clock = clock
        self._every = REDRAW_S if self._tty else plain_every_s
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._started = self._shown = 0.0

    def start(self, label: str, total: int | None) -> None:
        self._label, self._total, self._done = label, total, 0
        self._started = self._shown = self._clock()

    def total(self, total: int) -> None:
        self._total = total

    def advance(self, count: int) -> None:
        self._done += count
        now = self._clock()
        if now - self._shown >= self._every:
            self._shown = now
            self._write(now, final=False)

    def finish(self) -> None:
        self._write(self._clock(), final=True)

    def _write(self, now: float, *, final: bool) -> None:
        elapsed = now - self._started
        if self._tty:
            line = bar_line(self._label, self._done, self._total, elapsed)
            self._stream.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            line = plain_line(self._label, self._done, self._total, elapsed, final=final)
            self._stream.write(line + "\n")
        self._stream.flush()


class Silent:
    """For ``--json`` runs and tests that only want the result."""

    def start(self, label: str, total: int | None) -> None:
        return None

    def total(self, total: int) -> None:
        return None

    def advance(self, count: int) -> None:
        return None

    def finish(self) -> None:
        return None

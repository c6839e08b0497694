"""What ``leadsync demo`` prints: the progress line, the summary, the PBX's answers, and
what ``--keep`` left running.

Pure text from numbers, so each piece is tested without a broker; ``DemoProgress``
only decides when to write: a line redrawn in place on a terminal, and a plain
line every few seconds anywhere else (a CI log or a pipe gets no wall of
carriage returns).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from contracts.noojee import NoojeeCode

REDRAW_S = 0.25
PLAIN_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class Tally:
    """The pipeline's counts at one moment."""

    finished: int
    applied: int
    dead_lettered: int
    in_flight: int


def progress_text(tally: Tally, total: int, elapsed_s: float) -> str:
    rate = tally.applied / max(elapsed_s, 1e-6)
    return (
        f"  {tally.finished:>5}/{total} done  applied {tally.applied:>5}"
        f"  dead-lettered {tally.dead_lettered:>3}  in flight {tally.in_flight:>4}"
        f"  {rate:6.0f} applied/s"
    )


class DemoProgress:
    """Writes progress lines to ``out``: redrawn on a terminal, appended elsewhere."""

    def __init__(self, out: TextIO, *, tty: bool | None = None) -> None:
        self._out = out
        self._tty = out.isatty() if tty is None else tty
        self._last: float | None = None

    @property
    def interval_s(self) -> float:
        """How often ``show`` is worth calling."""
        return REDRAW_S if self._tty else PLAIN_EVERY_S

    def show(self, line: str, now: float, *, final: bool = False) -> None:
        if not final and self._last is not None and now - self._last < self.interval_s:
            return
        self._last = now
        if self._tty:
            self._out.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self._out.write(line + "\n")
        self._out.flush()


def outcome_table(expected: Mapping[str, int], seen: Mapping[str, int]) -> list[str]:
    lines = [f"  {'outcome':<44} {'expected':>8} {'seen':>8}"]
    for outcome in sorted(set(expected) | set(seen)):
        want, got = expected.get(outcome, 0), seen.get(outcome, 0)
        mark = "" if want == got else "   <-- mismatch"
        lines.append(f"  {outcome:<44} {want:>8} {got:>8}{mark}")
    return lines


def code_name(code: str) -> str:
    try:
        return NoojeeCode(int(code)).name
    except ValueError:
        return "(not a Noojee code)"


def answer_table(codes: Mapping[str, int], http_statuses: Mapping[str, int]) -> list[str]:
    """The PBX's answers by Noojee code, and the HTTP answers that carried none."""
    lines = [f"  {'PBX answered':<44} {'calls':>8}"]
    for code, calls in sorted(codes.items(), key=lambda item: int(item[0])):
        lines.append(f"  {code:>4}  {code_name(code):<38} {calls:>8}")
    # A 400 with 101 or a 500 with 103 is counted by its code above; what is left is
    # the answers without one (a 401, a 503 page, a body that was not JSON).
    leftover = sum(http_statuses.values()) - sum(codes.values())
    if leftover > 0:
        lines.append(f"  {'':>4}  {'(no Noojee code)':<38} {leftover:>8}")
    return lines


@dataclass(frozen=True, slots=True)
class Kept:
    """What ``demo --keep`` leaves running, and how to reach it."""

    bootstrap: str
    topic: str
    dlq_topic: str
    group: str
    pbx_url: str
    pbx_admin_url: str
    api_key: str
    metrics_url: str


def kept_text(kept: Kept) -> list[str]:
    env = {
        "LEADSYNC_KAFKA_BOOTSTRAP": kept.bootstrap,
        "LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE": "false",
        "LEADSYNC_SOURCE_TOPIC": kept.topic,
        "LEADSYNC_GROUP_ID": kept.group,
        "LEADSYNC_NOOJEE_URL": kept.pbx_url,
        "LEADSYNC_NOOJEE_API_KEY": kept.api_key,
    }
    exports = [f"  export {name}={shlex.quote(value)}" for name, value in env.items()]
    return [
        "",
        "kept running (--keep) until Ctrl-C: the service still consumes, so events you send",
        "are applied too",
        f"  Kafka     {kept.bootstrap}  topics {kept.topic}, {kept.dlq_topic}"
        " (no idempotent producer)",
        f"  PBX       {kept.pbx_url}  (simulated; its state: {kept.pbx_admin_url}/_sim/stats)",
        f"  metrics   {kept.metrics_url}",
        "in another shell:",
        *exports,
        "  leadsync dlq list",
        "  leadsync dlq show 0:0",
        "  leadsync dlq replay --reason COULDNT_FIND_THE_LEAD --dry-run",
        "  leadsync check",
        "",
    ]

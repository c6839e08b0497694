"""One oracle for every end-to-end test: nothing lost, nothing out of order, duplicates counted.

Each produced event carries a sequence number in ``fields.Seq``. For every lead
the PBX's applied history must be that lead's produced sequence, in offset
order, minus the events that were dead-lettered (each dead-lettered once).
Where a fault may re-send work (``allow_duplicates``), a history may go back
and repeat, but only as in-order runs, and it must end on the lead's last
event: a re-sent old update applied last would leave the lead stale.

Optionally also: no lead ever had two calls executing at once (``overlaps``,
from ``SimulatorState.overlaps()``), and the committed offsets reached the log
end (``committed`` against ``log_end``, partition -> offset).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.structs import ConsumerRecord

from consumer.sandbox.simulator.state import SimulatorState


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    applied: int = 0
    dead_lettered: int = 0
    duplicates: int = 0

    def assert_ok(self) -> None:
        shown = "\n".join(self.problems[:20])
        assert not self.problems, f"{len(self.problems)} problems:\n{shown}"


def seq_of(value: bytes | None) -> tuple[str, str] | None:
    """(lead_id, seq) of a produced event value, or None for a record that is no event."""
    try:
        event = json.loads(value or b"")
        return str(event["lead_id"]), str(event["fields"]["Seq"])
    except (ValueError, KeyError, TypeError):
        return None


def applied_histories(state: SimulatorState, leads: Iterable[str]) -> dict[str, list[str]]:
    return {lead: [str(u.body.get("Seq")) for u in state.applied(lead)] for lead in leads}


def verify(
    produced: Sequence[bytes | None],
    applied: Mapping[str, Sequence[str]],
    dead_letters: Iterable[ConsumerRecord[Any, Any]],
    *,
    allow_duplicates: bool = False,
    overlaps: Iterable[str] = (),
    committed: Mapping[int, int | None] | None = None,
    log_end: Mapping[int, int] | None = None,
) -> Verdict:
    """``produced``: every produced value in offset order per lead (production order)."""
    verdict = Verdict()
    both = sorted(overlaps)
    if both:
        verdict.problems.append(f"{len(both)} leads had two calls executing at once: {both[:10]}")
    if log_end is not None:
        behind = {
            p: ((committed or {}).get(p), end)
            for p, end in log_end.items()
            if (committed or {}).get(p) != end
        }
        if behind:
            verdict.problems.append(f"committed offsets are not the log end: {behind}")
    expected: dict[str, list[str]] = defaultdict(list)
    for value in produced:
        ident = seq_of(value)
        if ident is not None:
            expected[ident[0]].append(ident[1])
    dead: Counter[tuple[str, str]] = Counter()
    for record in dead_letters:
        verdict.dead_lettered += 1
        ident = seq_of(record.value)
        if ident is not None:
            dead[ident] += 1
    for ident, count in dead.items():
        if count > 1:
            verdict.problems.append(f"{ident} dead-lettered {count} times")
    for lead, seqs in expected.items():
        want = [s for s in seqs if (lead, s) not in dead]
        got = list(applied.get(lead, ()))
        verdict.applied += len(got)
        if allow_duplicates:
            # A re-sent event re-applies a suffix in order; its first applications must
            # still be the produced sequence.
            verdict.duplicates += len(got) - len(set(got))
            problem = _resend_problem(got, want)
            if problem:
                verdict.problems.append(f"lead {lead}: {problem}")
            got = _first_occurrences(got)
        elif len(got) != len(set(got)):
            verdict.duplicates += len(got) - len(set(got))
        if got != want:
            verdict.problems.append(f"lead {lead}: applied {got[:12]}… expected {want[:12]}…")
    return verdict


def _first_occurrences(seqs: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for s in seqs:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def _resend_problem(got: Sequence[str], want: Sequence[str]) -> str | None:
    """Why a history with re-sends is wrong, or None: each step goes to the next
    expected event or back to an earlier one, and the last applied is the last event."""
    position = {seq: i for i, seq in enumerate(want)}
    previous = -1
    for seq in got:
        index = position.get(seq)
        if index is None:
            return f"applied {seq}, which was not expected"
        if index > previous + 1:
            return f"applied {seq} right after {want[previous] if previous >= 0 else 'nothing'}"
        previous = index
    if want and got and got[-1] != want[-1]:
        return f"ends on {got[-1]}, not on its last event {want[-1]}"
    return None

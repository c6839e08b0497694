"""Plain counters of what the pipeline did, for the demo's progress line and summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Counts:
    taken: int = 0
    applied: int = 0
    skipped: int = 0
    """Records acknowledged without a call: tombstones, ignored deletes, no-op updates."""
    resumed: int = 0
    """Records an earlier owner of the partition had finished: done without a call."""
    coalesced: int = 0
    """Events applied as part of another event's call (calls saved)."""
    dead_lettered: Counter[str] = field(default_factory=Counter)

    @property
    def finished(self) -> int:
        return self.applied + self.skipped + self.resumed + sum(self.dead_lettered.values())

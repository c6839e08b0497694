"""Plain counters of what the pipeline did, for the demo's progress line and summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Progress:
    taken: int = 0
    applied: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)

    @property
    def finished(self) -> int:
        return self.applied + sum(self.dead_lettered.values())

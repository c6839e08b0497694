"""The adaptive limit's parameters, checked as they are made."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tuning:
    """The controller's parameters; docs/adaptive-concurrency.md says what each trades."""

    initial_limit: int = 2
    min_window: int = 8
    start_window: int = 3
    window_rounds: float = 2.0
    start_rounds: float = 1.0
    min_rise: float = 0.05
    confidence: float = 2.0
    confirm_windows: int = 2
    overload_factor: float = 0.5
    reprobe_s: float = 60.0
    probe_windows: int = 2
    max_hold_windows: int = 32
    busy: float = 0.75
    lag_factor: float = 6.0
    initial_spread: float = 0.15
    queue_depth: int = 1

    def __post_init__(self) -> None:
        valid = (
            self.initial_limit >= 1
            and self.min_window >= 3
            and 2 <= self.start_window <= self.min_window
            and self.window_rounds > 0
            and self.start_rounds > 0
            and self.min_rise >= 0
            and self.confidence >= 0
            and self.confirm_windows >= 1
            and 0 < self.overload_factor < 1
            and self.reprobe_s > 0
            and self.probe_windows >= 1
            and self.max_hold_windows >= 1
            and 0 < self.busy <= 1
            and self.lag_factor >= 0
            and self.initial_spread >= 0
            and self.queue_depth >= 0
        )
        if not valid:
            raise ValueError(
                f"invalid adaptive tuning (see docs/adaptive-concurrency.md): {self!r}"
            )

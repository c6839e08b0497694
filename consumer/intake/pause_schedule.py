"""Whether a maintenance window (``LEADSYNC_PAUSE_WINDOWS``) holds intake now, and its log lines.

The windows themselves are pure (``consumer.pause_windows``); this object asks
them at each poll with the wall clock, remembers the answer for the
``leadsync_maintenance_paused`` gauge, and logs each opening and closing once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from consumer.pause_windows import PauseWindow, open_window

log = logging.getLogger(__name__)


class PauseSchedule:
    def __init__(
        self,
        windows: Sequence[PauseWindow],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._windows = tuple(windows)
        self._clock = clock
        self._open: PauseWindow | None = None

    @property
    def paused(self) -> bool:
        """Whether the last look found a window open (the gauge reads this)."""
        return self._open is not None

    def holds_now(self) -> bool:
        """Whether a window is open now; logs when one opens or closes."""
        if not self._windows:
            return False
        window, was = open_window(self._windows, self._clock()), self._open
        if window is not was:
            if was is not None:
                log.warning("maintenance window %r over: taking events again", was.text)
            if window is not None:
                log.warning(
                    "maintenance window %r open (LEADSYNC_PAUSE_WINDOWS): every partition "
                    "pauses; polling goes on and the backlog waits in Kafka",
                    window.text,
                )
            self._open = window
        return window is not None

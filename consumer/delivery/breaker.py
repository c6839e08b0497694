"""The outage breaker: while the PBX is not there, wait instead of failing events.

::

    closed ──(Unavailable, or TIMEOUT_STREAK read timeouts in a row)──▶ open
      ▲                                                               │ every PROBE_INTERVAL_S
      └───────────(any answer from the PBX, to the probe)─── probing ◀┘ one call goes through

While open, callers wait in ``admit()`` and spend no retry budget; the pipeline
pauses every partition and keeps polling, so the backlog waits in Kafka. One
probe at a time tests the PBX; the first answer that proves it is there (any
HTTP answer but 502/503/504, including 101 or 103) closes the breaker and every
waiting caller goes at once, so sending resumes at full speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from enum import StrEnum

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 1.0
TIMEOUT_STREAK = 8


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    PROBING = "probing"


class Breaker:
    def __init__(
        self,
        *,
        probe_interval_s: float = PROBE_INTERVAL_S,
        timeout_streak: int = TIMEOUT_STREAK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe_interval_s = probe_interval_s
        self.timeout_streak = timeout_streak
        self._clock = clock
        self.state = BreakerState.CLOSED
        self._next_probe_at = 0.0
        self._timeouts = 0
        self._changed = asyncio.Event()
        self.opened_at: float | None = None
        self.probes = 0
        self.probe_failures = 0
        """Probes that found the PBX still gone: the proof an outage is everyone's."""
        self._confirmed = False

    @property
    def is_open(self) -> bool:
        return self.state is not BreakerState.CLOSED

    @property
    def outage_confirmed(self) -> bool:
        """Open, and a probe has found the PBX gone since it opened: down for everyone.

        Opened by one call's failure alone, it may be that call's own problem
        (a 502 for one lead while others get answers); a failed probe settles it.
        """
        return self.is_open and self._confirmed

    async def admit(self, stop: asyncio.Event | None = None) -> bool | None:
        """Return when a call may be sent; True when that call is the probe.

        None when ``stop`` was set while waiting (see ``wake_all``).
        """
        while True:
            if self.state is BreakerState.CLOSED:
                return False
            if stop is not None and stop.is_set():
                return None
            now = self._clock()
            if self.state is BreakerState.OPEN and now >= self._next_probe_at:
                self.state = BreakerState.PROBING
                self.probes += 1
                return True
            self._changed.clear()
            wait = max(self._next_probe_at - now, 0.0) if self.state is BreakerState.OPEN else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait)

    def wake_all(self) -> None:
        """Make every waiting caller look at its stop event again."""
        self._changed.set()

    def answered(self, probe: bool) -> None:
        """The PBX answered (anything but an outage status): it is there."""
        self._timeouts = 0
        if self.state is not BreakerState.CLOSED:
            down_for = self._clock() - (self.opened_at or self._clock())
            log.warning("PBX reachable again after %.1f s: sending resumes", down_for)
            self.state = BreakerState.CLOSED
            self.opened_at = None
            self._changed.set()

    def probe_abandoned(self) -> None:
        """The probe ended without an answer (its event was abandoned): probe again now."""
        if self.state is BreakerState.PROBING:
            self.state = BreakerState.OPEN
            self._next_probe_at = self._clock()
            self._changed.set()

    def unavailable(self, probe: bool, reason: str) -> None:
        """The PBX is not there (refused, 502/503/504)."""
        self._open(probe, reason)

    def timed_out(self, probe: bool) -> None:
        """A read timeout: one is ambiguous, a streak of them means the PBX is gone."""
        self._timeouts += 1
        if probe or self._timeouts >= self.timeout_streak:
            self._open(probe, f"{self._timeouts} calls in a row timed out")

    def _open(self, probe: bool, reason: str) -> None:
        now = self._clock()
        if probe:
            self.probe_failures += 1
            self._confirmed = True
        if self.state is BreakerState.CLOSED:
            self._confirmed = probe
            self.opened_at = now
            log.error(
                "PBX unavailable (%s): pausing intake; probing every %.0f s",
                reason,
                self.probe_interval_s,
            )
            self._next_probe_at = now + self.probe_interval_s
            self.state = BreakerState.OPEN
        elif probe:
            self.state = BreakerState.OPEN
            self._next_probe_at = now + self.probe_interval_s
        self._changed.set()

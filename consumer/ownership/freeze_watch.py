"""Noticing that this process stood still longer than a group session.

A process frozen past its session (SIGSTOP, a paused VM, CPU starvation) may
have lost its partitions to another member, and neither Kafka (it fences only
commits) nor the test broker stops it from sending. ``FreezeWatch`` ticks on the
event loop; ``alive()`` is False once the last tick is older than a session, so
whatever runs first after a freeze — the watch or a lane about to send — sees
the gap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

TICK_S = 0.5


class FreezeWatch:
    def __init__(
        self,
        session_s: float,
        on_frozen: Callable[[], None],
        after_quiet_session: Callable[[], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``on_frozen`` abandons the partitions; ``after_quiet_session`` runs when a
        whole session passed after that without a rebalance (we were still a member).
        ``clock``: monotonic seconds (tests move it to stage a freeze)."""
        self.session_s = session_s
        self.clock = clock
        self._on_frozen = on_frozen
        self._after_quiet_session = after_quiet_session
        self._ticked_at = clock()
        self._rebalances = 0

    def alive(self) -> bool:
        return self.clock() - self._ticked_at < self.session_s

    def rebalanced(self) -> None:
        """A new assignment arrived: the group and this process agree again."""
        self._ticked_at = self.clock()
        self._rebalances += 1

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            if not self.alive():
                before = self._rebalances
                self._on_frozen()
                self._ticked_at = self.clock()
                # Kicked out: a rebalance follows at the next heartbeat. Not kicked
                # out: nothing happens, and the same partitions are taken up again.
                await asyncio.sleep(self.session_s)
                if self._rebalances == before:
                    await self._after_quiet_session()
            self._ticked_at = self.clock()

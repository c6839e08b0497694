"""The PBX's admission gate: ``threads // 2`` slots, its queue served first come first served.

Inserts and updates wait in the same queue for the same slots (the vendor: "the
rate limiting is across both the UpdateLeadFast and InsertLeadFast combined").
"""

from __future__ import annotations

import asyncio
from collections import deque


class FifoGate:
    """``capacity`` slots handed out strictly in arrival order.

    asyncio.Semaphore lets a newcomer overtake a woken waiter; the PBX serves
    its queue in order, so a released slot goes straight to the oldest waiter.
    """

    def __init__(self, capacity: int) -> None:
        self._free = capacity
        self._waiters: deque[asyncio.Future[int]] = deque()
        self._granted = 0

    async def acquire(self, max_wait_s: float) -> int | None:
        """The slot's admission number, or None when none came within ``max_wait_s``."""
        if self._free > 0:  # a free slot implies nobody is waiting
            self._free -= 1
            return self._grant()
        ticket: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(ticket)
        try:
            await asyncio.wait((ticket,), timeout=max_wait_s)
        except BaseException:
            if not ticket.cancel():  # granted just before we were cancelled: pass it on
                self.release()
            raise
        # cancel() fails only when release() already granted us the slot.
        return None if ticket.cancel() else ticket.result()

    def release(self) -> None:
        while self._waiters:
            ticket = self._waiters.popleft()
            if not ticket.done():  # timed-out tickets are cancelled and skipped here
                ticket.set_result(self._grant())
                return
        self._free += 1

    def _grant(self) -> int:
        self._granted += 1
        return self._granted

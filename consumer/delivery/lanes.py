"""Per-lead lanes: one lead's events strictly one after another, leads side by side.

A lane is a FIFO of a lead's waiting work plus at most one worker. The worker
runs the head item to its end (applied or dead-lettered, retries included)
before it looks at the next, so a lead waiting for a retry holds back only
itself. Idle lanes are forgotten, so the table holds only leads with work.

Workers are tasks kept for reuse: one whose lane ran dry waits for the next
lane that needs a worker (up to ``spare_workers`` of them wait), so a new lead
costs a wake-up, not a task. Nearly every event is a lead of its own, and a
task per event was the largest single cost of the service's own CPU.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

Item = TypeVar("Item")

log = logging.getLogger(__name__)

SPARE_WORKERS = 256
"""Workers kept waiting for a lane; beyond that a worker whose lane ran dry ends."""

_Spare = tuple["asyncio.Future[Hashable]", "asyncio.Task[None]"]
"""A worker waiting for a lane: the future that hands it the lane's key, and its task."""


class Lanes(Generic[Item]):
    """Runs ``process(item, waiting)`` for each submitted item, in order per key.

    ``waiting`` is the lane's queue behind the item (head first): the worker may take
    items from its front to merge them into this one.
    """

    def __init__(
        self,
        process: Callable[[Item, deque[Item]], Awaitable[None]],
        on_error: Callable[[Item, Exception], None] | None = None,
        *,
        spare_workers: int = SPARE_WORKERS,
    ) -> None:
        self._process = process
        self._on_error = on_error
        self._spare_limit = spare_workers
        self._closing = False
        self._waiting: dict[Hashable, deque[Item]] = {}
        self._owners: dict[Hashable, asyncio.Task[None]] = {}
        """The worker of each lane that has one."""
        self._running: dict[Hashable, Item] = {}
        self._abandoning: set[Hashable] = set()
        self._spare: list[_Spare] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, key: Hashable, item: Item) -> None:
        queue = self._waiting.get(key)
        if queue is None:
            queue = self._waiting[key] = deque()
        queue.append(item)
        if key in self._owners:
            return
        self._idle.clear()
        while self._spare:
            handed, worker = self._spare.pop()  # the last to wait: its frame is warm
            if not handed.done():  # cancelled by cancel_all
                handed.set_result(key)
                self._owners[key] = worker
                return
        worker = asyncio.create_task(self._work(key), name="lane worker")
        self._tasks.add(worker)
        self._owners[key] = worker

    async def _work(self, key: Hashable) -> None:
        worker = asyncio.current_task()
        assert worker is not None
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._drain(key)
                if self._closing or len(self._spare) >= self._spare_limit:
                    return
                handed: asyncio.Future[Hashable] = loop.create_future()
                self._spare.append((handed, worker))
                key = await handed
        finally:
            self._tasks.discard(worker)

    async def _drain(self, key: Hashable) -> None:
        queue = self._waiting[key]
        try:
            while queue:
                item = queue.popleft()
                self._running[key] = item
                try:
                    await self._process(item, queue)
                except asyncio.CancelledError:
                    if key not in self._abandoning or self._closing:
                        raise
                    # Only this item was abandoned (see abandon_running): the lane goes on.
                    self._abandoning.discard(key)
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
                except Exception as exc:
                    # A bug in processing must not strand the items behind it; the item
                    # itself stays unfinished, so its offset is never committed.
                    log.exception("processing failed unexpectedly")
                    if self._on_error is not None:
                        self._on_error(item, exc)
                finally:
                    del self._running[key]
        finally:
            # Cancellation leaves the rest of the queue to whoever drops it.
            if not queue:
                del self._waiting[key]
            del self._owners[key]
            if not self._owners:
                self._idle.set()

    def waiting(self, key: Hashable) -> deque[Item] | None:
        """The lane's queue (head first); None when the lead is idle."""
        return self._waiting.get(key)

    def drop(self, predicate: Callable[[Item], bool]) -> list[Item]:
        """Remove waiting (not running) items matching ``predicate``; return them."""
        dropped: list[Item] = []
        for key in list(self._waiting):
            queue = self._waiting[key]
            kept = deque(item for item in queue if not predicate(item))
            if len(kept) != len(queue):
                dropped.extend(item for item in queue if predicate(item))
                queue.clear()
                queue.extend(kept)
            if not queue and key not in self._owners:
                del self._waiting[key]
        return dropped

    def abandon_running(self, predicate: Callable[[Item], bool]) -> int:
        """Cancel the running item of every lane whose item matches; the lanes go on.

        The abandoned items stay unfinished (never marked done), so their offsets
        are not committed and the partition's next owner sends them again.
        """
        count = 0
        for key, item in self._running.items():
            if predicate(item) and key not in self._abandoning:
                self._abandoning.add(key)
                self._owners[key].cancel()
                count += 1
        return count

    def running(self) -> list[Item]:
        return list(self._running.values())

    @property
    def active_leads(self) -> int:
        return len(self._owners)

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def cancel_all(self) -> None:
        """Cancel every worker (the items they held stay unfinished) and wait for them."""
        self._closing = True
        workers = list(self._tasks)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._spare.clear()
        self._waiting.clear()

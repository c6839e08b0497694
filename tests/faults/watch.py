"""Watching a running scenario: counters and committed offsets sampled in the background."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


class Sampler:
    """Samples ``read()`` every ``interval_s`` in the background: (epoch s, value) pairs."""

    def __init__(self, read: Callable[[], Any], interval_s: float = 0.02) -> None:
        self._read = read
        self._interval_s = interval_s
        self.samples: list[tuple[float, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            value = self._read()
            if asyncio.iscoroutine(value):
                try:
                    value = await asyncio.wait_for(value, timeout=2)
                except Exception:  # a frozen broker: no sample this time
                    value = None
            if value is not None:
                self.samples.append((time.time(), value))
            await asyncio.sleep(self._interval_s)

    async def __aenter__(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def committed_watch(
    bootstrap: str, group: str, topic: str, partitions: int, interval_s: float = 0.1
) -> AsyncIterator[Sampler]:
    """Samples the group's committed offsets through one consumer (Tansu's admin API can't)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]

    async def read() -> dict[int, int | None]:
        return {tp.partition: await consumer.committed(tp) for tp in tps}

    try:
        async with Sampler(read, interval_s) as sampler:
            yield sampler
    finally:
        await asyncio.wait_for(consumer.stop(), timeout=15)

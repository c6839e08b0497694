"""The commit policy, in one place: what is committed, when, and what a failed commit means.

- **What**: per owned partition, the offset below which every event taken is
  finished (``consumer.ownership.offsets``); a partition whose commit point did
  not move is not sent again.
- **When**: every ``LEADSYNC_COMMIT_INTERVAL_S`` (``run``), and at once for the
  partitions a handover releases (``commit(only=...)``).
- **Never** after a fatal error: the events the service could not finish stay
  uncommitted, and a restart reads them again.
- **Bounded**: aiokafka's ``commit()`` retries retriable errors inside
  ``asyncio.shield`` and can block for a whole broker outage; each commit here
  gives up after ``COMMIT_TIMEOUT_S`` and the next tick tries again. A commit the
  group refuses (a rebalance, a partition no longer owned) is left to the next
  owner, which resumes from the last commit that was stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Protocol

from aiokafka import TopicPartition

from consumer.kafka.failures import KAFKA_ERRORS, KafkaFailure, describe, kafka_failure

log = logging.getLogger(__name__)

COMMIT_TIMEOUT_S: Final = 10.0


class Committable(Protocol):
    """What the committer reads and tells (``consumer.ownership.partition_table``)."""

    def commit_offsets(self) -> dict[TopicPartition, int]: ...
    def mark_committed(self, offsets: Mapping[TopicPartition, int]) -> None: ...


class Committing(Protocol):
    """The consumer's commit (``aiokafka.AIOKafkaConsumer``)."""

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


class Committer:
    def __init__(
        self,
        consumer: Committing,
        table: Committable,
        *,
        interval_s: float,
        stopped: Callable[[], bool],
        timeout_s: float = COMMIT_TIMEOUT_S,
    ) -> None:
        """``stopped``: a fatal error ended the service's work: commit nothing more."""
        self._consumer = consumer
        self._table = table
        self.interval_s = interval_s
        self._stopped = stopped
        self.timeout_s = timeout_s
        self.last_commit_at = time.time()
        """When offsets were last stored (Unix s; start-up before the first): a gauge reads it."""

    async def run(self) -> None:
        """Commit every interval, for the life of the service."""
        while True:
            await asyncio.sleep(self.interval_s)
            await self.commit()

    async def commit(self, only: Iterable[TopicPartition] | None = None) -> bool:
        """Commit what may be committed (of ``only``, when given); True when stored."""
        if self._stopped():
            return False
        offsets = self._table.commit_offsets()
        if only is not None:
            wanted = set(only)
            offsets = {tp: offset for tp, offset in offsets.items() if tp in wanted}
        if not offsets:
            return True
        if not await commit_bounded(self._consumer, offsets, self.timeout_s):
            return False
        self._table.mark_committed(offsets)
        self.last_commit_at = time.time()
        return True


async def commit_bounded(
    consumer: Committing, offsets: Mapping[TopicPartition, int], timeout_s: float
) -> bool:
    """Commit explicit offsets; False (logged) instead of raising or hanging."""
    try:
        await asyncio.wait_for(consumer.commit(dict(offsets)), timeout=timeout_s)
    except TimeoutError:
        log.warning("offset commit timed out after %.0f s; will retry", timeout_s)
        return False
    except (*KAFKA_ERRORS, AssertionError) as exc:
        # aiokafka asserts, rather than raises a KafkaError, for a partition that is
        # no longer assigned: the same meaning as IllegalStateError.
        failure = (
            KafkaFailure.REBALANCED if isinstance(exc, AssertionError) else (kafka_failure(exc))
        )
        then = "the next owner commits" if failure is KafkaFailure.REBALANCED else "will retry"
        log.warning("offset commit failed: %s; %s", describe(exc), then)
        return False
    return True

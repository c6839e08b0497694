"""Telling a bad event from a broken service: the run of consecutive internal errors.

An unexpected exception while handling one event dead-letters that event
(``INTERNAL_ERROR``) and the service goes on: one odd record must not stop the
sync for every lead. A bug that fails every event is another matter, and
dead-lettering the whole stream would only move it elsewhere; so a run of
``limit`` internal errors with no event finishing normally in between stops
the service (exit code 5), as Kafka Connect's ``errors.tolerance`` does.
"""

from __future__ import annotations

from consumer.errors import InternalErrorLimit


class InternalErrors:
    __slots__ = ("limit", "streak", "total")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the limit of internal errors in a row is at least 1, not {limit}")
        self.limit = limit
        self.streak = 0
        """Internal errors since an event last finished normally."""
        self.total = 0

    def failed(self) -> bool:
        """Count one; True when the run reached the limit (stop the service)."""
        self.streak += 1
        self.total += 1
        return self.streak >= self.limit

    def finished(self) -> None:
        """An event ended normally (applied or dead-lettered for a reason of its own)."""
        self.streak = 0

    def limit_error(self, last: str) -> InternalErrorLimit:
        return InternalErrorLimit(
            f"{self.streak} events in a row failed inside leadsync "
            f"(LEADSYNC_MAX_CONSECUTIVE_INTERNAL_ERRORS={self.limit}); the last: {last}. "
            "This is a bug: the events stay uncommitted and are read again after a restart"
        )

"""Which dead letters an operator means: the filters of ``list`` and ``replay``.

Pure. Every given filter must match (AND); repeating one widens it (OR), so
``--reason A --reason B`` selects both reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from consumer.deadletters.tools.letters import DeadLetter

_AGO = re.compile(r"(?P<amount>\d+)(?P<unit>[smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class Selection:
    reasons: frozenset[str] = frozenset()
    """Reason names, upper case (``COULDNT_FIND_THE_LEAD``, ``INVALID_EVENT``, ...)."""
    codes: frozenset[str] = frozenset()
    """Noojee codes as the header spells them (``101``)."""
    leads: frozenset[str] = frozenset()
    source_partitions: frozenset[int] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    """``failed_at`` range, both ends inclusive."""
    dlq_partitions: frozenset[int] = frozenset()
    from_offset: int | None = None
    to_offset: int | None = None
    """DLQ offset range, both ends inclusive, in every selected DLQ partition."""

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ValueError("--since is later than --until")
        low, high = self.from_offset, self.to_offset
        if low is not None and high is not None and low > high:
            raise ValueError("--from-offset is greater than --to-offset")

    @property
    def is_everything(self) -> bool:
        return self == Selection()

    def matches(self, letter: DeadLetter) -> bool:
        return (
            self.in_dlq_range(letter.partition, letter.offset)
            and (not self.reasons or letter.reason.upper() in self.reasons)
            and (not self.codes or letter.code in self.codes)
            and (not self.leads or letter.lead_id in self.leads)
            and (not self.source_partitions or self._from_partitions(letter))
            and self._in_time(letter.failed_at)
        )

    def in_dlq_range(self, partition: int, offset: int) -> bool:
        if self.dlq_partitions and partition not in self.dlq_partitions:
            return False
        if self.from_offset is not None and offset < self.from_offset:
            return False
        return self.to_offset is None or offset <= self.to_offset

    def _from_partitions(self, letter: DeadLetter) -> bool:
        return letter.source is not None and letter.source.partition in self.source_partitions

    def _in_time(self, failed_at: datetime | None) -> bool:
        if self.since is None and self.until is None:
            return True
        if failed_at is None:
            return False  # a time filter cannot vouch for a record without a time
        if self.since is not None and failed_at < self.since:
            return False
        return self.until is None or failed_at <= self.until


def parse_moment(text: str, now: datetime) -> datetime:
    """``30m``, ``2h``, ``7d``, ``1w`` ago, or an ISO 8601 date/time (UTC when no offset)."""
    text = text.strip()
    ago = _AGO.fullmatch(text)
    if ago is not None:
        return now - timedelta(**{_UNITS[ago["unit"]]: int(ago["amount"])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration ago (30m, 2h, 7d) nor an ISO 8601 time "
            "(2026-11-26T10:15:00Z)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_position(text: str) -> tuple[int, int]:
    """``<dlq-partition>:<offset>`` as two integers."""
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise ValueError(f"{text!r} is not <dlq-partition>:<offset>, e.g. 0:1742")
    return int(partition), int(offset)

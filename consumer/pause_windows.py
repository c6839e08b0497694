"""Maintenance windows (``LEADSYNC_PAUSE_WINDOWS``): when the service takes no new events.

A value is a list of windows separated by ``,`` or ``;``, each ``DAYS START-END ZONE``::

    Sun 02:00-04:00 Australia/Melbourne
    Mon-Fri 23:30-00:30 UTC; Daily 12:00-12:15 Europe/Berlin

- ``DAYS``: a day (``Mon`` … ``Sun``, or the full name), a range (``Mon-Fri``;
  ``Fri-Mon`` wraps over the weekend) or ``Daily``; the day the window *starts*.
- ``START-END``: wall-clock ``HH:MM`` in ``ZONE``; an end at or before the start
  (``23:30-00:30``, ``22:00-24:00``) ends on the next day.
- ``ZONE``: an IANA time zone, always named: a window is wall-clock time where
  the maintenance happens.

Wall-clock time means daylight saving moves a window with the clocks: on the
night the clocks skip an hour, a window over the skipped hour is shorter
(``Sun 02:00-04:00`` in Melbourne lasts one hour on the first Sunday of
October), and on the night they repeat one it is longer (three hours on the
first Sunday of April). Pure: parse once, then ask ``open_window`` with an
aware time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY_DAY = frozenset(range(7))
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_SEPARATORS = re.compile(r"[,;]")
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class PauseWindow:
    days: frozenset[int]
    """Weekdays the window starts on (Monday 0)."""
    start: int
    """Minutes after local midnight."""
    end: int
    """Minutes after local midnight; at or before ``start``: on the next day."""
    zone: ZoneInfo
    text: str
    """As written, for log lines."""

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def is_open(self, now: datetime) -> bool:
        """Whether ``now`` (aware) falls in this window, in the window's wall-clock time."""
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute + local.second / 60
        day = local.weekday()
        if not self.crosses_midnight:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute < self.end
        )


def parse_pause_windows(text: str) -> tuple[PauseWindow, ...]:
    """Every window of ``text`` (empty: none); ``ValueError`` names the bad one and why."""
    return tuple(_parse_one(item.strip()) for item in _SEPARATORS.split(text) if item.strip())


def open_window(windows: Iterable[PauseWindow], now: datetime) -> PauseWindow | None:
    """The first window open at ``now`` (aware), or None."""
    return next((window for window in windows if window.is_open(now)), None)


def _parse_one(item: str) -> PauseWindow:
    parts = item.split()
    if len(parts) != 3:
        raise ValueError(
            f"{item!r}: write DAYS START-END ZONE, e.g. 'Sun 02:00-04:00 Australia/Melbourne'"
        )
    days_text, times, zone_name = parts
    try:
        days = _days(days_text)
        start, end = _span(times)
        zone = _zone(zone_name)
    except ValueError as exc:
        raise ValueError(f"{item!r}: {exc}") from None
    return PauseWindow(days, start, end, zone, item)


def _days(text: str) -> frozenset[int]:
    if text.lower() in {"daily", "*"}:
        return EVERY_DAY
    first, dash, last = text.partition("-")
    start = _day(first)
    if not dash:
        return frozenset({start})
    end = _day(last)
    return frozenset((start + step) % 7 for step in range((end - start) % 7 + 1))


def _day(text: str) -> int:
    name = text.lower()
    for names in (DAYS, FULL_DAYS):
        if name in names:
            return names.index(name)
    raise ValueError(f"unknown day {text!r}: Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range or Daily")


def _span(text: str) -> tuple[int, int]:
    first, dash, last = text.partition("-")
    if not dash:
        raise ValueError(f"{text!r} is not a time span START-END, e.g. 02:00-04:00")
    start, end = _minutes(first, allow_24=False), _minutes(last, allow_24=True)
    if start == end:
        raise ValueError(f"{text!r} starts and ends at the same time")
    return start, end


def _minutes(text: str, *, allow_24: bool) -> int:
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time HH:MM")
    hours, minutes = int(match[1]), int(match[2])
    if allow_24 and (hours, minutes) == (24, 0):
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 23:59, or 24:00 as an end)")
    return hours * 60 + minutes


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None

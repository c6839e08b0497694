"""LEADSYNC_PAUSE_WINDOWS: the parser, and whether a moment falls in a window, in wall-clock
time, across midnight and across daylight-saving changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from consumer.errors import SettingsError
from consumer.pause_windows import open_window, parse_pause_windows
from consumer.settings import load_settings

MELBOURNE = "Sun 02:00-04:00 Australia/Melbourne"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("  ", 0),
        (MELBOURNE, 1),
        ("Mon-Fri 23:30-00:30 UTC; Daily 12:00-12:15 Europe/Berlin", 2),
        ("sun 02:00-04:00 UTC, saturday 1:00-2:00 UTC,", 2),
        ("* 00:00-24:00 UTC", 1),
    ],
)
def test_windows_are_separated_by_commas_or_semicolons(text: str, count: int) -> None:
    assert len(parse_pause_windows(text)) == count


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Sun 02:00-04:00", "write DAYS START-END ZONE"),
        ("Sun 02:00-04:00 Mars/Olympus_Mons", "unknown IANA time zone 'Mars/Olympus_Mons'"),
        ("Someday 02:00-04:00 UTC", "unknown day 'Someday'"),
        ("Mon-Funday 02:00-04:00 UTC", "unknown day 'Funday'"),
        ("Sun 2am-4am UTC", "'2am' is not a time HH:MM"),
        ("Sun 02:00 UTC", "is not a time span"),
        ("Sun 24:00-02:00 UTC", "'24:00' is not a time of day"),
        ("Sun 02:60-03:00 UTC", "'02:60' is not a time of day"),
        ("Sun 02:00-02:00 UTC", "starts and ends at the same time"),
        ("Sun 02:00-04:00 UTC; Mon 02:00-04:00 Nowhere/Else", "'Mon 02:00-04:00 Nowhere/Else'"),
    ],
)
def test_a_bad_window_is_named_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_pause_windows(text)


# 2026-11-01 is a Sunday. Melbourne is UTC+11 (daylight saving) in November.
@pytest.mark.parametrize(
    ("windows", "moment", "open"),
    [
        ("Sun 02:00-04:00 UTC", "2026-11-01T01:59:59", False),
        ("Sun 02:00-04:00 UTC", "2026-11-01T02:00:00", True),
        ("Sun 02:00-04:00 UTC", "2026-11-01T03:59:59", True),
        ("Sun 02:00-04:00 UTC", "2026-11-01T04:00:00", False),  # the end is not in it
        ("Sun 02:00-04:00 UTC", "2026-11-08T02:30:00", True),  # every Sunday
        ("Sun 02:00-04:00 UTC", "2026-11-02T02:30:00", False),  # not Monday
        # The zone decides the day: Sunday 03:00 in Melbourne is Saturday 16:00 UTC.
        (MELBOURNE, "2026-10-31T16:00:00", True),
        (MELBOURNE, "2026-11-01T03:00:00", False),
        # Across midnight: Sunday 23:00 to Monday 01:00, and only from a Sunday.
        ("Sun 23:00-01:00 UTC", "2026-11-01T23:30:00", True),
        ("Sun 23:00-01:00 UTC", "2026-11-02T00:30:00", True),
        ("Sun 23:00-01:00 UTC", "2026-11-02T01:00:00", False),
        ("Sun 23:00-01:00 UTC", "2026-11-01T00:30:00", False),  # Saturday night's tail
        ("Sat 22:00-24:00 UTC", "2026-10-31T23:59:59", True),
        ("Sat 22:00-24:00 UTC", "2026-11-01T00:00:00", False),
        ("Sat 22:00-00:00 UTC", "2026-10-31T23:59:59", True),
        # Ranges, wrapping over the weekend, and every day.
        ("Mon-Fri 12:00-13:00 UTC", "2026-11-04T12:30:00", True),  # Wednesday
        ("Mon-Fri 12:00-13:00 UTC", "2026-11-07T12:30:00", False),  # Saturday
        ("Fri-Mon 12:00-13:00 UTC", "2026-11-01T12:30:00", True),  # Sunday
        ("Fri-Mon 12:00-13:00 UTC", "2026-11-04T12:30:00", False),  # Wednesday
        ("Daily 00:00-24:00 UTC", "2026-11-04T17:45:00", True),
        # Any of several windows.
        ("Tue 01:00-02:00 UTC; Wed 12:00-13:00 UTC", "2026-11-04T12:30:00", True),
    ],
)
def test_a_moment_is_in_a_window_by_the_windows_wall_clock(
    windows: str, moment: str, open: bool
) -> None:
    assert (open_window(parse_pause_windows(windows), utc(moment)) is not None) is open


def open_minutes(windows: str, day_start: datetime) -> list[datetime]:
    """The UTC minutes of 24 hours from ``day_start`` that fall in a window."""
    parsed = parse_pause_windows(windows)
    minutes = (day_start + timedelta(minutes=m) for m in range(24 * 60))
    return [moment for moment in minutes if open_window(parsed, moment) is not None]


def test_the_night_the_clocks_skip_an_hour_the_window_is_an_hour_shorter() -> None:
    # 2026-10-04, first Sunday of October: 02:00 AEST becomes 03:00 AEDT (16:00 UTC).
    minutes = open_minutes(MELBOURNE, utc("2026-10-03T12:00:00"))
    assert minutes[0] == utc("2026-10-03T16:00:00")  # 03:00 AEDT: 02:00 never happened
    assert minutes[-1] == utc("2026-10-03T16:59:00")  # until 04:00 AEDT
    assert len(minutes) == 60


def test_the_night_the_clocks_repeat_an_hour_the_window_is_an_hour_longer() -> None:
    # 2026-04-05, first Sunday of April: 03:00 AEDT becomes 02:00 AEST (16:00 UTC).
    minutes = open_minutes(MELBOURNE, utc("2026-04-04T12:00:00"))
    assert minutes[0] == utc("2026-04-04T15:00:00")  # 02:00 AEDT
    assert minutes[-1] == utc("2026-04-04T17:59:00")  # until 04:00 AEST
    assert len(minutes) == 180


def test_on_an_ordinary_sunday_the_window_lasts_its_two_hours() -> None:
    assert len(open_minutes(MELBOURNE, utc("2026-10-10T12:00:00"))) == 120


def test_a_bad_value_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(
            kafka_bootstrap="kafka:9092",
            noojee_url="https://pbx.example.com",
            noojee_api_key="k",
            pause_windows="Sun 02:00-04:00 Mars/Olympus_Mons",
        )
    (line,) = str(raised.value).splitlines()
    assert line.startswith("LEADSYNC_PAUSE_WINDOWS: 'Sun 02:00-04:00 Mars/Olympus_Mons': ")


def test_the_settings_hand_over_the_parsed_windows() -> None:
    settings = load_settings(
        kafka_bootstrap="kafka:9092",
        noojee_url="https://pbx.example.com",
        noojee_api_key="k",
        pause_windows=MELBOURNE,
    )
    (window,) = settings.windows
    assert window.text == MELBOURNE
    assert (
        load_settings(
            kafka_bootstrap="kafka:9092", noojee_url="https://pbx.example.com", noojee_api_key="k"
        ).windows
        == ()
    )

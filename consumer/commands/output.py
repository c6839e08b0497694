"""What ``leadsync check`` and ``leadsync run`` print when they cannot go on."""

from __future__ import annotations

import logging
import sys

from consumer.errors import SettingsError

BAD_CONFIGURATION = "leadsync: bad configuration: "


def report_bad_configuration(error: SettingsError) -> None:
    """One line per problem on stderr, each naming its variable."""
    for line in str(error).splitlines():
        print(f"{BAD_CONFIGURATION}{line}", file=sys.stderr)


def quiet_start_up() -> None:
    """aiokafka logs each failed connection with Python reprs (``<AddressFamily...>``);
    ``check`` says once, plainly, what failed, so the library's own lines are dropped."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

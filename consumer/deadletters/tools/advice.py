"""What an operator should do about a dead letter, per reason (``leadsync dlq show``).

The advice is the reason's row in ``contracts.reasons`` (meaning, fix, whether a
replay helps): one table for the service, the tools and the docs. Every Noojee
code and every ``DeadLetterReason`` has a row, and the ``HTTP_<status>`` /
``NOOJEE_<code>`` families and reasons this version does not know have one each.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from contracts.reasons import REASONS, Handling, Reason, reason_named

Advice = Reason
"""What ``dlq show`` prints: ``meaning``, ``fix``, ``replay_helps``."""

ADVICE: Mapping[str, Advice] = MappingProxyType(
    {name: row for name, row in REASONS.items() if row.handling is not Handling.APPLIED}
)
"""Every reason a dead letter can carry, by name."""


def advice_for(reason: str) -> Advice:
    return reason_named(reason)

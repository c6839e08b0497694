"""What an operator should do about a dead letter, per reason (``leadsync dlq show``).

The advice is the reason's row in ``contracts.reasons`` (meaning, fix, whether a
replay helps): one table for the service, the tools and the docs; a refused
insert reads its own row where ``contracts.insert_reasons`` has one. Every Noojee
code and every ``DeadLetterReason`` has a row, and the ``HTTP_<status>`` /
``NOOJEE_<code>`` families and reasons this version does not know have one each.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from contracts.insert_reasons import reason_on_insert
from contracts.noojee import Endpoint, NoojeeCode
from contracts.reasons import REASONS, Handling, Reason, reason_named

Advice = Reason
"""What ``dlq show`` prints: ``meaning``, ``fix``, ``replay_helps``."""

ADVICE: Mapping[str, Advice] = MappingProxyType(
    {name: row for name, row in REASONS.items() if row.handling is not Handling.APPLIED}
)
"""Every reason a dead letter can carry, by name."""


def advice_for(reason: str, endpoint: str = "") -> Advice:
    """The reason's advice; a refused insert's own where it reads differently
    (``contracts.insert_reasons``), when the dead letter names ``insertLeadFast``."""
    row = reason_named(reason)
    if endpoint == Endpoint.INSERT and row.code is not None:
        return reason_on_insert(NoojeeCode(row.code)) or row
    return row

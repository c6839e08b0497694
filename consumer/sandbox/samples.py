"""Sample lead-change records for the demo, each with the outcome it must come to.

Pure and seeded: the same arguments give the same records, so the demo's
summary can say exactly what was expected and whether it happened.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contracts.deadletter import DeadLetterReason
from contracts.noojee import NoojeeCode

DISPOSITIONS = ("Callback", "Interested", "Not Interested", "No Answer", "Sale")
UNKNOWN_DISPOSITION = "Bogus Disposition"
DNC_NUMBER = "0399990000"
APPLIED = "applied"


@dataclass(frozen=True, slots=True)
class SampleRecord:
    key: bytes | None
    value: bytes
    expect: str
    """``applied`` or the dead-letter reason it must get."""


@dataclass
class SamplePlan:
    records: list[SampleRecord]
    unknown_leads: frozenset[str]
    valid_dispositions: frozenset[str] = frozenset(DISPOSITIONS)
    dnc_numbers: frozenset[str] = frozenset({DNC_NUMBER})
    expected: Counter[str] = field(default_factory=Counter)


_INVALID_VALUES: tuple[bytes, ...] = (
    b"this is not JSON",
    b'{"event_id": "x", "occurred_at": "2026-11-26T10:15:00Z"}',  # no lead_id
    b'{"event_id": "x", "lead_id": "L", "occurred_at": "2026-11-26 10:15"}',  # no offset
    b'{"event_id": "x", "lead_id": "L", "occurred_at": "2026-11-26T10:15:00Z", "priority": 500}',
    b'{"event_id": "x", "lead_id": "L", "occurred_at": "2026-11-26T10:15:00Z", "dispositon": "A"}',
    b'{"event_id": "x", "lead_id": "L", "occurred_at": "2026-11-26T10:15:00Z",'
    b' "fields": {"njPriority": "1"}}',
)


def lead_name(index: int) -> str:
    return f"DEMO-{index:05d}"


def build_plan(events: int, leads: int, seed: int = 7) -> SamplePlan:
    """``events`` records over ``leads`` leads: ~1% invalid, ~1% of leads unknown to the
    PBX, ~1% of leads with a do-not-call number, ~1% with an unknown disposition; the
    rest apply. Every valid event sets a disposition, so coalescing never merges an
    event that must fail with one that must apply."""
    rng = random.Random(seed)
    unknown = frozenset(lead_name(i) for i in range(0, leads, 97))
    # Do-not-call is a property of a lead's number, so all of that lead's events
    # fail alike, however the service groups them.
    dnc_leads = frozenset(lead_name(i) for i in range(5, leads, 89))
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    records: list[SampleRecord] = []
    for n in range(events):
        lead = lead_name(rng.randrange(leads))
        roll = rng.random()
        if roll < 0.01:
            value = rng.choice(_INVALID_VALUES)
            records.append(SampleRecord(lead.encode(), value, DeadLetterReason.INVALID_EVENT))
            continue
        event: dict[str, object] = {
            "event_id": f"demo-{n}",
            "lead_id": lead,
            "occurred_at": (start + timedelta(seconds=n)).isoformat(),
            "disposition": rng.choice(DISPOSITIONS),
            "priority": rng.randrange(0, 101),
            "phones": {"FirstPhone": f"03{rng.randrange(10**8):08d}"},
            "fields": {"Name": f"Lead {lead}", "Seq": str(n)},
        }
        if rng.random() < 0.3:
            event["callback_at"] = (start + timedelta(days=1, minutes=n)).isoformat()
        expect = APPLIED
        if lead in unknown:
            expect = NoojeeCode.COULDNT_FIND_THE_LEAD.name
        elif lead in dnc_leads:
            event["phones"] = {"FirstPhone": DNC_NUMBER}
            expect = NoojeeCode.DNC.name
        elif roll < 0.02:
            event["disposition"] = UNKNOWN_DISPOSITION
            expect = NoojeeCode.INVALID_DISPOSTION.name
        records.append(SampleRecord(lead.encode(), json.dumps(event).encode(), expect))
    plan = SamplePlan(records=records, unknown_leads=unknown)
    plan.expected.update(record.expect for record in records)
    return plan

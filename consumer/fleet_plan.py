"""How a fleet of replicas divides the PBX's slots and the partitions between them.

A replica's throughput is set by its calls at once (its slots); its work by the
partitions it owns. Split the partitions evenly and the slots by the partitions
(``throttle.concurrency_share``) and, whenever the slots do not divide evenly,
some replicas finish their backlog early and leave their slots idle while the
rest still work: three replicas of six partitions sharing four slots run 1 + 1
+ 1 calls at once, 0.75 of the PBX, and any static split of six partitions over
three replicas with four slots does no better than 0.75.

So the group leader plans both together: for ``k`` working replicas it gives
each ``G // k`` or ``G // k + 1`` slots, then partitions in proportion to the
slots (largest remainder), and picks the ``k`` whose busiest replica has the
least work per slot, preferring more replicas on a tie. With six partitions and
four slots over three replicas that is two replicas with two slots and three
partitions each, and a third replica standing by: the whole PBX, always. The
slots granted never add up to more than ``G``, whatever the number of replicas.

Assumes partitions carry equal load (keys hashed over partitions), the premise
of the partition-proportional rule too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Share(Generic[P]):
    partitions: tuple[P, ...]
    slots: int
    """Calls at once this replica may run; 0 when it has no partitions."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What the leader granted one member in the latest rebalance."""

    slots: int
    fleet_slots: int
    working: int
    """Members given partitions; the others stand by."""


def plan(members: Sequence[str], partitions: Sequence[P], fleet_slots: int) -> dict[str, Share[P]]:
    """Each member's partitions and slots; every partition goes to exactly one member.

    ``members`` in a stable order (the leader sorts member ids), ``partitions``
    in order; members beyond the chosen number get nothing and stand by.
    """
    if fleet_slots < 1:
        raise ValueError(f"the fleet needs at least one slot, not {fleet_slots}")
    if not members:
        return {}
    most = min(len(members), len(partitions), fleet_slots)
    best: tuple[Fraction, list[int], list[int]] | None = None
    for working in range(most, 0, -1):  # from the most replicas, so ties keep more
        slots = _even(fleet_slots, working)
        counts = _proportional(len(partitions), slots)
        load = max(Fraction(count, slot) for count, slot in zip(counts, slots, strict=True))
        if best is None or load < best[0]:
            best = (load, slots, counts)
    shares: dict[str, Share[P]] = {}
    start = 0
    slots, counts = (best[1], best[2]) if best is not None else ([], [])
    for index, member in enumerate(members):
        count = counts[index] if index < len(counts) else 0
        owned = tuple(partitions[start : start + count])
        start += count
        shares[member] = Share(owned, slots[index] if owned else 0)
    return shares


def _even(total: int, ways: int) -> list[int]:
    base, extra = divmod(total, ways)
    return [base + 1 if i < extra else base for i in range(ways)]


def _proportional(total: int, weights: list[int]) -> list[int]:
    """``total`` split by ``weights`` (largest remainder; earlier first on ties)."""
    whole = sum(weights)
    exact = [Fraction(total * w, whole) for w in weights]
    counts = [int(e) for e in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def fleet_slots(limits: Mapping[str, int]) -> int:
    """The fleet-wide limit when members disagree (a rollout of a new setting): the lowest."""
    return min(limits.values())

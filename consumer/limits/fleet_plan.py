"""How a fleet of replicas divides the PBX's slots and the partitions between them.

A replica's throughput is set by its calls at once (its slots); its work by the
partitions it owns. Split the partitions evenly and the slots by the partitions
(``concurrency_share``, the fallback below) and, whenever the slots do not divide evenly,
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

import math
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


def replica_share(
    global_rate: float,
    global_concurrency: int,
    assigned_partitions: int,
    total_partitions: int,
    grant: Grant | None,
) -> tuple[float, int]:
    """This replica's (calls per second, calls at once) of the fleet-wide limits.

    The leader's grant when there is one (slots, and the rate in proportion to
    them); else, in a group that fell back to roundrobin, in proportion to the
    partitions (``fleet_share``, ``concurrency_share``).
    """
    if grant is not None and grant.slots >= 1:
        check_split(assigned_partitions, total_partitions)
        slots = min(grant.slots, global_concurrency)
        return global_rate * min(1.0, grant.slots / grant.fleet_slots), slots
    return (
        fleet_share(global_rate, assigned_partitions, total_partitions),
        concurrency_share(global_concurrency, assigned_partitions, total_partitions),
    )


def fleet_share(global_value: float, assigned_partitions: int, total_partitions: int) -> float:
    """This replica's part of a fleet-wide rate: ``global · assigned / total``.

    0 for no assigned partitions, meaning "no work". Over any assignment the
    parts add up to the global value (up to float rounding).
    """
    check_split(assigned_partitions, total_partitions)
    if not (math.isfinite(global_value) and global_value >= 0):
        raise ValueError(f"a global limit is a finite number >= 0, not {global_value!r}")
    return global_value * assigned_partitions / total_partitions


def concurrency_share(global_max: int, assigned_partitions: int, total_partitions: int) -> int:
    """This replica's part of a fleet-wide concurrency limit.

    ``max(1, floor(global_max · assigned / total))``, 0 for no assigned partitions.
    A replica with work needs at least one call at a time or its partitions
    would never move; flooring keeps every other replica's part from rounding
    the sum up.

    Guarantee (``G = global_max``, ``T`` partitions, ``R`` replicas with work):
    for a balanced assignment (counts differ by at most one, as aiokafka's
    round-robin, range and sticky assignors split a single topic) the fleet runs
    at most ``max(G, R)`` calls at once, so never more than ``G`` while ``R <= G``.
    Proof: let ``q = floor(T/R) >= 1``. If ``G·q >= T`` every exact share is >= 1,
    none is raised, and the floors sum to at most ``G``. Otherwise ``G < T``, so
    every share ``G·a/T <= G·(q+1)/T < 2``: every part is 1, the sum is ``R``.
    ``R > G`` (e.g. G = 4, 8 partitions, 8 replicas of one) gives each replica
    one call, ``R`` in all: do not deploy more replicas than ``MAX_CONCURRENCY``.

    An unbalanced split can exceed ``G`` even with ``R <= G`` (G = 4, 7
    partitions as 4/1/1/1: 2+1+1+1 = 5), by less than the number of replicas
    whose exact share is below 1. Excluding that for every split takes
    ``max(1, assigned - (T - G))``, which gives two replicas of 12 partitions
    out of 24 one call each of G = 4: too wasteful for splits the assignors
    never make.
    """
    check_split(assigned_partitions, total_partitions)
    if isinstance(global_max, bool) or not isinstance(global_max, int) or global_max < 1:
        raise ValueError(f"a concurrency limit is an integer >= 1, not {global_max!r}")
    if assigned_partitions == 0:
        return 0
    return max(1, global_max * assigned_partitions // total_partitions)


def check_split(assigned: int, total: int) -> None:
    if total < 1:
        raise ValueError(f"a topic has at least one partition, not {total}")
    if not 0 <= assigned <= total:
        raise ValueError(f"assigned partitions must lie in [0, {total}], not {assigned}")

"""What one updateLeadFast call came to, and the pure rule that decides it.

Outcome classes (what the pipeline does with each)::

    Outcome
    ├── Applied       the PBX updated the lead             → offset done
    ├── Retry         may succeed later (103, 109, 408,     → same lane, after backoff
    │                 429, 500, ambiguous timeouts/resets)
    ├── Unavailable   the PBX is not there (refused,        → breaker; budget not spent
    │                 502/503/504)
    ├── Permanent     will never succeed as sent (101, …)   → dead letter
    └── Fatal         our credentials are refused (401/403) → stop the service
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Applied:
    http_status: int = 200


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str
    """Machine name: a Noojee code name, ``HTTP_429``, ``READ_TIMEOUT``, ..."""
    message: str
    after: float | None = None
    """Seconds the server asked us to wait (``Retry-After``), if it did."""
    code: int | None = None
    http_status: int | None = None
    body: str = ""
    overload: bool = False
    """True when the PBX said it is over capacity (109): lower concurrency."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    reason: str
    message: str
    http_status: int | None = None
    body: str = ""


@dataclass(frozen=True, slots=True)
class Permanent:
    reason: str
    message: str
    code: int | None = None
    http_status: int | None = None
    body: str = ""


@dataclass(frozen=True, slots=True)
class Fatal:
    reason: str
    message: str
    http_status: int | None = None
    body: str = ""


Outcome = Applied | Retry | Unavailable | Permanent | Fatal

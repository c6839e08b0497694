"""The simulated PBX's bookkeeping: exact counters, calls executing, applied history.

No I/O and no awaits: ``consumer/sandbox/simulator/server.py`` carries these decisions out over
HTTP and the unit tests drive them directly. Every method is O(1) in the size
of the history, so the simulator keeps up with thousands of calls a second.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consumer.sandbox.simulator.config import SimulatorConfig, apply_update, config_to_json
from consumer.sandbox.simulator.store import LeadStore, response_of
from contracts.noojee import ALLOW_DUPLICATES, Endpoint, NoojeeCode


@dataclass(slots=True)
class Stats:
    """Exact counters; ``executing`` and ``queued`` are gauges that survive a reset."""

    requests: int = 0
    """Calls received on either endpoint's path, whatever their answer."""
    arrivals: int = 0
    """Calls that reached the capacity gate, in arrival order (tests wait on it)."""
    applied: int = 0
    aborted: int = 0
    """Calls cut off while executing (the PBX port closed under them)."""
    executing: int = 0
    queued: int = 0
    max_concurrency: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    http_statuses: Counter[str] = field(default_factory=Counter)
    endpoint_requests: Counter[str] = field(default_factory=Counter)
    """``requests`` per endpoint (``updateLeadFast``, ``insertLeadFast``)."""
    endpoint_applied: Counter[str] = field(default_factory=Counter)
    """``applied`` per endpoint."""


@dataclass(slots=True)
class Call:
    """One call from the moment it got a slot until it left it (applied or not)."""

    lead_id: str | None
    seq: int
    """Admission order: 1 for the first call ever given a slot."""
    started_at: float
    finished_at: float | None = None
    code: int | None = None
    endpoint: Endpoint = Endpoint.UPDATE

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "code": self.code,
            "endpoint": self.endpoint.value,
        }


@dataclass(frozen=True, slots=True)
class AppliedUpdate:
    body: Mapping[str, Any]
    query: Mapping[str, str]
    """The URL's query parameters, ``apiKey`` removed."""
    started_at: float
    finished_at: float
    seq: int
    endpoint: Endpoint = Endpoint.UPDATE
    """The call that applied it: an update, or the insert that created the lead."""

    def to_json(self) -> dict[str, Any]:
        return {
            "body": dict(self.body),
            "query": dict(self.query),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seq": self.seq,
            "endpoint": self.endpoint.value,
        }


class SimulatorState:
    """Everything the simulated PBX knows about its calls."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.capacity = config.capacity
        self.store = LeadStore(config)
        self.stats = Stats()
        self._rng = random.Random(config.seed)
        self._applied: dict[str, list[AppliedUpdate]] = {}
        self._calls: dict[str, list[Call]] = {}
        self._running: dict[str, int] = {}
        self._overlaps: dict[str, None] = {}

    def update_config(self, doc: object) -> SimulatorConfig:
        """Apply an admin partial update; raises ``ConfigError`` and changes nothing if invalid."""
        config = apply_update(self.config, doc)
        assert isinstance(doc, dict)
        self.store.redeclare(config, doc)
        self.config = config
        return config

    def config_json(self) -> dict[str, Any]:
        return {**config_to_json(self.config), **self.store.to_json(), "capacity": self.capacity}

    def service_seconds(self, lead_id: str | None) -> float:
        """How long one call executes; never under ``min_service_ms``."""
        config = self.config
        low = config.min_service_ms / 1000
        hold = config.hold_leads.get(lead_id) if lead_id is not None else None
        if hold is not None:
            return max(low, hold)
        high = low if config.max_service_ms is None else config.max_service_ms / 1000
        seconds = self._rng.uniform(low, high)
        if config.spike_ratio and self._rng.random() < config.spike_ratio:
            seconds += config.spike_ms / 1000
        return max(low, seconds)

    def answered(self, http_status: int, code: int | None = None) -> None:
        """Count one answer."""
        self.stats.http_statuses[str(http_status)] += 1
        if code is not None:
            self.stats.codes[str(code)] += 1

    def begin(
        self, lead_id: str | None, seq: int, now: float, endpoint: Endpoint = Endpoint.UPDATE
    ) -> Call:
        """A call got a slot: count it executing and note whether its lead already had one."""
        stats = self.stats
        stats.executing += 1
        stats.max_concurrency = max(stats.max_concurrency, stats.executing)
        call = Call(lead_id, seq, now, endpoint=endpoint)
        if lead_id is not None:
            running = self._running.get(lead_id, 0)
            if running:
                self._overlaps[lead_id] = None
            self._running[lead_id] = running + 1
            self._calls.setdefault(lead_id, []).append(call)
        return call

    def finish(
        self, call: Call, body: object, query: Mapping[str, str], now: float
    ) -> tuple[int, dict[str, Any]]:
        """Decide the call's answer after its service time, apply it, count it."""
        fail = self.config.error_ratio > 0 and self._rng.random() < self.config.error_ratio
        if call.endpoint is Endpoint.INSERT:
            duplicates = query.get(ALLOW_DUPLICATES, "").lower() == "true"
            code = self.store.answer_insert(body, allow_duplicates=duplicates, fail=fail)
        else:
            code = self.store.answer(body, fail=fail)
        self._leave(call, now, code)
        if code is NoojeeCode.OK and isinstance(body, dict) and call.lead_id is not None:
            update = AppliedUpdate(body, query, call.started_at, now, call.seq, call.endpoint)
            self._applied.setdefault(call.lead_id, []).append(update)
            self.stats.applied += 1
            self.stats.endpoint_applied[call.endpoint.value] += 1
        status, payload = response_of(code)
        self.answered(status, code)
        return status, payload

    def abort(self, call: Call, now: float) -> None:
        """The call was cut off before an answer: nothing applied."""
        self._leave(call, now, None)
        self.stats.aborted += 1

    def _leave(self, call: Call, now: float, code: int | None) -> None:
        call.finished_at, call.code = now, code
        self.stats.executing -= 1
        if call.lead_id is not None:
            left = self._running[call.lead_id] - 1
            if left:
                self._running[call.lead_id] = left
            else:
                del self._running[call.lead_id]

    def reset(self) -> None:
        """Forget history and counters; calls in flight still count as executing."""
        stats = self.stats
        fresh = Stats(executing=stats.executing, queued=stats.queued)
        fresh.max_concurrency = stats.executing
        for item in dataclasses.fields(Stats):  # in place: callers may hold ``stats``
            setattr(stats, item.name, getattr(fresh, item.name))
        self._applied.clear()
        self._calls.clear()
        self._overlaps.clear()

    def applied(self, lead_id: str) -> list[AppliedUpdate]:
        """The updates applied to one lead, in the order applied."""
        return list(self._applied.get(lead_id, ()))

    def applied_counts(self) -> dict[str, int]:
        return {lead: len(updates) for lead, updates in self._applied.items()}

    def calls(self, lead_id: str) -> list[Call]:
        """Every call for one lead that got a slot, in admission order."""
        return list(self._calls.get(lead_id, ()))

    def overlaps(self) -> list[str]:
        """Lead ids that ever had two calls executing at the same time."""
        return list(self._overlaps)

    def stats_json(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "requests": stats.requests,
            "arrivals": stats.arrivals,
            "applied": stats.applied,
            "aborted": stats.aborted,
            "codes": dict(stats.codes),
            "http_statuses": dict(stats.http_statuses),
            "executing": stats.executing,
            "queued": stats.queued,
            "max_concurrency": stats.max_concurrency,
            "endpoints": {
                endpoint.value: {
                    "requests": stats.endpoint_requests[endpoint.value],
                    "applied": stats.endpoint_applied[endpoint.value],
                }
                for endpoint in Endpoint
            },
            "capacity": self.capacity,
            "overlaps": len(self._overlaps),
            "outage": self.config.outage,
        }

"""The simulated PBX's options: defaults, validation, admin partial updates.

Pure: ``simulator_state`` holds the live lead store and counters built from
these options; ``simulator.py`` and ``leadsync simulate`` construct them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

OUTAGE_MODES: Final = ("503", "refuse")
DEFAULT_PHONE_FIELDS: Final = ("FirstPhone", "SecondPhone", "ThirdPhone", "MobilePhone")

_LEAD_SETS: Final = (
    "unknown_leads",
    "never_dialled",
    "dnc_numbers",
    "duplicate_numbers",
    "importing_leads",
    "duplicate_external_ids",
)
_OPTIONAL_SETS: Final = ("known_leads", "valid_dispositions", "valid_contact_hours")
_NUMBERS: Final = ("error_ratio", "spike_ratio", "spike_ms", "min_service_ms", "queue_timeout_s")
_MAPPINGS: Final = ("conflict_leads", "hold_leads")
UPDATABLE: Final = frozenset(
    (*_LEAD_SETS, *_OPTIONAL_SETS, *_NUMBERS, *_MAPPINGS, "max_service_ms", "outage")
)
"""Options ``POST /_sim/config`` may change; the rest are fixed at start."""


class ConfigError(ValueError):
    """A simulator option is invalid; the message names the option."""


def _require(ok: bool, name: str, rule: str) -> None:
    if not ok:
        raise ConfigError(f"{name} {rule}")


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Every option of the simulated PBX; lead-store fields are declarations."""

    api_key: str = field(repr=False)
    threads: int = 8
    min_service_ms: float = 100.0
    max_service_ms: float | None = None
    """None: every call takes exactly ``min_service_ms``."""
    queue_timeout_s: float = 60.0
    error_ratio: float = 0.0
    spike_ratio: float = 0.0
    spike_ms: float = 0.0
    outage: str | None = None
    phone_fields: tuple[str, ...] = DEFAULT_PHONE_FIELDS
    unknown_leads: frozenset[str] = frozenset()
    known_leads: frozenset[str] | None = None
    """Whitelist mode: when set, every other lead id is unknown (101)."""
    never_dialled: frozenset[str] = frozenset()
    dnc_numbers: frozenset[str] = frozenset()
    duplicate_numbers: frozenset[str] = frozenset()
    valid_dispositions: frozenset[str] | None = None
    """None: every disposition exists."""
    valid_contact_hours: frozenset[str] | None = None
    importing_leads: frozenset[str] = frozenset()
    duplicate_external_ids: frozenset[str] = frozenset()
    conflict_leads: Mapping[str, int] = field(default_factory=dict)
    """Lead id -> how many coming calls for it answer 110."""
    hold_leads: Mapping[str, float] = field(default_factory=dict)
    """Lead id -> seconds every call for it executes."""
    seed: int | None = None

    def __post_init__(self) -> None:
        _require(bool(self.api_key), "api_key", "must not be empty")
        _require(self.threads >= 1, "threads", "must be at least 1")
        for name in ("min_service_ms", "spike_ms"):
            value = getattr(self, name)
            _require(math.isfinite(value) and value >= 0, name, "must be a finite number >= 0")
        if self.max_service_ms is not None:
            _require(
                math.isfinite(self.max_service_ms) and self.max_service_ms >= self.min_service_ms,
                "max_service_ms",
                "must be a finite number >= min_service_ms",
            )
        timeout = self.queue_timeout_s
        _require(math.isfinite(timeout) and timeout > 0, "queue_timeout_s", "must be > 0")
        for name in ("error_ratio", "spike_ratio"):
            _require(0.0 <= getattr(self, name) <= 1.0, name, "must be between 0 and 1")
        _require(self.outage in (None, *OUTAGE_MODES), "outage", "must be null, '503' or 'refuse'")
        _require(bool(self.phone_fields), "phone_fields", "must name at least one field")
        conflicts = self.conflict_leads.values()
        _require(min(conflicts, default=0) >= 0, "conflict_leads", "counts must be >= 0")
        holds = self.hold_leads.values()
        _require(
            all(math.isfinite(s) and s >= 0 for s in holds), "hold_leads", "seconds must be >= 0"
        )

    @property
    def capacity(self) -> int:
        """Calls executing at once: PBX hardware threads / 2."""
        return max(1, self.threads // 2)


def apply_update(config: SimulatorConfig, doc: object) -> SimulatorConfig:
    """``config`` with the options of an admin JSON object replaced (partial update)."""
    if not isinstance(doc, dict):
        raise ConfigError("the body must be a JSON object of options")
    unknown = sorted(set(doc) - UPDATABLE)
    if unknown:
        names = ", ".join(sorted(UPDATABLE))
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; updatable: {names}")
    changes: dict[str, Any] = {name: _coerce(name, value) for name, value in doc.items()}
    return dataclasses.replace(config, **changes)


def _coerce(name: str, value: object) -> object:
    """One admin value as the option's type; ranges are checked by ``SimulatorConfig``."""
    nullable = name in _OPTIONAL_SETS or name in ("max_service_ms", "outage")
    if value is None and nullable:
        return None
    or_null = " or null" if nullable else ""
    if name == "outage":
        if not isinstance(value, str):
            raise ConfigError("outage must be null, '503' or 'refuse'")
        return value
    if name in _LEAD_SETS or name in _OPTIONAL_SETS:
        if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            raise ConfigError(f"{name} must be a list of strings{or_null}")
        return frozenset(value)
    if name in _MAPPINGS:
        if not (isinstance(value, dict) and all(_is_number(v) for v in value.values())):
            raise ConfigError(f"{name} must be an object of lead id -> number")
        if name == "conflict_leads" and not all(isinstance(v, int) for v in value.values()):
            raise ConfigError("conflict_leads counts must be whole numbers")
        return dict(value)
    if not _is_number(value):
        raise ConfigError(f"{name} must be a number{or_null}")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def config_to_json(config: SimulatorConfig) -> dict[str, Any]:
    """Every option but the API key, as JSON-ready values."""
    doc: dict[str, Any] = {}
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if isinstance(value, frozenset | tuple):
            value = sorted(value) if isinstance(value, frozenset) else list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        doc[item.name] = value
    del doc["api_key"]
    return doc

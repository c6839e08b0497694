"""The gauges: what the service's state reads as, sampled when a reader collects.

A gauge reads state the event loop owns. A Prometheus scrape collects on the loop;
an OTLP exporter collects on its own thread, so the read is handed to the loop
and waited for at most ``SAMPLE_TIMEOUT_S`` (no sample beats a stale one).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from consumer.observability.freshness import partition_ages

T = TypeVar("T")

SAMPLE_TIMEOUT_S = 0.5
"""How long an exporter thread waits for the event loop to read a gauge."""
BREAKER_STATES: Mapping[str, int] = {"closed": 0, "open": 1, "probing": 2}
"""``leadsync_breaker_state``'s values, by ``consumer.delivery.breaker.BreakerState``."""

Lag = Mapping[tuple[str, int], int]
"""(topic, partition) -> messages behind; ``aiokafka.TopicPartition`` keys fit."""


class Gauges:
    """Every gauge of ``_GAUGES`` on ``meter``, reading the sources ``observe`` names."""

    def __init__(self, meter: Meter) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sources: dict[str, Callable[[], object]] = {}
        for name, source, unit, description in _GAUGES:
            meter.create_observable_gauge(
                name, [self.callback(source)], unit=unit, description=description
            )

    def observe(self, sources: Mapping[str, Callable[[], object]]) -> None:
        """Register (or replace) sources; call it from the loop that owns their state."""
        self._sources.update(sources)
        self._loop = _running_loop()

    def callback(self, source: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            read = self._sources.get(source)
            if read is None:
                return []
            try:
                value = self._on_loop(read)
            except (concurrent.futures.TimeoutError, RuntimeError):
                return []  # the loop is stuck or gone: no sample beats a stale one
            return _observations(source, value)

        return callback

    def _on_loop(self, read: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None or _running_loop() is loop:
            return read()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(read())
            except Exception as exc:  # noqa: BLE001 - handed to the waiting thread
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=SAMPLE_TIMEOUT_S)


_GAUGES = (
    (
        "leadsync.events.in_flight",
        "in_flight",
        "{event}",
        "Events taken from Kafka and not yet applied or dead-lettered.",
    ),
    ("leadsync.breaker.state", "breaker", "1", "PBX outage breaker: 0 closed, 1 open, 2 probing."),
    ("leadsync.consumer.lag", "lag", "{message}", "Messages behind the partition's end."),
    (
        "leadsync.share.rate",
        "rate_share",
        "{call}/s",
        "This process's share of LEADSYNC_RATE_LIMIT.",
    ),
    (
        "leadsync.share.concurrency",
        "concurrency_share",
        "{call}",
        "This process's share of LEADSYNC_MAX_CONCURRENCY.",
    ),
    (
        "leadsync.concurrency.limit",
        "concurrency_limit",
        "{call}",
        "Calls at once allowed now: the adaptive limit, at most the share.",
    ),
    (
        "leadsync.oldest_unfinished.age",
        "oldest_unfinished",
        "s",
        "Age (Kafka timestamp) of the oldest unfinished event of each partition; 0 when none.",
    ),
    (
        "leadsync.last_commit.timestamp",
        "last_commit",
        "s",
        "When offsets were last committed (Unix time; start-up before the first commit).",
    ),
    (
        "leadsync.maintenance.paused",
        "paused",
        "1",
        "1 while a maintenance window (LEADSYNC_PAUSE_WINDOWS) holds every partition.",
    ),
)


def _observations(source: str, value: object) -> list[Observation]:
    if source == "oldest_unfinished" and isinstance(value, Mapping):
        return partition_ages(value, time.time())
    if source == "lag" and isinstance(value, Mapping):
        return [
            Observation(lag, {"topic": str(topic), "partition": str(partition)})
            for (topic, partition), lag in value.items()
        ]
    if source == "breaker":
        state = BREAKER_STATES.get(str(value))
        return [] if state is None else [Observation(state)]
    if isinstance(value, int | float):
        return [Observation(value)]
    return []


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None

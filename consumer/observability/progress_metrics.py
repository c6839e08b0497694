"""The progress topic's metrics: what was skipped on a takeover, and what persisting costs.

Their own instruments, beside ``consumer.observability.metrics``'s: they describe
``consumer.ownership.progress_log``, which calls these hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from consumer.observability.metrics import METER_NAME

WRITE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
SIZE_BUCKETS_BYTES = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536)


_COUNTERS = (
    (
        "resumed",
        "leadsync.events.resumed",
        "{event}",
        "Events an earlier owner of the partition had finished: marked done without a call "
        "(the progress topic).",
    ),
    (
        "omitted",
        "leadsync.progress.omitted",
        "{offset}",
        "Finished offsets left out of a progress record by LEADSYNC_PROGRESS_MAX_BYTES "
        "(a next owner sends them again).",
    ),
    (
        "failures",
        "leadsync.progress.write.failures",
        "{write}",
        "Progress writes the broker did not acknowledge (retried next flush).",
    ),
)
"""Attribute of ``ProgressMetrics`` -> the counter that reports it."""


class ProgressMetrics:
    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter(METER_NAME)
        self.resumed = 0
        self.omitted = 0
        self.failures = 0
        for attribute, name, unit, description in _COUNTERS:
            meter.create_observable_counter(
                name, [self._count(attribute)], unit=unit, description=description
            )
        self._duration = meter.create_histogram(
            "leadsync.progress.write.duration",
            unit="s",
            description="Time from a progress flush's first record to the broker's last ack.",
            explicit_bucket_boundaries_advisory=WRITE_BUCKETS_S,
        )
        self._size = meter.create_histogram(
            "leadsync.progress.record.size",
            unit="By",
            description="Size of one progress record: the encoded finished set of a partition.",
            explicit_bucket_boundaries_advisory=SIZE_BUCKETS_BYTES,
        )

    def event_resumed(self) -> None:
        self.resumed += 1

    def progress_written(self, duration_s: float, size_bytes: int, omitted: int) -> None:
        self._duration.record(duration_s)
        self._size.record(size_bytes)
        self.omitted += omitted

    def progress_write_failed(self) -> None:
        self.failures += 1

    def _count(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(getattr(self, name))]

        return observe

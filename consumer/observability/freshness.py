"""How fresh the dialler's data is: the metrics of age, in one place.

- ``leadsync.event.freshness`` (histogram, s): from the event's own time (its
  ``occurred_at``: when the change happened in the CRM) to the moment the PBX
  applied it. A replayed dead letter counts from its original time: that is how
  long the dialler went without the change.
- ``leadsync.oldest_unfinished.age`` (gauge, s, per partition): how old the
  record is that holds each partition's commit back (its Kafka timestamp), 0
  when nothing is unfinished. It grows while one lead's event retries, or while
  a backlog drains.
- ``leadsync.last_commit.timestamp`` (gauge, Unix s): when offsets were last
  committed (start-up before the first commit). With lag above zero, an old one
  is a stalled consumer.
- ``leadsync.maintenance.paused`` (gauge, 0/1): a maintenance window
  (``LEADSYNC_PAUSE_WINDOWS``) holds every partition.

A clock that runs ahead of ours (the CRM's, the producer's) would make ages
negative; they count as 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from opentelemetry.metrics import Meter, Observation

FRESHNESS_BUCKETS_S = (
    *(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    *(120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0),
)
"""From the fastest path through (tens of ms) to a day-long outage."""

Timestamps = Mapping[tuple[str, int], int | None]
"""(topic, partition) -> the record timestamp (ms) of its oldest unfinished event, if any."""


def age_s(then_s: float, now_s: float) -> float:
    return max(0.0, now_s - then_s)


def partition_ages(timestamps: Timestamps, now_s: float) -> list[Observation]:
    """``leadsync.oldest_unfinished.age``'s points: 0 where nothing is unfinished."""
    return [
        Observation(
            0.0 if stamp is None else age_s(stamp / 1000, now_s),
            {"topic": str(topic), "partition": str(partition)},
        )
        for (topic, partition), stamp in timestamps.items()
    ]


class Freshness:
    """The freshness histogram (the gauges are read in ``consumer.observability.gauges``)."""

    def __init__(self, meter: Meter, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._histogram = meter.create_histogram(
            "leadsync.event.freshness",
            unit="s",
            description="From an event's occurred_at to the PBX applying it.",
            explicit_bucket_boundaries_advisory=FRESHNESS_BUCKETS_S,
        )

    def applied(self, event_time_s: float | None) -> None:
        if event_time_s is not None:
            self._histogram.record(age_s(event_time_s, self._clock()))

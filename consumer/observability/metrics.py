"""The service's metrics: OpenTelemetry instruments that read well in Prometheus.

Instrument names are dotted OpenTelemetry names; the Prometheus exporter turns
``leadsync.noojee.call.duration`` with unit ``s`` into
``leadsync_noojee_call_duration_seconds``, a counter into ``<name>_total``, and
drops curly-brace units (``{event}``). docs/operations.md lists them all.

Labels hold only bounded, machine-made values (outcome, reason, Noojee code,
topic, partition): never a URL, a lead id or free text. Gauges are read through
callbacks the pipeline registers with ``observe_gauges``; a callback runs on the
event loop even when an OTLP exporter's thread collects, because the state it
reads belongs to the loop.

The counters are counted here, per label set, and reported through observable
counters when a reader collects: an SDK ``Counter.add`` costs microseconds (the
attributes cleaned, hashed and looked up on every call), which per event adds
up, while a dict increment costs next to nothing. What a reader sees is the
same: a monotonic sum per label set, from its first increment on. The two
histograms are counted here too, when the providers came from
``otel_env.build_providers`` (its readers add them to each collection:
``consumer.observability.histograms``); with other providers they are the SDK's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from consumer.observability.freshness import Freshness, Timestamps
from consumer.observability.gauges import Gauges, Lag
from consumer.observability.histograms import HistogramSpec, HistogramTallies, Labels
from consumer.observability.tracing import Redact, noojee_code, outcome_name, outcome_reason
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied, Outcome
from contracts.noojee import Endpoint

T = TypeVar("T")

METER_NAME = "leadsync"
APPLIED = "applied"
DEAD_LETTERED = "dead_lettered"
NO_CODE = "none"
OTHER = "OTHER"

CALL_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 75.0, 120.0)
"""Up to past the PBX's 60 s queue limit and the 75 s request timeout."""
WAIT_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LABEL_CACHE_LIMIT = 1024
"""Distinct reasons remembered; they are machine names, a few dozen in all."""

_LabelSet = Labels
"""A counter's labels as ``(name, value)`` pairs, in a fixed order: a dict key."""

CALL_DURATION = HistogramSpec(
    "leadsync.noojee.call.duration",
    "s",
    "Duration of one updateLeadFast call, by outcome.",
    CALL_BUCKETS_S,
)
THROTTLE_WAIT = HistogramSpec(
    "leadsync.throttle.wait",
    "s",
    "Time a call waited for the rate and concurrency limits.",
    WAIT_BUCKETS_S,
)


class Metrics:
    def __init__(
        self,
        meter_provider: MeterProvider,
        *,
        redact: Redact = lambda text: text,
        tallies: HistogramTallies | None = None,
    ):
        """``tallies``: where the histograms are counted, when the providers' readers add
        them (``otel_env.build_providers``); None records them through the SDK."""
        meter = meter_provider.get_meter(METER_NAME)
        self._redact = redact
        self._labels: dict[str, str] = {}
        self._events = _Tally()
        self._retries = _Tally()
        self._calls = _Tally()
        self._inserts = _Tally()
        self._fallbacks = _Tally()
        # (outcome type, code, reason) -> the call's label set; bounded like the labels.
        self._call_keys: dict[tuple[type[Outcome], int | None, str], _LabelSet] = {}
        self._applied_event: _LabelSet = (("outcome", APPLIED),)
        self._applied_call = self._call_labels(Applied())
        # One label set per outcome name (a fixed few), shared by every record.
        self._durations: dict[str, _LabelSet] = {}
        meter.create_observable_counter(
            "leadsync.events",
            [self._events.observe],
            unit="{event}",
            description="Events finished, by outcome (applied, dead_lettered) and reason.",
        )
        meter.create_observable_counter(
            "leadsync.retries",
            [self._retries.observe],
            unit="{retry}",
            description="Retries scheduled (an event sent back to its lane), by reason.",
        )
        meter.create_observable_counter(
            "leadsync.noojee.calls",
            [self._calls.observe],
            unit="{call}",
            description="Calls to the PBX (updateLeadFast and insertLeadFast), by Noojee "
            "code, outcome and reason.",
        )
        meter.create_observable_counter(
            "leadsync.noojee.inserts",
            [self._inserts.observe],
            unit="{call}",
            description="insertLeadFast calls (also counted in leadsync.noojee.calls), by "
            "Noojee code, outcome and reason.",
        )
        meter.create_observable_counter(
            "leadsync.fallbacks",
            [self._fallbacks.observe],
            unit="{call}",
            description="Calls made because the PBX refused the one before: update_existing "
            "(an insert answered 112), create_missing (an update answered 101), "
            "undialled_resend (an update answered 107).",
        )
        if tallies is not None:
            self._call_duration: _Histogram = tallies.histogram(CALL_DURATION)
            self._throttle_wait: _Histogram = tallies.histogram(THROTTLE_WAIT)
        else:
            self._call_duration = _SdkHistogram(meter, CALL_DURATION)
            self._throttle_wait = _SdkHistogram(meter, THROTTLE_WAIT)
        self._gauges = Gauges(meter)
        self._freshness = Freshness(meter)
        self._omitted = _Tally()
        meter.create_observable_counter(
            "leadsync.dead_letters.omitted",
            [self._omitted.observe],
            unit="{record}",
            description="Dead letters the topic refused as too large, written without their "
            "value (or key, or headers); the original stays in the source topic.",
        )
        meter.create_observable_counter(
            "leadsync.events.coalesced",
            [self._gauges.callback("coalesced")],
            unit="{event}",
            description="Waiting events merged into a later event of the same lead.",
        )

    # -- hooks ----------------------------------------------------------------

    def event_applied(self, event_time_s: float | None = None) -> None:
        """``event_time_s``: when the event happened (Unix s), for the freshness histogram."""
        self._events.add(self._applied_event)
        self._freshness.applied(event_time_s)

    def event_dead_lettered(self, reason: str) -> None:
        self._events.add((("outcome", DEAD_LETTERED), ("reason", self._label(reason))))

    def dead_letter_omitted(self) -> None:
        self._omitted.add(())

    def fallback_taken(self, route: str) -> None:
        """A fallback route was taken (``consumer.delivery.routes.Route``'s value)."""
        self._fallbacks.add((("fallback", self._label(route)),))

    def retry_scheduled(self, reason: str) -> None:
        self._retries.add((("reason", self._label(reason)),))

    def call_finished(self, result: CallResult, waited_s: float) -> None:
        outcome = result.outcome
        labels = self._applied_call if type(outcome) is Applied else self._call_labels(outcome)
        self._calls.add(labels)
        if result.endpoint is Endpoint.INSERT:
            self._inserts.add(labels)
        name = labels[1][1]
        by_outcome = self._durations.get(name)
        if by_outcome is None:
            by_outcome = self._durations[name] = (("outcome", name),)
        self._call_duration.record(result.duration_s, by_outcome)
        self._throttle_wait.record(waited_s)

    def observe_gauges(
        self,
        *,
        in_flight: Callable[[], int] | None = None,
        breaker: Callable[[], str] | None = None,
        lag: Callable[[], Lag] | None = None,
        rate_share: Callable[[], float] | None = None,
        concurrency_share: Callable[[], int] | None = None,
        concurrency_limit: Callable[[], int] | None = None,
        coalesced: Callable[[], int] | None = None,
        oldest_unfinished: Callable[[], Timestamps] | None = None,
        last_commit: Callable[[], float] | None = None,
        paused: Callable[[], int] | None = None,
    ) -> None:
        """Register (or replace) what the gauges read; an absent one reports nothing.

        Call it from the event loop that owns the state: collections from
        other threads (the OTLP exporter's) are handed to that loop.
        """
        given = {
            "in_flight": in_flight,
            "breaker": breaker,
            "lag": lag,
            "rate_share": rate_share,
            "concurrency_share": concurrency_share,
            "concurrency_limit": concurrency_limit,
            "coalesced": coalesced,
            "oldest_unfinished": oldest_unfinished,
            "last_commit": last_commit,
            "paused": paused,
        }
        self._gauges.observe({k: v for k, v in given.items() if v is not None})

    # -- internals -------------------------------------------------------------

    def _call_labels(self, outcome: Outcome) -> _LabelSet:
        """``leadsync.noojee.calls``'s labels for ``outcome``: code, outcome, reason."""
        code = noojee_code(outcome)
        reason = outcome_reason(outcome)
        key = (type(outcome), code, reason)
        labels = self._call_keys.get(key)
        if labels is None:
            if len(self._call_keys) >= _LABEL_CACHE_LIMIT:
                self._call_keys.clear()
            labels = self._call_keys[key] = (
                ("code", NO_CODE if code is None else str(code)),
                ("outcome", outcome_name(outcome)),
                ("reason", self._label(reason)),
            )
        return labels

    def _label(self, value: str) -> str:
        """A label value that can hold neither a secret nor unbounded text."""
        label = self._labels.get(value)
        if label is None:
            if len(self._labels) >= _LABEL_CACHE_LIMIT:
                self._labels.clear()
            shown = self._redact(value)
            label = shown if shown == value and _LABEL.fullmatch(value) else OTHER
            self._labels[value] = label
        return label


class _Histogram(Protocol):
    def record(self, value: float, labels: _LabelSet = ()) -> None: ...


class _SdkHistogram:
    """An SDK histogram taking labels as ``HistogramTally`` does."""

    __slots__ = ("_attributes", "_histogram")

    def __init__(self, meter: Meter, spec: HistogramSpec) -> None:
        self._histogram = meter.create_histogram(
            spec.name,
            unit=spec.unit,
            description=spec.description,
            explicit_bucket_boundaries_advisory=spec.bounds,
        )
        self._attributes: dict[_LabelSet, dict[str, str]] = {}

    def record(self, value: float, labels: _LabelSet = ()) -> None:
        attributes = self._attributes.get(labels)
        if attributes is None:
            attributes = self._attributes[labels] = dict(labels)
        self._histogram.record(value, attributes)


class _Tally:
    """Counts per label set, for an observable counter: cumulative, from the first one."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[_LabelSet, int] = {}

    def add(self, labels: _LabelSet) -> None:
        counts = self._counts
        counts[labels] = counts.get(labels, 0) + 1

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        # Any thread may collect: copying the dict is one step under the GIL, and
        # only the event loop writes to it.
        return [Observation(count, dict(labels)) for labels, count in self._counts.copy().items()]

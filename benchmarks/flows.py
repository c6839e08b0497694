"""The measured runs the scenarios are made of: consumers draining a load, or the bare loop.

A run resets the PBX's counters before its processes start; rates and CPU are
counted over the span in which the PBX's applied counter went from zero to the
load's size, so start-up and group joins are outside every figure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from benchmarks.harness import Proc, Watch, World, until_assigned
from benchmarks.load import create_topic, produce, write_payloads
from benchmarks.measures import AppliedCall, increase, latencies, percentile, waits, work_span
from benchmarks.pbx import Pbx

T = TypeVar("T")
BACKLOG = "A"
"""Lead-id prefix of the events produced at once."""
PACED = "P"
"""Lead-id prefix of the events produced at a steady rate, for latency."""


@dataclass(frozen=True, slots=True)
class Mode:
    full: bool
    profile: bool = False
    """Also profile the CPU-bound scenario (a separate run, with py-spy)."""

    def pick(self, quick: T, full: T) -> T:
        return full if self.full else quick


@dataclass
class RunResult:
    calls: list[AppliedCall]
    """Every call applied in the run (empty when the run did not fetch them)."""
    stats: dict[str, Any]
    """The PBX's counters at the end of the run."""
    backlog_stats: dict[str, Any]
    """The PBX's counters once the backlog was applied (before any paced events)."""
    complete: bool
    """Every event was applied before the run's time limit."""
    events_per_s: float | None
    cpu_us_per_event: float | None
    peak_rss_mb: float
    exit_codes: list[int]

    def phase(self, prefix: str) -> list[AppliedCall]:
        return [call for call in self.calls if call.lead.startswith(prefix)]

    @property
    def applied(self) -> int:
        return int(self.stats.get("applied", 0))

    @property
    def code_109(self) -> int:
        return code_109(self.stats)

    @property
    def paced_109(self) -> int:
        """109 answers after the backlog was applied: under the steady paced load."""
        return code_109(self.stats) - code_109(self.backlog_stats)

    @property
    def max_concurrency(self) -> int:
        return int(self.stats.get("max_concurrency", 0))


def code_109(stats: dict[str, Any]) -> int:
    return int(stats.get("codes", {}).get("109", 0))


StartProcs = Callable[[str], Sequence[Proc]]
"""Starts the consumers of a topic."""
During = Callable[[Watch], Coroutine[Any, Any, None]]
"""A step of a run given its watch (an outage, attaching a profiler)."""


async def drain(
    world: World,
    pbx: Pbx,
    start: StartProcs,
    *,
    partitions: int,
    backlog: int,
    timeout_s: float,
    preload: bool = False,
    paced: int = 0,
    pace_rate: float | None = None,
    fetch: bool = True,
    during: During | None = None,
    ready: During | None = None,
    topic: str | None = None,
    even: bool = False,
    lossy: bool = False,
) -> RunResult:
    """Consumers drain ``backlog`` events, then ``paced`` more produced at ``pace_rate``/s.

    ``preload`` produces the backlog before the consumers start (a backlog that
    was waiting); otherwise right after they own every partition. ``topic``
    reuses a preloaded topic (with ``preload``) under a new consumer group.
    ``even`` deals the backlog out over the partitions in turn (``load.produce``).
    ``ready`` is awaited once the consumers own their partitions, before the
    backlog is produced; ``during`` runs alongside the backlog's drain.
    ``lossy``: the consumers retry nothing (the FastStream peer), so the run waits
    for the PBX to have answered every event rather than applied it.
    """
    spread = partitions if even else None
    if topic is None:
        topic = await create_topic(world.bootstrap, partitions)
        if preload:
            await produce(world.bootstrap, topic, BACKLOG, range(backlog), spread_over=spread)
    await pbx.reset()
    procs = start(topic)
    # Sampling from the start: a preloaded backlog is being applied as soon as
    # the partitions are assigned, and the CPU span must begin before that.
    async with Watch(pbx, procs) as watch:
        await until_assigned(procs, partitions)
        if ready is not None:
            await ready(watch)
        if not preload:
            await produce(world.bootstrap, topic, BACKLOG, range(backlog), spread_over=spread)
        helper = asyncio.create_task(during(watch)) if during is not None else None
        complete = await watch.until_applied(backlog, timeout_s, answered=lossy)
        if helper is not None:
            await helper
        backlog_stats = await pbx.stats()
        if paced and complete:
            await produce(world.bootstrap, topic, PACED, range(paced), rate=pace_rate)
            complete = await watch.until_applied(backlog + paced, timeout_s, answered=lossy)
        stats = await pbx.stats()
    run = await _finish(
        pbx, procs, watch, stats, backlog, complete=complete, fetch=fetch, lossy=lossy
    )
    run.backlog_stats = backlog_stats
    return run


async def bare_loop(
    world: World,
    pbx: Pbx,
    *,
    events: int,
    concurrency: int,
    rate: float | None,
    timeout_s: float,
    fetch: bool = True,
) -> RunResult:
    """The bare aiohttp loop posting the payloads of ``events`` backlog events."""
    payloads = world.workdir / f"payloads-{events}.jsonl"
    if not payloads.exists():
        write_payloads(payloads, BACKLOG, events)
    await pbx.reset()
    args = ["bare", "--payloads", str(payloads), "--concurrency", str(concurrency)]
    proc = world.baseline("bare", pbx, *args, *(["--rate", str(rate)] if rate else []))
    async with Watch(pbx, [proc]) as watch:
        complete = await watch.until_applied(events, timeout_s)
        stats = await pbx.stats()
    return await _finish(pbx, [proc], watch, stats, events, complete=complete, fetch=fetch)


async def _finish(
    pbx: Pbx,
    procs: Sequence[Proc],
    watch: Watch,
    stats: dict[str, Any],
    target: int,
    *,
    complete: bool,
    fetch: bool,
    lossy: bool = False,
) -> RunResult:
    codes = [await proc.stop() for proc in procs]
    span = work_span(watch.answered if lossy else watch.applied, target)
    rate = cpu_us = None
    if span is not None and span[1] > span[0]:
        start, end = span
        rate = target / (end - start)
        cpu = sum(increase(proc.cpu_series(), start, end) for proc in procs if proc.samples)
        cpu_us = cpu / target * 1e6
    return RunResult(
        calls=await pbx.applied() if fetch else [],
        stats=stats,
        backlog_stats=stats,
        complete=complete,
        events_per_s=rate,
        cpu_us_per_event=cpu_us,
        peak_rss_mb=max((proc.peak_rss_mb for proc in procs), default=0.0),
        exit_codes=codes,
    )


def naive_consumer(world: World, pbx: Pbx, retry_s: float = 1.0) -> StartProcs:
    """Starts the naive baseline on a topic (its own consumer group)."""

    def start(topic: str) -> list[Proc]:
        args = ["--bootstrap", world.bootstrap, "--topic", topic, "--group", f"{topic}-naive"]
        return [world.baseline("naive", pbx, "naive", *args, "--retry-s", str(retry_s))]

    return start


def faststream_peer(world: World, pbx: Pbx, workers: int, *, members: int = 1) -> StartProcs:
    """Starts ``members`` FastStream peers on a topic (one group), ``max_workers`` each."""

    def start(topic: str) -> list[Proc]:
        return [world.faststream(f"faststream{n + 1}", pbx, topic, workers) for n in range(members)]

    return start


def leadsync(
    world: World,
    pbx: Pbx,
    settings: Mapping[str, object] | None = None,
    *,
    members: int = 1,
    name: str = "leadsync",
    env: Mapping[str, str] | None = None,
) -> StartProcs:
    """Starts ``members`` service processes on a topic (one consumer group).

    ``settings``: ``LEADSYNC_*`` variables by lower-case name, e.g. ``{"rate_limit": 20}``;
    ``env``: other variables for the processes (``OTEL_*``).
    """

    def start(topic: str) -> list[Proc]:
        return [
            world.service(f"{name}{n + 1}", pbx, topic, settings, env=env) for n in range(members)
        ]

    return start


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def latency_ms(run: RunResult, q: float) -> float | None:
    """A percentile of the paced events' end-to-end latency."""
    values = latencies(run.phase(PACED))
    return ms(percentile(values, q)) if values else None


def wait_ms(run: RunResult, q: float) -> float | None:
    """A percentile of the paced events' time from produce to the start of their call."""
    values = waits(run.phase(PACED))
    return ms(percentile(values, q)) if values else None


def caveats(**runs: RunResult) -> str:
    """Sentences naming the runs that hit their time limit or did not exit cleanly."""
    late = [name for name, run in runs.items() if not run.complete]
    failed = [
        f"{name} (exit {', '.join(map(str, run.exit_codes))})"
        for name, run in runs.items()
        if any(run.exit_codes)
    ]
    text = ""
    if late:
        text += f" Not every event was applied within the time limit in: {', '.join(late)}."
    if failed:
        text += f" Stopped with SIGTERM, these did not exit 0: {', '.join(failed)}."
    return text

"""Scenario 1: how close leadsync gets to the PBX's capacity (the rate limit: ``rate``)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.flows import (
    BACKLOG,
    Mode,
    RunResult,
    caveats,
    drain,
    faststream_peer,
    latency_ms,
    leadsync,
    ms,
    naive_consumer,
    wait_ms,
)
from benchmarks.harness import world
from benchmarks.measures import (
    first_full,
    handover_gaps,
    percentile,
    throughput,
)
from benchmarks.report import TIMES, Figure, ScenarioResult

SERVICE_MS = (100.0, 150.0)
"""The PBX's service time, uniform in this range: the vendor's "no call under 100 ms"."""
UNLIMITED_RATE = 1_000_000
LOAD_FACTOR = 0.8
"""Latency is measured at this fraction of the PBX's capacity."""
LIGHT_RATE = 5
"""Events per second at which no call ever waits for a slot: delivery alone."""
PBX = {"threads": 8, "min_service_ms": SERVICE_MS[0], "max_service_ms": SERVICE_MS[1]}
UTILISATION_TARGET = 0.99
GAP_TARGET_MS = 1.0


def gap_ms(run: RunResult, q: float | None = None) -> float | None:
    """The backlog's handover gaps at the PBX: their mean (``q`` None) or a percentile."""
    gaps = handover_gaps(run.phase(BACKLOG))
    if not gaps:
        return None
    return ms(sum(gaps) / len(gaps) if q is None else percentile(gaps, q))


def nominal_rate(capacity: int) -> float:
    return capacity / (sum(SERVICE_MS) / 2 / 1000)


def service_range() -> str:
    return f"calls {SERVICE_MS[0]:.0f}-{SERVICE_MS[1]:.0f} ms"


def _delivery(ours_ms: float | None, naive_ms: float | None) -> str:
    """What the light load shows about the wait before a call starts."""
    if ours_ms is None or naive_ms is None:
        return ""
    text = (
        f" At {LIGHT_RATE}/s, where no call waits for a slot, produce to call start took"
        f" {ours_ms:.0f} ms (median) for leadsync and {naive_ms:.0f} ms for the naive consumer"
    )
    if ours_ms <= 1.25 * naive_ms:
        return text + ": that much is Kafka's delivery (the broker and aiokafka's fetch)."
    return text + f": leadsync adds {ours_ms - naive_ms:.0f} ms of its own."


async def pbx_bound(mode: Mode, workdir: Path) -> ScenarioResult:
    backlog, paced, light_events = mode.pick(200, 1600), mode.pick(80, 640), mode.pick(25, 100)
    async with world(workdir) as w:
        pbx = await w.pbx(**PBX)
        cap, pace = pbx.capacity, LOAD_FACTOR * nominal_rate(pbx.capacity)
        ours = await drain(
            w,
            pbx,
            leadsync(w, pbx, {"max_concurrency": 4, "rate_limit": UNLIMITED_RATE}),
            partitions=4,
            backlog=backlog,
            paced=paced,
            pace_rate=pace,
            timeout_s=120,
        )
        roomy = await drain(
            w,
            pbx,
            leadsync(w, pbx, {"max_concurrency": 2 * cap, "rate_limit": UNLIMITED_RATE}),
            partitions=4,
            backlog=backlog,
            timeout_s=120,
        )
        theirs = await drain(
            w,
            pbx,
            naive_consumer(w, pbx),
            partitions=4,
            backlog=backlog // cap,
            paced=paced,
            pace_rate=pace,
            timeout_s=mode.pick(120, 400),
        )
        peer = await drain(
            w,
            pbx,
            faststream_peer(w, pbx, cap),
            partitions=4,
            backlog=backlog,
            paced=paced,
            pace_rate=pace,
            timeout_s=120,
            lossy=True,
        )
        light = [
            await drain(
                w,
                pbx,
                start,
                partitions=4,
                backlog=1,
                paced=light_events,
                pace_rate=LIGHT_RATE,
                timeout_s=60,
            )
            for start in (leadsync(w, pbx, {"max_concurrency": 4}), naive_consumer(w, pbx))
        ]
    mine, base = throughput(ours.phase(BACKLOG)), throughput(theirs.phase(BACKLOG))
    fs, above = throughput(peer.phase(BACKLOG)), throughput(roomy.phase(BACKLOG))
    u, p99, u_peer = mine.utilisation(cap), latency_ms(ours, 99), fs.utilisation(cap)
    u_above = above.utilisation(cap)
    gap, full = gap_ms(ours), first_full(ours.phase(BACKLOG), cap)
    result = ScenarioResult(
        "pbx-bound",
        "1. PBX-bound",
        f"PBX --threads 8 (capacity {cap}), {service_range()}; {backlog} events at once"
        f" (throughput), then {paced} produced at {pace:.1f}/s ({LOAD_FACTOR:.0%} of"
        f" capacity; latency); apart, {light_events} at {LIGHT_RATE}/s (delivery alone)."
        " MAX_CONCURRENCY=4, rate unlimited.",
        "the naive consumer (an aiokafka loop awaiting each call), same PBX,"
        f" {backlog // cap} events at once and the same paced loads. FastStream: its"
        f" subscriber with max_workers={cap} and an aiohttp POST per event"
        " (benchmarks/faststream_peer.py), the same loads as leadsync.",
    )
    result.figures = [
        Figure(
            "utilisation",
            u,
            TIMES,
            base.utilisation(cap),
            f"≥ {UTILISATION_TARGET} and above FastStream",
            u >= UTILISATION_TARGET and u > u_peer,
            peer=u_peer,
        ),
        Figure(
            f"utilisation, MAX_CONCURRENCY={2 * cap} (the limit learned, one call queued)",
            u_above,
            TIMES,
        ),
        Figure(
            f"handover gap at the PBX, mean, MAX_CONCURRENCY={2 * cap}",
            gap_ms(roomy),
            "ms",
        ),
        Figure(
            f"109 answers, MAX_CONCURRENCY={2 * cap}",
            roomy.code_109,
            "",
            None,
            "0",
            roomy.code_109 == 0,
        ),
        Figure("applied/s", mine.per_s, "/s", base.per_s, compare=True, peer=fs.per_s),
        Figure(
            "ideal: capacity ÷ mean service",
            mine.ideal_per_s(cap),
            "/s",
            base.ideal_per_s(cap),
            peer=fs.ideal_per_s(cap),
        ),
        Figure(
            "109 answers",
            ours.code_109,
            "",
            theirs.code_109,
            "0",
            ours.code_109 == 0,
            peer=peer.code_109,
        ),
        Figure(
            "p50 latency at 80 % load",
            latency_ms(ours, 50),
            "ms",
            latency_ms(theirs, 50),
            peer=latency_ms(peer, 50),
        ),
        Figure(
            "p99 latency at 80 % load", p99, "ms", latency_ms(theirs, 99), peer=latency_ms(peer, 99)
        ),
        Figure(
            "p50 produce to call start",
            wait_ms(ours, 50),
            "ms",
            wait_ms(theirs, 50),
            peer=wait_ms(peer, 50),
        ),
        Figure(
            f"p50 produce to call start at {LIGHT_RATE}/s",
            wait_ms(light[0], 50),
            "ms",
            wait_ms(light[1], 50),
        ),
        Figure(
            "slot idle between calls",
            ms(mine.idle_per_call_s(cap)),
            "ms",
            ms(base.idle_per_call_s(cap)),
            peer=ms(fs.idle_per_call_s(cap)),
        ),
        Figure(
            "handover gap at the PBX, mean",
            gap,
            "ms",
            gap_ms(theirs),
            f"≤ {GAP_TARGET_MS:g} ms",
            gap is not None and gap <= GAP_TARGET_MS,
            peer=gap_ms(peer),
        ),
        Figure(
            "handover gap at the PBX, p50",
            gap_ms(ours, 50),
            "ms",
            gap_ms(theirs, 50),
            peer=gap_ms(peer, 50),
        ),
    ]
    result.limits = (
        f"The PBX's {cap} slots at a mean service time of {mine.mean_service_s * 1000:.0f} ms"
        f" bound the rate at {mine.ideal_per_s(cap):.1f}/s; leadsync applied"
        f" {mine.per_s:.1f}/s ({u:.3f} of it); its slots stood empty"
        f" {mine.idle_per_call_s(cap) * 1000:.1f} ms per call on average, counting the"
        " start and the end of the drain: the PBX first ran"
        f" {cap} calls at once {full or 0:.2f} s after the first call (slow start: a base"
        " of three calls at two at a time, then a round per doubling), and the last calls end one"
        " by one. MAX_CONCURRENCY=4 is the PBX's capacity, and calls in flight never"
        " exceed it: each slot stands empty for an answer's way back and the next call's"
        f" way out, a handover gap at the PBX of {gap or 0:.2f} ms on average. With"
        f" MAX_CONCURRENCY={2 * cap} (a separate drain of the same backlog) adaptive"
        f" concurrency settles at the capacity, below the ceiling, and keeps one call"
        " waiting in the PBX's queue (docs/adaptive-concurrency.md, the queued call), so a"
        f" slot the PBX frees is taken at once: {u_above:.3f} of the ideal, a gap of"
        f" {gap_ms(roomy) or 0:.2f} ms. The naive"
        f" consumer keeps one slot busy ({base.utilisation(cap):.2f} of the ideal, about"
        f" 1 ÷ {cap}), so at {LOAD_FACTOR:.0%} of capacity its queue only grows and its"
        f" latency is its backlog's. leadsync's p99 is {p99 or 0:.0f} ms: a service time"
        f" plus the time from produce to the call's start (median {wait_ms(ours, 50) or 0:.0f}"
        " ms), which is Kafka delivery to the consumer and any wait for a free slot."
        + _delivery(wait_ms(light[0], 50), wait_ms(light[1], 50))
        + f" The FastStream peer reached {u_peer:.3f} of the ideal, its handover gap"
        f" {gap_ms(peer) or 0:.2f} ms on average against leadsync's {gap or 0:.2f} ms."
        + caveats(leadsync=ours, naive=theirs, faststream=peer)
    )
    return result

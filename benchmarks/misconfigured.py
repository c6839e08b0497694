"""Scenario 6: a concurrency limit four times the PBX's capacity, and a short queue timeout."""

from __future__ import annotations

from pathlib import Path

from benchmarks.capacity import (
    LOAD_FACTOR,
    PBX,
    UNLIMITED_RATE,
    nominal_rate,
    service_range,
)
from benchmarks.flows import (
    BACKLOG,
    Mode,
    caveats,
    drain,
    faststream_peer,
    latency_ms,
    leadsync,
)
from benchmarks.harness import world
from benchmarks.measures import throughput
from benchmarks.report import TIMES, Figure, ScenarioResult

MISCONFIGURED_TARGET = 0.98
MISCONFIGURED_LIMIT = 16
"""Four times the PBX's capacity."""


async def misconfigured(mode: Mode, workdir: Path) -> ScenarioResult:
    backlog, paced, queue_s = mode.pick(200, 1280), mode.pick(80, 512), 0.25
    async with world(workdir) as w:
        pbx = await w.pbx(**PBX, queue_timeout_s=queue_s)
        cap, pace = pbx.capacity, LOAD_FACTOR * nominal_rate(pbx.capacity)
        settings = {"max_concurrency": MISCONFIGURED_LIMIT, "rate_limit": UNLIMITED_RATE}
        runs = {}
        for adaptive in ("true", "false"):
            runs[adaptive] = await drain(
                w,
                pbx,
                leadsync(w, pbx, settings | {"adaptive_concurrency": adaptive}),
                partitions=4,
                backlog=backlog,
                paced=paced,
                pace_rate=pace,
                timeout_s=mode.pick(120, 300),
            )
        peer = await drain(
            w,
            pbx,
            faststream_peer(w, pbx, MISCONFIGURED_LIMIT),
            partitions=4,
            backlog=backlog,
            paced=paced,
            pace_rate=pace,
            timeout_s=mode.pick(120, 300),
            lossy=True,
        )
    on, off = runs["true"], runs["false"]
    t_on, t_off = throughput(on.phase(BACKLOG)), throughput(off.phase(BACKLOG))
    t_peer = throughput(peer.phase(BACKLOG))
    u = t_on.utilisation(cap)
    result = ScenarioResult(
        "misconfigured",
        "6. Misconfigured",
        f"PBX --threads 8 (capacity {cap}), {service_range()}, --queue-timeout-s {queue_s}"
        f" (109 after {queue_s} s queued); MAX_CONCURRENCY=16, rate unlimited; {backlog}"
        f" events at once, then {paced} at {pace:.1f}/s.",
        "the same service with LEADSYNC_ADAPTIVE_CONCURRENCY=false. FastStream: the peer"
        f" of scenario 1 configured the same way, max_workers={MISCONFIGURED_LIMIT}.",
    )
    met = u >= MISCONFIGURED_TARGET and on.code_109 == 0
    result.figures = [
        Figure(
            "utilisation",
            u,
            TIMES,
            t_off.utilisation(cap),
            f"≥ {MISCONFIGURED_TARGET} with 0 {TIMES} 109",
            met,
            peer=t_peer.utilisation(cap),
        ),
        Figure(
            "109 answers", on.code_109, "", off.code_109, "0", on.code_109 == 0, peer=peer.code_109
        ),
        Figure("109 answers at 80 % load", on.paced_109, "", off.paced_109, peer=peer.paced_109),
        Figure(
            "p50 latency at 80 % load",
            latency_ms(on, 50),
            "ms",
            latency_ms(off, 50),
            peer=latency_ms(peer, 50),
        ),
        Figure(
            "p99 latency at 80 % load",
            latency_ms(on, 99),
            "ms",
            latency_ms(off, 99),
            peer=latency_ms(peer, 99),
        ),
        Figure(
            "PBX max concurrency",
            on.max_concurrency,
            "",
            off.max_concurrency,
            peer=peer.max_concurrency,
        ),
    ]
    result.limits = (
        f"Sixteen calls at once against {cap} slots: the other twelve queue at the PBX,"
        f" and past {queue_s} s it answers 109. With adaptive concurrency on, leadsync"
        f" reached {u:.3f} of the ideal with {on.code_109} 109s; pinned at 16 it reached"
        f" {t_off.utilisation(cap):.3f} with {off.code_109}. Each 109 is a call that held a"
        " place in the PBX's queue for nothing and an event that waits a back-off before"
        f" its retry. At {LOAD_FACTOR:.0%} load, where a backlog never builds, the 109s"
        f" were {on.paced_109} (on) and {off.paced_109} (off), and the p99 latency"
        f" {latency_ms(on, 99) or 0:.0f} ms and {latency_ms(off, 99) or 0:.0f} ms."
        + f" The FastStream peer, {MISCONFIGURED_LIMIT} workers and no retries, drew"
        f" {peer.code_109} 109s: each an update lost."
        + caveats(adaptive_on=on, adaptive_off=off, faststream=peer)
    )
    return result

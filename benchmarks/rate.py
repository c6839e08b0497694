"""Scenario 2: how close leadsync gets to the rate limit, and never past it."""

from __future__ import annotations

from pathlib import Path

from benchmarks.capacity import PBX, SERVICE_MS, service_range
from benchmarks.flows import Mode, bare_loop, caveats, drain, leadsync
from benchmarks.harness import world
from benchmarks.measures import busiest_window, start_rate
from benchmarks.report import TIMES, Figure, ScenarioResult


async def rate_bound(mode: Mode, workdir: Path) -> ScenarioResult:
    events, rate = mode.pick(200, 1200), 20
    limit_s = events / rate * 2 + 30
    async with world(workdir) as w:
        pbx = await w.pbx(**(PBX | {"threads": 32}))
        settings = {"max_concurrency": 16, "rate_limit": rate}
        ours = await drain(
            w, pbx, leadsync(w, pbx, settings), partitions=4, backlog=events, timeout_s=limit_s
        )
        theirs = await bare_loop(
            w, pbx, events=events, concurrency=16, rate=rate, timeout_s=limit_s
        )
    mine_rate, base_rate = start_rate(ours.calls), start_rate(theirs.calls)
    worst = busiest_window(c.started_at for c in ours.calls)
    base_worst = busiest_window(c.started_at for c in theirs.calls)
    result = ScenarioResult(
        "rate-bound",
        "2. Rate-bound",
        f"PBX --threads 32 (capacity {pbx.capacity}), {service_range()}; {events} events"
        f" at once; RATE_LIMIT={rate}, MAX_CONCURRENCY=16.",
        f"a bare aiohttp loop, 16 workers behind aiolimiter.AsyncLimiter({rate}, 1)"
        " (the usual way to write a rate limit), same payloads.",
    )
    ratio = mine_rate / rate
    result.figures = [
        Figure(
            f"calls started/s ÷ {rate}", ratio, TIMES, base_rate / rate, "≥ 0.98", ratio >= 0.98
        ),
        Figure(
            "busiest 1 s window (calls started at the PBX)",
            worst,
            "",
            base_worst,
            f"≤ {rate} + 1",
            worst <= rate + 1,
        ),
        Figure("109 answers", ours.code_109, "", theirs.code_109, "0", ours.code_109 == 0),
    ]
    result.limits = (
        f"The rate limit alone: {rate}/s needs {rate * sum(SERVICE_MS) / 2000:.1f} calls in"
        f" flight of the {pbx.capacity} allowed. leadsync started {mine_rate:.2f} calls/s and"
        f" at most {worst} in any one-second window, counted where the calls start at the"
        f" PBX. Its limiter admits no more than {rate} in any second: a bucket of two"
        " tokens, the second making up for the event loop's late wake-ups (a bucket of"
        " one lost each one: 0.97 of the rate in the last run with it), and a log of the"
        f" last {rate} admissions that lets a call in only a second after the {rate}th"
        " before it. Counted at the far end a window can hold one more, the stated"
        " burst: a call's way to the PBX takes longer or shorter from one call to the"
        f" next (consumer/limits/rate_limit.py). AsyncLimiter({rate}, 1) starts with a full bucket"
        f" and let {base_worst} through in its busiest second." + caveats(leadsync=ours)
    )
    return result

"""Adaptive concurrency against the simulated PBX, over real sockets on 127.0.0.1.

The issue's "misconfigured" case: a PBX that runs 4 calls at once (8 threads),
30-40 ms each, and a throttle allowing 16. Without the controller 12 calls
always wait at the PBX; with a queue timeout of 60 ms those beyond the 6th or
7th in line fail with 109, are sent again, and queue again. With it, the limit
settles near 4, where no call waits longer than one service time (40 ms).

Both runs happen at once in this one test, so every assertion compares them as
ratios measured on the same machine at the same time: never a speed.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import aiohttp
import pytest
from pydantic import SecretStr

from consumer.limits.adaptive import AdaptiveConcurrency
from consumer.limits.throttle import Throttle
from consumer.pbx.client import NoojeeClient
from consumer.pbx.outcomes import Applied, Retry
from consumer.sandbox.simulator.server import Simulator
from contracts.noojee import UpdateLeadFast
from tests.integration.conftest import SIM_API_KEY, StartSimulator

CALLS = 800
WORKERS = 16
CEILING = 16
PBX = {"threads": 8, "min_service_ms": 30, "max_service_ms": 40, "queue_timeout_s": 0.06}
"""Capacity 4. A queue timeout of 0.5 s would give no 109 even without the controller
(12 queued calls wait about 3 x 35 ms), leaving nothing to compare."""
QUERY = {"fTemplateId": "1", "fCampaignId": "1", "fAllocationId": "1"}


def update(lead: str) -> UpdateLeadFast:
    body = {"njExternalLeadId": lead, "njDisposition": "Sale", "FirstPhone": "0383218199"}
    return UpdateLeadFast(lead_id=lead, query=QUERY, body=body)


@dataclass(frozen=True)
class RunResult:
    overloads: int
    applied: int
    elapsed_s: float
    capacity: int
    limits: list[int]
    """The controller's limit after each call of the second half (empty when off)."""

    @property
    def utilisation(self) -> float:
        """Applied per second over the ideal: capacity / mean service time (35 ms)."""
        return self.applied / self.elapsed_s / (self.capacity / 0.035)


async def drive(sim: Simulator, http: aiohttp.ClientSession, *, adaptive: bool) -> RunResult:
    """Apply ``CALLS`` updates with ``WORKERS`` workers; a 109 is sent again at once."""
    throttle = Throttle(10_000, CEILING)
    controller = AdaptiveConcurrency(throttle) if adaptive else None
    leads = iter(f"CRM-{n:05d}" for n in range(CALLS))
    limits: list[int] = []
    client = NoojeeClient(
        sim.url,
        SecretStr(SIM_API_KEY),
        request_timeout_s=10.0,
        connect_timeout_s=2.0,
        max_connections=CEILING,
    )

    async def worker() -> None:
        for lead in leads:  # shared: each lead is taken by one worker
            request, attempt = update(lead), 0
            while True:
                async with throttle.slot() as slot:
                    result = await client.update_lead_fast(request)
                attempt += 1
                outcome = result.outcome
                if controller is not None:
                    controller.attempt_finished(result, attempt, slot.waited_s)
                    if isinstance(outcome, Retry) and outcome.overload:
                        controller.on_overload()
                    if int(lead[4:]) >= CALLS // 2:
                        limits.append(controller.limit)
                if isinstance(outcome, Applied):
                    break
                assert isinstance(outcome, Retry), outcome
                assert outcome.overload, outcome

    async with client:
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        elapsed = time.monotonic() - started
    async with http.get(sim.admin_url + "/_sim/stats") as response:
        stats = await response.json()
    assert 1 <= throttle.limit <= CEILING
    return RunResult(
        overloads=stats["codes"].get("109", 0),
        applied=stats["applied"],
        elapsed_s=elapsed,
        capacity=stats["capacity"],
        limits=limits,
    )


@pytest.mark.slow
async def test_adaptive_limit_avoids_109s_and_keeps_the_pbx_busy(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    sims = [await simulator(**PBX), await simulator(**PBX)]
    # At the same time, so a machine busier for one run than the other cannot tilt the
    # comparison (the event loop, and so its delays, are shared).
    off, on = await asyncio.gather(
        drive(sims[0], http, adaptive=False), drive(sims[1], http, adaptive=True)
    )
    report = (
        f"off: {off.overloads} x 109, utilisation {off.utilisation:.2f}; "
        f"on: {on.overloads} x 109, utilisation {on.utilisation:.2f}, "
        f"median limit {statistics.median(on.limits)}"
    )
    assert off.applied == on.applied == CALLS, report
    # Without the controller the queue must overflow, or the comparison proves nothing.
    assert off.overloads >= CALLS // 10, report
    assert on.overloads <= 0.2 * off.overloads, report
    assert on.utilisation >= 0.8 * off.utilisation, report
    # It found the PBX's capacity rather than sitting at the ceiling or crawling at 1.
    assert 3 <= statistics.median(on.limits) <= 2 * on.capacity, report

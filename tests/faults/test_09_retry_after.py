"""Scenario 9: the PBX (or a proxy in front of it) answers 429 with ``Retry-After: 3``."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from consumer.sandbox.simulator.server import Simulator
from tests.faults.conftest import MakeStage
from tests.faults.figures import retry_gaps
from tests.faults.harness import until_applied

RETRY_AFTER_S = 3


class ThrottlingFront:
    """A reverse proxy before the PBX that answers the first attempt of some events 429.

    ``attempts`` keeps, per event (lead, Seq), (time, status) of every attempt: for
    a 429 the time it was answered, otherwise the time it arrived.
    """

    def __init__(self, pbx: Simulator, throttled: set[tuple[str, str]]) -> None:
        self._pbx = pbx
        self._throttled = throttled
        self.attempts: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
        self._session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        raw = await request.read()
        body = json.loads(raw)
        event = (str(body.get("njExternalLeadId")), str(body.get("Seq")))
        tries = self.attempts[event]
        if event in self._throttled and not tries:
            tries.append((time.time(), 429))
            return web.Response(
                status=429, text="slow down", headers={"Retry-After": str(RETRY_AFTER_S)}
            )
        assert self._session is not None
        target = self._pbx.url + request.path_qs
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        async with self._session.post(target, data=raw, headers=headers) as answer:
            payload = await answer.read()
            tries.append((arrived, answer.status))
            return web.Response(
                status=answer.status, body=payload, content_type=answer.content_type
            )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as self._session:
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                await runner.cleanup()


@pytest.mark.timeout(180)
async def test_429_with_retry_after_is_honoured_nothing_dead_lettered_breaker_closed(
    stage: MakeStage,
) -> None:
    st = await stage(
        events=300, leads=60, partitions=2, seed=9, sim={"min_service_ms": 5}, max_concurrency=8
    )
    throttled = {(ident[0], ident[1]) for ident in sorted(st.load.events())[::5]}
    front = ThrottlingFront(st.sim, throttled)
    async with front.running() as url:
        name = st.fleet.start(noojee_url=url)
        await until_applied(st.sim, st.load, timeout_s=120)
        await st.until_committed()
        log = st.fleet.log(name)
        assert await st.fleet.stop(name, timeout_s=40) == 0, log[-3000:]

    verdict = await st.judge()
    gaps = retry_gaps(front.attempts)
    print(
        f"scenario 9: {len(gaps)} events answered 429; waited {min(gaps):.2f}-{max(gaps):.2f} s "
        f"before retrying (Retry-After: {RETRY_AFTER_S}); {verdict.dead_lettered} dead-lettered"
    )
    verdict.assert_ok()
    assert verdict.dead_lettered == 0
    assert verdict.duplicates == 0
    assert len(gaps) == len(throttled)
    assert min(gaps) >= RETRY_AFTER_S
    assert "PBX unavailable" not in log, "the breaker opened on 429"

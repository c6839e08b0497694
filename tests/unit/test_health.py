"""The health port over a real socket: liveness, readiness with reasons, Prometheus text."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from consumer.delivery.breaker import BreakerState
from consumer.observability.health import (
    METRICS_CONTENT_TYPE,
    HealthServer,
    probe_readiness,
    readiness,
)
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied
from tests.telemetry_helpers import recorded


@pytest.mark.parametrize(
    ("assigned", "breaker", "producer", "ready", "mentions"),
    [
        (3, BreakerState.CLOSED, True, True, []),
        (None, BreakerState.CLOSED, True, False, ["no partitions assigned yet"]),
        (0, BreakerState.CLOSED, True, True, []),  # standing by: nothing to wait for
        (3, BreakerState.OPEN, True, False, ["breaker is open"]),
        (3, BreakerState.PROBING, True, False, ["breaker is probing"]),
        (3, BreakerState.CLOSED, False, False, ["producer not connected"]),
        (None, "open", False, False, ["no partitions", "breaker is open", "producer not"]),
    ],
)
def test_readiness_rule(
    assigned: int | None, breaker: str, producer: bool, ready: bool, mentions: list[str]
) -> None:
    verdict, reasons = readiness(assigned, breaker, producer)
    assert verdict is ready
    assert len(reasons) == len(mentions)
    for reason, mention in zip(reasons, mentions, strict=True):
        assert mention in reason


class State:
    def __init__(self) -> None:
        self.assigned: int | None = None
        self.breaker = BreakerState.CLOSED

    def readiness(self) -> tuple[bool, list[str]]:
        return readiness(self.assigned, self.breaker, producer_connected=True)


async def get(server: HealthServer, path: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.port}{path}") as response,
    ):
        return response.status, response.headers["Content-Type"], await response.text()


async def test_readyz_follows_assignment_and_the_breaker_while_livez_stays_up() -> None:
    state = State()
    server = HealthServer(0, state.readiness, lambda: b"", host="127.0.0.1")
    await server.start()
    try:
        status, kind, body = await get(server, "/readyz")
        assert (status, kind.split(";")[0]) == (503, "application/json")
        assert "no partitions assigned" in body

        state.assigned = 2
        status, _, body = await get(server, "/readyz")
        assert status == 200
        assert body == '{"ready": true, "reasons": []}'

        state.breaker = BreakerState.OPEN
        status, _, body = await get(server, "/readyz")
        assert status == 503
        assert "breaker is open" in body
        assert (await get(server, "/livez"))[0] == 200

        state.breaker = BreakerState.CLOSED
        assert (await get(server, "/readyz"))[0] == 200
        assert (await get(server, "/nothing-here"))[0] == 404
    finally:
        await server.stop()


async def test_metrics_scrape_parses_with_prometheus_client() -> None:
    rec = recorded()
    rec.telemetry.metrics.call_finished(
        CallResult(Applied(), 200, 0.1, "https://pbx/p?apiKey=REDACTED"), 0.0
    )
    rec.telemetry.event_applied()
    rec.telemetry.metrics.observe_gauges(in_flight=lambda: 4, lag=lambda: {("t", 1): 9})
    server = HealthServer(0, State().readiness, rec.telemetry.metrics_text, host="127.0.0.1")
    await server.start()
    try:
        status, kind, body = await get(server, "/metrics")
    finally:
        await server.stop()
    assert status == 200
    assert kind == METRICS_CONTENT_TYPE
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    assert samples[("leadsync_events_total", (("outcome", "applied"),))] == 1
    assert samples[("leadsync_events_in_flight", ())] == 4
    assert samples[("leadsync_consumer_lag", (("partition", "1"), ("topic", "t")))] == 9
    calls = (("code", "0"), ("outcome", "applied"), ("reason", "OK"))
    assert samples[("leadsync_noojee_calls_total", calls)] == 1


async def test_stop_closes_the_port_and_start_twice_is_harmless() -> None:
    server = HealthServer(0, State().readiness, lambda: b"", host="127.0.0.1")
    await server.start()
    await server.start()
    port = server.port
    assert (await get(server, "/livez"))[0] == 200
    await server.stop()
    await server.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/livez"),
        ):
            pass


async def test_a_port_in_use_fails_start_loudly() -> None:
    first = HealthServer(0, State().readiness, lambda: b"", host="127.0.0.1")
    await first.start()
    try:
        second = HealthServer(first.port, State().readiness, lambda: b"", host="127.0.0.1")
        with pytest.raises(OSError):  # noqa: PT011 - the errno differs between platforms
            await second.start()
        with pytest.raises(RuntimeError):
            _ = second.port
    finally:
        await first.stop()


async def test_check_asks_a_running_services_readyz_and_finds_none_when_nothing_listens() -> None:
    state = State()
    server = HealthServer(0, state.readiness, lambda: b"", host="127.0.0.1")
    await server.start()
    port = server.port
    try:
        assert await probe_readiness(port) == (False, [readiness(None, "closed", True)[1][0]])
        state.assigned = 1
        assert await probe_readiness(port) == (True, [])
    finally:
        await server.stop()
    assert await probe_readiness(port) is None


async def test_check_reports_a_stranger_on_the_health_port() -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>hi</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/readyz", html)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        verdict = await probe_readiness(port)
    finally:
        await runner.cleanup()
    assert verdict is not None
    ready, (reason,) = verdict
    assert ready is False
    assert "not as leadsync does" in reason


async def test_a_free_port_on_every_interface_is_one_port_that_answers_on_loopback() -> None:
    server = HealthServer(0, State().readiness, lambda: b"")
    await server.start()
    try:
        for _ in range(3):  # an IPv6 socket on another port would refuse some of these
            assert (await get(server, "/livez"))[0] == 200
    finally:
        await server.stop()

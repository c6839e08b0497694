"""A Noojee PBX over HTTP that behaves as docs/reference/noojee-api.md documents.

Two listeners share one ``SimulatorState``: the PBX port (updateLeadFast,
insertLeadFast and ``/_sim/*``) and an admin port (``/_sim/*`` only) that stays
up while an outage closes the PBX port. The decisions live in the pure modules
``config``, ``store`` and ``state``.

One call to either endpoint, in order: outage 503 (no slot) → apiKey 401 (no
slot) → one FIFO queue for one of ``threads // 2`` slots, shared by both
endpoints (109 after ``queue_timeout_s``) → service time → the store's answer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from yarl import URL

from consumer.sandbox.simulator.config import ConfigError, SimulatorConfig
from consumer.sandbox.simulator.gate import FifoGate
from consumer.sandbox.simulator.state import SimulatorState
from consumer.sandbox.simulator.store import response_of
from contracts.noojee import Endpoint, NoojeeCode

__all__ = ["FifoGate", "Simulator", "run_simulator"]

_MAINTENANCE_PAGE = "<html><body><h1>503 Service Unavailable</h1>Maintenance.</body></html>"
_UNAUTHORIZED = {"error": "missing or invalid apiKey"}
_SHUTDOWN_TIMEOUT_S = 1.0


async def _serve_for(seconds: float, started_at: float) -> None:
    """Sleep until ``seconds`` passed on both clocks: recorded durations never fall short."""
    started_mono = time.monotonic()
    while True:
        elapsed = min(time.monotonic() - started_mono, time.time() - started_at)
        if elapsed >= seconds:
            return
        await asyncio.sleep(seconds - elapsed)


def _parse_body(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both
        return None


def _one_lead(document: object) -> object:
    """insertLeadFast's lead: a JSON array of one object (what leadsync sends), or the
    object alone (the vendor's pages show both); anything else is no lead (400)."""
    if isinstance(document, list):
        return document[0] if len(document) == 1 and isinstance(document[0], dict) else None
    return document


class Simulator:
    """The running simulator: ``url``, ``admin_url``, ``state`` and ``set_outage``."""

    def __init__(self, config: SimulatorConfig, host: str) -> None:
        self.state = SimulatorState(config)
        self._api_key = config.api_key.encode()
        self._gate = FifoGate(config.capacity)
        self._host = host
        self._calls: set[asyncio.Task[Any]] = set()
        self._listener_lock = asyncio.Lock()
        self._pbx_runner = web.AppRunner(
            self._app(pbx=True), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S
        )
        self._admin_runner = web.AppRunner(
            self._app(pbx=False), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S
        )
        self._pbx_site: web.TCPSite | None = None
        self.port = 0
        self.admin_port = 0

    def __repr__(self) -> str:
        return f"Simulator(url={self.url!r}, admin_url={self.admin_url!r})"

    @property
    def url(self) -> str:
        return str(URL.build(scheme="http", host=self._host, port=self.port))

    @property
    def admin_url(self) -> str:
        return str(URL.build(scheme="http", host=self._host, port=self.admin_port))

    async def start(self, port: int = 0, admin_port: int = 0) -> None:
        await self._pbx_runner.setup()
        await self._admin_runner.setup()
        self._pbx_site = web.TCPSite(self._pbx_runner, self._host, port)
        await self._pbx_site.start()
        self.port = self._pbx_runner.addresses[0][1]
        await web.TCPSite(self._admin_runner, self._host, admin_port).start()
        self.admin_port = self._admin_runner.addresses[0][1]
        await self._sync_listener(keep=None)

    async def stop(self) -> None:
        self._cut_calls()
        for runner in (self._pbx_runner, self._admin_runner):
            if runner.server is not None:
                await runner.cleanup()

    async def set_outage(self, mode: str | None) -> None:
        """None, "503" (answer 503 at once) or "refuse" (PBX port closed until another mode)."""
        self.state.update_config({"outage": mode})
        await self._sync_listener(keep=None)

    async def _sync_listener(self, keep: RequestHandler | None) -> None:
        """Open or close the PBX port to match the outage mode; ``keep`` finishes its answer."""
        async with self._listener_lock:
            refuse = self.state.config.outage == "refuse"
            if not refuse and self._pbx_site is None:
                self._pbx_site = web.TCPSite(self._pbx_runner, self._host, self.port)
                await self._pbx_site.start()
            elif refuse and self._pbx_site is not None:
                site, self._pbx_site = self._pbx_site, None
                # Reset every call and connection before awaiting the port's close, so
                # that no call begun meanwhile can complete: the outage starts now.
                self._cut_calls()
                server = self._pbx_runner.server
                for connection in server.connections if server is not None else ():
                    if connection is keep:
                        connection.close()  # after this answer is sent
                    else:
                        connection.force_close()
                await site.stop()

    def _cut_calls(self) -> None:
        """A PBX that goes away resets the calls in flight: none of them applies."""
        for task in self._calls:
            task.cancel()

    def _app(self, *, pbx: bool) -> web.Application:
        app = web.Application()
        if pbx:
            app.router.add_post(Endpoint.UPDATE.path, self._update_lead_fast)
            app.router.add_post(Endpoint.INSERT.path, self._insert_lead_fast)
        app.router.add_get("/_sim/stats", self._stats)
        app.router.add_get("/_sim/leads", self._leads)
        app.router.add_get("/_sim/leads/{lead_id:.+}", self._lead)
        app.router.add_get("/_sim/calls/{lead_id:.+}", self._lead_calls)
        app.router.add_get("/_sim/overlaps", self._overlaps)
        app.router.add_post("/_sim/reset", self._reset)
        app.router.add_get("/_sim/config", self._config)
        app.router.add_post("/_sim/config", self._update_config)
        return app

    async def _update_lead_fast(self, request: web.Request) -> web.StreamResponse:
        return await self._call(request, Endpoint.UPDATE)

    async def _insert_lead_fast(self, request: web.Request) -> web.StreamResponse:
        return await self._call(request, Endpoint.INSERT)

    async def _call(self, request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        # Counted among the calls from its first line: an outage that begins while
        # it still reads the body cuts it too, so nothing begun meanwhile applies.
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)
        try:
            return await self._answer(request, endpoint)
        finally:
            self._calls.discard(task)

    async def _answer(self, request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        state = self.state
        state.stats.requests += 1
        state.stats.endpoint_requests[endpoint.value] += 1
        if (down := self._outage_answer(request)) is not None:
            return down
        if not hmac.compare_digest(request.query.get("apiKey", "").encode(), self._api_key):
            state.answered(401)
            return web.json_response(_UNAUTHORIZED, status=401)
        body = _parse_body(await request.read())
        if endpoint is Endpoint.INSERT:
            body = _one_lead(body)
        if (down := self._outage_answer(request)) is not None:  # it began while we read
            return down
        query = {name: value for name, value in request.query.items() if name != "apiKey"}
        status, payload = await self._execute(body, query, endpoint)
        return web.json_response(payload, status=status)

    def _outage_answer(self, request: web.Request) -> web.StreamResponse | None:
        """The answer of a PBX in its current outage mode; None when it is up."""
        outage = self.state.config.outage
        if outage == "refuse":
            # Arrived on a kept-alive connection while the port closes: reset like it
            # (a connection already gone has nothing to reset, and nothing applies).
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        if outage == "503":
            self.state.answered(503)
            return web.Response(status=503, text=_MAINTENANCE_PAGE, content_type="text/html")
        return None

    async def _execute(
        self, body: object, query: Mapping[str, str], endpoint: Endpoint
    ) -> tuple[int, dict[str, Any]]:
        state = self.state
        lead = body.get("njExternalLeadId") if isinstance(body, dict) else None
        lead_id = lead if isinstance(lead, str) else None
        state.stats.arrivals += 1
        state.stats.queued += 1
        try:
            seq = await self._gate.acquire(state.config.queue_timeout_s)
        finally:
            state.stats.queued -= 1
        if seq is None:
            code = NoojeeCode.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS
            status, payload = response_of(code)
            state.answered(status, code)
            return status, payload
        call = state.begin(lead_id, seq, time.time(), endpoint)
        try:
            await _serve_for(state.service_seconds(lead_id), call.started_at)
        except BaseException:
            state.abort(call, time.time())
            raise
        else:
            return state.finish(call, body, query, time.time())
        finally:
            self._gate.release()

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response(self.state.stats_json())

    async def _leads(self, _: web.Request) -> web.Response:
        return web.json_response(self.state.applied_counts())

    async def _lead(self, request: web.Request) -> web.Response:
        updates = self.state.applied(request.match_info["lead_id"])
        return web.json_response([update.to_json() for update in updates])

    async def _lead_calls(self, request: web.Request) -> web.Response:
        calls = self.state.calls(request.match_info["lead_id"])
        return web.json_response([call.to_json() for call in calls])

    async def _overlaps(self, _: web.Request) -> web.Response:
        return web.json_response(self.state.overlaps())

    async def _reset(self, _: web.Request) -> web.Response:
        self.state.reset()
        return web.json_response({"reset": True})

    async def _config(self, _: web.Request) -> web.Response:
        return web.json_response(self.state.config_json())

    async def _update_config(self, request: web.Request) -> web.Response:
        try:
            self.state.update_config(_parse_body(await request.read()))
        except ConfigError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        await self._sync_listener(keep=request.protocol)
        return web.json_response(self.state.config_json())


@asynccontextmanager
async def run_simulator(
    config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0, admin_port: int = 0
) -> AsyncIterator[Simulator]:
    """A simulator listening on ``host``; port 0 picks free ports (see ``.url``)."""
    simulator = Simulator(config, host)
    try:
        await simulator.start(port, admin_port)
        yield simulator
    finally:
        await simulator.stop()

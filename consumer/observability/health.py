"""The health port: ``/livez``, ``/readyz`` and ``/metrics`` for Kubernetes and Prometheus.

- ``/livez`` is 200 whenever the event loop answers: a loop that is stuck (a
  blocking call, a busy loop) fails it, which is the one thing a restart fixes.
- ``/readyz`` is 200 only while the pod does its work (``readiness``): before
  partitions are assigned and during a PBX outage it is 503 with the reasons,
  which shows an outage as unready pods without restarting anything.
- ``/metrics`` is the Prometheus text format.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from aiohttp import web

PROBE_TIMEOUT_S = 3.0
READY_PATH = "/readyz"
LIVE_PATH = "/livez"
METRICS_PATH = "/metrics"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""What ``prometheus_client.generate_latest`` writes."""

Readiness = Callable[[], tuple[bool, list[str]]]


def readiness(
    assigned: int | None, breaker_state: str, producer_connected: bool
) -> tuple[bool, list[str]]:
    """Ready when the group has given this process an assignment, the PBX breaker
    is closed and the dead-letter producer is connected; otherwise the reasons,
    one sentence each.

    ``assigned`` is None until the first assignment; an assignment of no
    partitions is ready: the group's leader keeps a replica the PBX has no slot
    for standing by (``consumer/limits/fleet_plan.py``), and a rollout must not wait
    for it. ``breaker_state`` is a ``consumer.delivery.breaker.BreakerState`` (or its
    value). A probing breaker is still an outage: the probe has not been
    answered yet.
    """
    reasons = []
    if assigned is None:
        reasons.append("no partitions assigned yet (joining the consumer group)")
    if str(breaker_state) != "closed":
        reasons.append(f"PBX unreachable: the outage breaker is {breaker_state}, sending is paused")
    if not producer_connected:
        reasons.append("dead-letter producer not connected to Kafka")
    return not reasons, reasons


async def probe_readiness(
    port: int, *, host: str = "127.0.0.1", timeout_s: float = PROBE_TIMEOUT_S
) -> tuple[bool, list[str]] | None:
    """Ask a running service's ``/readyz`` (``leadsync check`` inside a pod).

    None when nothing answers on the port: no service runs here to ask.
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://{host}:{port}{READY_PATH}") as response,
        ):
            verdict = await response.json()
    except (aiohttp.ClientConnectionError, TimeoutError):
        return None
    except (aiohttp.ContentTypeError, ValueError):
        verdict = None
    if not isinstance(verdict, dict) or not isinstance(verdict.get("reasons"), list):
        return False, [f"port {port} answers {READY_PATH}, but not as leadsync does"]
    return verdict.get("ready") is True, [str(reason) for reason in verdict["reasons"]]


class HealthServer:
    """An aiohttp server on ``port`` (0 picks a free one: read ``port`` after ``start``)."""

    def __init__(
        self,
        port: int,
        readiness: Readiness,
        metrics: Callable[[], bytes],
        *,
        host: str | None = None,
    ) -> None:
        """``host`` None listens on every interface, as a pod must for its probes."""
        self._requested_port = port
        self._host = host
        self._readiness = readiness
        self._metrics = metrics
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("HealthServer.start() was not awaited")
        return self._port

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get(LIVE_PATH, self._live)
        app.router.add_get(READY_PATH, self._ready)
        app.router.add_get(METRICS_PATH, self._metrics_page)
        # Probes every few seconds would drown the service's own log lines.
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._listen_host(), self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = _bound_port(runner)

    def _listen_host(self) -> str | None:
        if self._host is None and self._requested_port == 0:
            # Every interface means an IPv4 and an IPv6 socket, and port 0 would
            # give each its own port: one IPv4 socket keeps a single free port.
            return "0.0.0.0"  # noqa: S104 - the probes come from outside the pod
        return self._host

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _live(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _ready(self, request: web.Request) -> web.Response:
        ready, reasons = self._readiness()
        return web.json_response({"ready": ready, "reasons": reasons}, status=200 if ready else 503)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        response = web.Response(body=self._metrics())
        # Set whole: aiohttp's content_type setter would drop the version parameter.
        response.headers["Content-Type"] = METRICS_CONTENT_TYPE
        return response


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the health server is not listening on a TCP port")

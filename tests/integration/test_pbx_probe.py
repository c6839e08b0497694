"""``leadsync check``'s PBX probe against real HTTP servers: it passes on Noojee's 101
for the empty lead only, and names every other answer by what it most likely means."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from consumer.commands.check import check_pbx
from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import run_simulator
from consumer.settings import ENV_PREFIX, Settings, load_settings
from tests.tls_material import TlsMaterial, make_tls_material
from tests.tls_proxy import server_context, tls_proxy

API_KEY = "probe-test-key-77ab"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX) or name.upper().endswith("_PROXY"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(tmp_path_factory.mktemp("tls"))


def settings_for(url: str, **overrides: Any) -> Settings:
    return load_settings(
        kafka_bootstrap="127.0.0.1:9", noojee_url=url, noojee_api_key=API_KEY, **overrides
    )


@asynccontextmanager
async def http_server(handler: Handler) -> AsyncIterator[str]:
    """A tiny server answering every request on every path with ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def answering(status: int, body: str, content_type: str = "application/json") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        headers = {"Location": "https://pbx.example.com/"} if 300 <= status < 400 else {}
        return web.Response(status=status, text=body, content_type=content_type, headers=headers)

    return handler


async def test_the_simulator_passes_as_noojee_does() -> None:
    async with run_simulator(SimulatorConfig(api_key=API_KEY)) as simulator:
        assert await check_pbx(settings_for(simulator.url)) == []
        stats = simulator.state.stats_json()
    assert stats["codes"] == {"101": 1}, "one call, answered as for a lead that cannot exist"


async def test_a_refused_key_is_named_without_showing_it() -> None:
    async with run_simulator(SimulatorConfig(api_key="the-right-key")) as simulator:
        (problem,) = await check_pbx(settings_for(simulator.url))
    assert "refused LEADSYNC_NOOJEE_API_KEY (HTTP 401)" in problem
    assert API_KEY not in problem
    assert "apiKey=REDACTED" in problem


@pytest.mark.parametrize(
    ("status", "body", "content_type", "says"),
    [
        (
            404,
            "<html><body>Not Found</body></html>",
            "text/html",
            "LEADSYNC_NOOJEE_URL has a wrong path",
        ),
        (404, '{"error": "no route"}', "application/json", "has no updateLeadFast (HTTP 404)"),
        (
            200,
            "<!DOCTYPE html><html><title>Welcome to nginx!</title>",
            "text/html",
            "an HTML page (HTTP 200)",
        ),
        (501, "<html><body>Not Implemented</body></html>", "text/html", "an HTML page (HTTP 501)"),
        (403, '{"code": 101}', "application/json", None),  # a 101 is the PBX, whatever the status
        (401, "Unauthorized", "text/plain", "refused LEADSYNC_NOOJEE_API_KEY (HTTP 401)"),
        (403, "Forbidden", "text/plain", "refused LEADSYNC_NOOJEE_API_KEY (HTTP 403)"),
        (301, "", "text/plain", "a redirect (HTTP 301)"),
        (302, "", "text/plain", "a redirect (HTTP 302)"),
        (200, '{"code": 0, "message": "OK"}', "application/json", "it accepts any update"),
        (200, '{"code": 109, "message": "TIMEOUT"}', "application/json", "the PBX is busy"),
        (200, '{"status": "ok"}', "application/json", "without Noojee's JSON"),
        (500, "", "text/plain", "HTTP 500 without Noojee's JSON (an empty body)"),
    ],
)
async def test_every_other_answer_is_named(
    status: int, body: str, content_type: str, says: str | None
) -> None:
    async with http_server(answering(status, body, content_type)) as url:
        problems = await check_pbx(settings_for(url))
    if says is None:
        assert problems == []
        return
    (problem,) = problems
    assert problem.startswith(f"the PBX at {url}/servicemanager/rest/CampaignAPI/updateLeadFast?")
    assert says in problem, problem
    assert API_KEY not in problem


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # The port is chosen when the test runs: the same ids on every xdist worker.
        ("http://127.0.0.1:{closed_port}", "the connection was refused: nothing listens there"),
        ("http://pbx.example.invalid", "the host name did not resolve: check the host"),
    ],
)
async def test_a_pbx_not_reached_is_named(url: str, says: str) -> None:
    (problem,) = await check_pbx(settings_for(url.format(closed_port=closed_port())))
    assert says in problem, problem
    assert "Connect call failed" not in problem, "no OS repr"


async def test_a_silent_pbx_is_named_within_the_probe_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("consumer.commands.check.PBX_TIMEOUT_S", 0.5)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        (problem,) = await check_pbx(settings_for(url))
    assert "did not answer in time" in problem or "no answer" in problem, problem


async def test_a_pbx_with_a_private_ca_passes_only_with_that_ca(tls: TlsMaterial) -> None:
    async with (
        run_simulator(SimulatorConfig(api_key=API_KEY)) as simulator,
        tls_proxy(simulator.port, server_context(tls.server)) as port,
    ):
        url = f"https://127.0.0.1:{port}"
        assert await check_pbx(settings_for(url, noojee_ca_file=str(tls.ca_file))) == []
        (without,) = await check_pbx(settings_for(url))
        (other,) = await check_pbx(settings_for(url, noojee_ca_file=str(tls.other_ca_file)))
    for problem in (without, other):
        assert "the TLS certificate was rejected" in problem, problem
        assert "certificate verify failed" in problem
        assert "LEADSYNC_NOOJEE_CA_FILE" in problem


async def test_a_pbx_asking_for_a_client_certificate(tls: TlsMaterial) -> None:
    context = server_context(tls.server, client_ca=tls.ca_file)
    async with (
        run_simulator(SimulatorConfig(api_key=API_KEY)) as simulator,
        tls_proxy(simulator.port, context) as port,
    ):
        url = f"https://127.0.0.1:{port}"
        with_cert = settings_for(
            url,
            noojee_ca_file=str(tls.ca_file),
            noojee_client_cert=str(tls.client_cert),
            noojee_client_key=str(tls.client_key),
        )
        assert await check_pbx(with_cert) == []
        (problem,) = await check_pbx(settings_for(url, noojee_ca_file=str(tls.ca_file)))
    assert "was not reached" in problem, problem


async def test_a_proxy_error_never_shows_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "")
    (problem,) = await check_pbx(settings_for("http://pbx.example.com"))
    assert "the proxy could not be reached" in problem, problem
    assert API_KEY not in problem


async def test_the_pbx_is_reached_through_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.StreamResponse:
        seen.append(str(request.url.with_query({})))
        await request.read()
        return web.json_response({"code": 101, "message": "COULDNT_FIND_THE_LEAD"})

    async with http_server(proxy) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "")
        assert await check_pbx(settings_for("http://pbx.example.com")) == []
    assert seen == ["http://pbx.example.com/servicemanager/rest/CampaignAPI/updateLeadFast"]


async def test_a_proxy_echoing_the_url_never_shows_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    async def proxy(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(status=502, text=f"upstream unreachable: {request.url}")

    async with http_server(proxy) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "")
        (problem,) = await check_pbx(settings_for("http://pbx.example.com"))
    assert "HTTP 502" in problem, problem
    assert "upstream unreachable" in problem, "the body is shown, redacted"
    assert API_KEY not in problem

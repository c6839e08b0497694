"""The aiohttp client for ``updateLeadFast`` and ``insertLeadFast``: one session, one
call, one outcome.

It never raises for an HTTP status or a transport failure: every call returns a
``CallResult`` whose outcome ``classify`` decided. Only cancellation (and using
the client before ``start()``) raises. The API key is put in the query at the
moment of sending and nowhere else; what is shown to humans is the redacted URL.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from pydantic import SecretStr
from yarl import URL

from consumer.pbx.outcomes import Outcome, classify, with_body_redacted
from consumer.pbx.redact import API_KEY_PARAM, redact_text, redacted_url
from consumer.pbx.transport import TransportError, map_transport_error
from contracts.noojee import UPDATE_LEAD_FAST_PATH, Endpoint, LeadCall, UpdateLeadFast

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_URL_CACHE_LIMIT = 1024
"""Distinct campaign queries remembered; a deployment uses a handful."""
_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class CallResult:
    """One call: what it came to, how long it took, and where it went (redacted)."""

    outcome: Outcome
    http_status: int | None
    duration_s: float
    url: str
    endpoint: Endpoint = Endpoint.UPDATE
    error: TransportError | None = None
    """What failed when no HTTP answer came (``leadsync check`` names it)."""


def env_proxy(url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for ``url`` (and its credentials), or none: the
    same rules as aiohttp's ``trust_env``, NO_PROXY included."""
    try:
        return get_env_proxy_for_url(url)
    except LookupError:
        return None, None


class NoojeeClient:
    """Both endpoints over one keep-alive ``aiohttp.ClientSession`` (``send``).

    Concurrency must be bounded by the caller (the throttle) at or below
    ``max_connections``: the connect timeout also counts time spent waiting for
    a pooled connection, and a wait there would read as "PBX unreachable".
    """

    __slots__ = (
        "_api_key",
        "_base_url",
        "_connect_timeout_s",
        "_endpoints",
        "_max_connections",
        "_proxy",
        "_request_timeout_s",
        "_session",
        "_ssl_context",
        "_urls",
    )

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        request_timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``ssl_context``: a private CA or a client certificate (``consumer.tls``);
        None verifies the PBX against the system's roots."""
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._max_connections = max_connections
        self._ssl_context = ssl_context
        self._endpoints = {each: URL(self._base_url + each.path) for each in Endpoint}
        self._session: aiohttp.ClientSession | None = None
        self._proxy: tuple[URL | None, aiohttp.BasicAuth | None] = (None, None)
        # (endpoint, query items) -> (URL to send, with the key; URL to show, redacted)
        self._urls: dict[tuple[Endpoint, tuple[tuple[str, str], ...]], tuple[URL, str]] = {}

    def __repr__(self) -> str:
        shown = redacted_url(self._base_url, UPDATE_LEAD_FAST_PATH, {})
        return (
            f"NoojeeClient({shown!r}, request_timeout_s={self._request_timeout_s}, "
            f"connect_timeout_s={self._connect_timeout_s}, "
            f"max_connections={self._max_connections})"
        )

    async def start(self) -> None:
        if self._session is not None:
            return
        timeout = aiohttp.ClientTimeout(
            # No total: it would count the wait for a pooled connection too. The
            # read timeout bounds the PBX's answer and must exceed its 60 s queue.
            total=None,
            connect=self._connect_timeout_s,
            sock_connect=self._connect_timeout_s,
            sock_read=self._request_timeout_s,
        )
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            ssl=self._ssl_context if self._ssl_context is not None else True,
        )
        # HTTPS_PROXY / HTTP_PROXY / NO_PROXY as every HTTP client reads them, read once
        # here: aiohttp's trust_env reads them, and ~/.netrc, in a thread on every
        # request (two thread hops a call, over half the service's CPU). A proxy's
        # error never reaches a message: consumer.pbx.transport builds each from the
        # redacted URL, never from aiohttp's text.
        self._proxy = env_proxy(self._endpoints[Endpoint.UPDATE])
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers=_JSON_HEADERS,
            raise_for_status=False,
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(self, request: LeadCall) -> CallResult:
        """Send one call to the endpoint it names; every HTTP status and transport failure
        becomes an outcome."""
        if isinstance(request, UpdateLeadFast):
            return await self.update_lead_fast(request)
        return await self._post(request)

    async def update_lead_fast(self, request: UpdateLeadFast) -> CallResult:
        """Send one update; every HTTP status and transport failure becomes an outcome."""
        return await self._post(request)

    async def _post(self, request: LeadCall) -> CallResult:
        session = self._session
        if session is None:
            raise RuntimeError("NoojeeClient.start() was not awaited")
        target, shown = self._url_for(request)
        payload = request.payload
        status: int | None = None
        error: TransportError | None = None
        started = time.perf_counter()
        try:
            proxy, proxy_auth = self._proxy
            async with session.post(
                target, data=payload, allow_redirects=False, proxy=proxy, proxy_auth=proxy_auth
            ) as response:
                status = response.status
                body = await response.read()
                retry_after = response.headers.get("Retry-After")
        except _TRANSPORT_ERRORS as exc:
            error = map_transport_error(exc, url=shown)
            outcome = classify(status, None, error)
        else:
            outcome = with_body_redacted(
                classify(status, body, retry_after=retry_after), self._redact
            )
        return CallResult(
            outcome, status, time.perf_counter() - started, shown, request.endpoint, error
        )

    def _redact(self, text: str) -> str:
        return redact_text(text, self._api_key.get_secret_value())

    def _url_for(self, request: LeadCall) -> tuple[URL, str]:
        endpoint = request.endpoint
        key = (endpoint, tuple(request.query.items()))
        cached = self._urls.get(key)
        if cached is None:
            if len(self._urls) >= _URL_CACHE_LIMIT:
                self._urls.clear()
            query = dict(key[1])
            # A stray apiKey in the request must not override (or duplicate) ours.
            for name in [name for name in query if name.lower() == API_KEY_PARAM.lower()]:
                del query[name]
            shown = redacted_url(self._base_url, endpoint.path, query)
            query[API_KEY_PARAM] = self._api_key.get_secret_value()
            cached = (self._endpoints[endpoint].with_query(query), shown)
            self._urls[key] = cached
        return cached

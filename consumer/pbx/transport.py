"""leadsync's own transport errors, and the one place aiohttp's are translated.

What went wrong between us and the PBX decides whether the update may have been
applied, so the tree is drawn by that question::

    TransportError                  the call got no usable HTTP answer
    ├── ConnectFailed               never reached the PBX: refused, DNS, TLS,
    │                               connect timeout. The request was certainly
    │                               not sent.
    ├── Disconnected                the connection broke once the request may
    │                               have been sent (reset, closed, answer cut
    │                               short). Ambiguous: the PBX may have applied it.
    └── ReadTimedOut                no answer within the read timeout.
                                    Ambiguous: the PBX may have applied it.

``map_transport_error`` maps every aiohttp client exception, ``TimeoutError``
(``asyncio.TimeoutError`` is the same class) and ``OSError`` to one of these.
aiohttp's messages often embed the request URL, API key included, so a
``TransportError`` never reuses them: its message is built from the redacted
URL, a fixed phrase per exception class and the OS's error text.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

import aiohttp
from aiohttp import client_exceptions as ae


class TransportError(Exception):
    """The call to the PBX got no usable HTTP answer."""

    reason: ClassVar[str] = "TRANSPORT_ERROR"
    """Machine name, used as the outcome's reason."""

    def __init__(self, detail: str, *, url: str = "", cause: str = "") -> None:
        self.detail = detail
        """What happened, in a few words, free of URLs."""
        self.url = url
        """The redacted URL of the call (see ``consumer.pbx.redact``)."""
        self.cause = cause
        """Class name of the underlying exception, for diagnosis."""
        super().__init__(self._render())

    def _render(self) -> str:
        return f"the call to the PBX{self._at()} failed: {self.detail}"

    def _at(self) -> str:
        return f" at {self.url}" if self.url else ""

    @property
    def message(self) -> str:
        return str(self)


# The names say what happened rather than "...Error": they sit next to the
# outcome names (Retry, Unavailable) in logs and in the classify table.
class ConnectFailed(TransportError):
    reason = "CONNECT_FAILED"

    def _render(self) -> str:
        return f"could not connect to the PBX{self._at()}: {self.detail}"


class Disconnected(TransportError):
    reason = "DISCONNECTED"

    def _render(self) -> str:
        return f"the connection to the PBX{self._at()} broke before it answered: {self.detail}"


class ReadTimedOut(TransportError):
    reason = "READ_TIMEOUT"

    def _render(self) -> str:
        return f"the PBX{self._at()} did not answer in time: {self.detail}"


_Rule = tuple[type[TransportError], str]

_CONNECT = ConnectFailed
_AFTER_SEND = Disconnected
_NO_ANSWER = ReadTimedOut

# Every aiohttp.ClientError subclass is listed on purpose (a test fails when
# aiohttp grows one we have not decided on). Lookup walks the exception's MRO,
# so order here does not matter. Redirect errors cannot happen with
# allow_redirects=False but count as "after send": the PBX did answer.
_RULES: dict[type[BaseException], _Rule] = {
    ae.ClientConnectorDNSError: (_CONNECT, "the host name did not resolve"),
    ae.ClientConnectorError: (_CONNECT, "no connection could be made"),
    ae.ClientConnectorSSLError: (_CONNECT, "the TLS handshake failed"),
    ae.ClientConnectorCertificateError: (_CONNECT, "the TLS certificate was rejected"),
    ae.ClientSSLError: (_CONNECT, "the TLS handshake failed"),
    ae.ClientProxyConnectionError: (_CONNECT, "the proxy could not be reached"),
    ae.ClientHttpProxyError: (_CONNECT, "the proxy refused the tunnel"),
    ae.UnixClientConnectorError: (_CONNECT, "the unix socket could not be reached"),
    ae.ConnectionTimeoutError: (_CONNECT, "connecting timed out"),
    ae.ServerFingerprintMismatch: (_CONNECT, "the TLS certificate fingerprint differs"),
    ae.InvalidURL: (_CONNECT, "the URL is invalid"),
    ae.InvalidUrlClientError: (_CONNECT, "the URL is invalid"),
    ae.NonHttpUrlClientError: (_CONNECT, "the URL is not http(s)"),
    ae.ServerDisconnectedError: (_AFTER_SEND, "the PBX closed the connection"),
    ae.ClientConnectionResetError: (_AFTER_SEND, "the connection was reset"),
    ae.ClientOSError: (_AFTER_SEND, "the connection failed"),
    ae.ClientConnectionError: (_AFTER_SEND, "the connection failed"),
    ae.ServerConnectionError: (_AFTER_SEND, "the connection failed"),
    ae.ClientPayloadError: (_AFTER_SEND, "the answer was cut short"),
    ae.UploadAbortedError: (_AFTER_SEND, "the request body was not fully sent"),
    ae.ClientResponseError: (_AFTER_SEND, "the answer was not valid HTTP"),
    ae.ContentTypeError: (_AFTER_SEND, "the answer had an unexpected content type"),
    ae.WSServerHandshakeError: (_AFTER_SEND, "the websocket handshake failed"),
    ae.TooManyRedirects: (_AFTER_SEND, "the PBX redirected too many times"),
    ae.RedirectClientError: (_AFTER_SEND, "the PBX redirected to an unusable URL"),
    ae.InvalidUrlRedirectClientError: (_AFTER_SEND, "the PBX redirected to a bad URL"),
    ae.NonHttpUrlRedirectClientError: (_AFTER_SEND, "the PBX redirected off http(s)"),
    ae.ServerTimeoutError: (_NO_ANSWER, "no answer within the read timeout"),
    ae.SocketTimeoutError: (_NO_ANSWER, "no answer within the read timeout"),
    TimeoutError: (_NO_ANSWER, "no answer within the timeout"),
    ConnectionRefusedError: (_CONNECT, "the connection was refused"),
    socket.gaierror: (_CONNECT, "the host name did not resolve"),
    ConnectionResetError: (_AFTER_SEND, "the connection was reset"),
    ConnectionAbortedError: (_AFTER_SEND, "the connection was aborted"),
    BrokenPipeError: (_AFTER_SEND, "the connection was closed while sending"),
    OSError: (_AFTER_SEND, "the connection failed"),
}

RULES: Mapping[type[BaseException], tuple[type[TransportError], str]] = MappingProxyType(_RULES)
"""Exception class -> (leadsync error class, phrase); the mapping's whole table."""


def _os_detail(exc: BaseException) -> str:
    """The OS's own words (``Connect call failed ('10.0.0.1', 443)``), never a URL."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        exc = exc.os_error
    if isinstance(exc, OSError) and isinstance(exc.strerror, str) and exc.strerror:
        return exc.strerror
    return ""


def map_transport_error(exc: BaseException, *, url: str = "") -> TransportError:
    """The leadsync ``TransportError`` for ``exc``; ``url`` must be the redacted URL.

    Raises ``TypeError`` for an exception that is not a transport failure (a bug
    elsewhere must not pass for a network problem).
    """
    if isinstance(exc, TransportError):
        return exc
    rule = next((_RULES[cls] for cls in type(exc).__mro__ if cls in _RULES), None)
    if rule is None:
        if not isinstance(exc, aiohttp.ClientError):
            raise TypeError(f"{type(exc).__name__} is not a transport error") from None
        # An aiohttp class newer than this table: the safe reading is ambiguous.
        rule = (Disconnected, "the connection failed")
    error_class, phrase = rule
    if type(exc) is aiohttp.ClientConnectorError:
        # The generic connect failure: the OS error underneath says which one.
        phrase = _RULES.get(type(exc.os_error), rule)[1]
    os_words = _os_detail(exc)
    detail = f"{phrase} ({os_words})" if os_words else phrase
    return error_class(detail, url=url, cause=type(exc).__name__)

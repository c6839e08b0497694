"""One mapping from aiohttp/asyncio/OS exceptions to leadsync's transport errors."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable, Iterator

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from consumer.pbx.transport import (
    RULES,
    ConnectFailed,
    Disconnected,
    ReadTimedOut,
    TransportError,
    map_transport_error,
)

SECRET = "K3Y-0f-the-T3ST"
RAW_URL = f"http://pbx.test:8080/svc?fCampaignId=41&apiKey={SECRET}"
SHOWN_URL = "http://pbx.test:8080/svc?fCampaignId=41&apiKey=REDACTED"
KEY = ConnectionKey("pbx.test", 8080, False, True, None, None, None, None)
REQUEST = RequestInfo(URL(RAW_URL), "POST", CIMultiDictProxy(CIMultiDict()), URL(RAW_URL))


def aiohttp_client_errors() -> Iterator[type[BaseException]]:
    """Every ClientError subclass aiohttp defines, exported or not."""
    seen: set[type[BaseException]] = set()
    stack: list[type[BaseException]] = [aiohttp.ClientError]
    stack += [v for v in vars(aiohttp).values() if isinstance(v, type)]
    while stack:
        cls = stack.pop()
        if cls in seen or not issubclass(cls, aiohttp.ClientError):
            continue
        seen.add(cls)
        stack.extend(cls.__subclasses__())
    yield from (cls for cls in seen if cls.__module__.split(".")[0] == "aiohttp")


def unmapped(classes: Iterable[type[BaseException]]) -> list[str]:
    # ClientError itself is deliberately absent: a new direct subclass must be decided on.
    return sorted(cls.__name__ for cls in classes if cls not in RULES)


def test_every_aiohttp_client_exception_class_is_mapped_explicitly() -> None:
    classes = set(aiohttp_client_errors())

    # The walk itself must see deep and unexported classes, or it proves nothing.
    assert aiohttp.client_exceptions.UnixClientConnectorError in classes
    assert aiohttp.ClientConnectorCertificateError in classes
    assert unmapped(classes) == ["ClientError"]


def test_a_class_aiohttp_adds_later_is_reported_and_read_as_ambiguous() -> None:
    class NewClientError(aiohttp.ClientError):
        pass

    assert unmapped([NewClientError]) == ["NewClientError"]
    assert isinstance(map_transport_error(NewClientError(RAW_URL)), Disconnected)


CASES: list[tuple[str, BaseException, type[TransportError], str]] = [
    (
        "refused",
        aiohttp.ClientConnectorError(
            KEY, ConnectionRefusedError(111, "Connect call failed ('10.0.0.5', 8080)")
        ),
        ConnectFailed,
        "refused",
    ),
    (
        "dns",
        aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name or service not known")),
        ConnectFailed,
        "did not resolve",
    ),
    (
        "tls",
        aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError(1, "bad")),
        ConnectFailed,
        "certificate",
    ),
    (
        "connect-timeout",
        aiohttp.ConnectionTimeoutError(f"Connection timeout to host {RAW_URL}"),
        ConnectFailed,
        "connecting timed out",
    ),
    ("invalid-url", aiohttp.InvalidURL(RAW_URL), ConnectFailed, "invalid"),
    ("os-refused", ConnectionRefusedError(111, "Connection refused"), ConnectFailed, "refused"),
    ("os-dns", socket.gaierror(-2, "Name or service not known"), ConnectFailed, "resolve"),
    ("server-disconnected", aiohttp.ServerDisconnectedError(), Disconnected, "closed"),
    (
        "reset",
        aiohttp.ClientConnectionResetError("Cannot write to closing transport"),
        Disconnected,
        "reset",
    ),
    ("client-os", aiohttp.ClientOSError(32, "Broken pipe"), Disconnected, "Broken pipe"),
    (
        "payload",
        aiohttp.ClientPayloadError(f"Response payload is not completed {RAW_URL}"),
        Disconnected,
        "cut short",
    ),
    (
        "bad-http",
        aiohttp.ClientResponseError(REQUEST, (), status=400, message=f"Invalid {RAW_URL}"),
        Disconnected,
        "not valid HTTP",
    ),
    ("os-reset", ConnectionResetError(104, "Connection reset by peer"), Disconnected, "reset"),
    ("os-pipe", BrokenPipeError(32, "Broken pipe"), Disconnected, "closed while sending"),
    ("os-other", OSError(5, "Input/output error"), Disconnected, "Input/output error"),
    (
        "socket-read-timeout",
        aiohttp.SocketTimeoutError(f"Timeout on reading data from socket {RAW_URL}"),
        ReadTimedOut,
        "read timeout",
    ),
    ("server-timeout", aiohttp.ServerTimeoutError(), ReadTimedOut, "read timeout"),
    ("builtin-timeout", TimeoutError(), ReadTimedOut, "timeout"),
]


@pytest.mark.parametrize(
    ("exc", "expected", "phrase"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_mapping(exc: BaseException, expected: type[TransportError], phrase: str) -> None:
    error = map_transport_error(exc, url=SHOWN_URL)

    assert type(error) is expected
    assert phrase in error.detail
    assert error.url == SHOWN_URL
    assert error.cause == type(exc).__name__
    assert SHOWN_URL in str(error)
    # aiohttp's own text (and so the raw URL and the key) never leaks through.
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
    assert error.__cause__ is None


def test_reason_names_are_the_outcome_reasons() -> None:
    assert (ConnectFailed.reason, Disconnected.reason, ReadTimedOut.reason) == (
        "CONNECT_FAILED",
        "DISCONNECTED",
        "READ_TIMEOUT",
    )


def test_a_transport_error_maps_to_itself() -> None:
    error = ReadTimedOut("no answer", url=SHOWN_URL)

    assert map_transport_error(error) is error


@pytest.mark.parametrize("exc", [ValueError("x"), KeyError("k"), asyncio.CancelledError()])
def test_anything_else_is_not_passed_off_as_a_network_problem(exc: BaseException) -> None:
    with pytest.raises(TypeError, match="not a transport error"):
        map_transport_error(exc)


def test_message_without_url_still_reads() -> None:
    assert str(map_transport_error(aiohttp.ServerDisconnectedError())) == (
        "the connection to the PBX broke before it answered: the PBX closed the connection"
    )

"""What one updateLeadFast call came to, and the pure rule that decides it.

Outcome classes (what the pipeline does with each)::

    Outcome
    ├── Applied       the PBX updated the lead             → offset done
    ├── Retry         may succeed later (103, 109, 408,     → same lane, after backoff
    │                 429, 500, ambiguous timeouts/resets)
    ├── Unavailable   the PBX is not there (refused,        → breaker; budget not spent
    │                 502/503/504)
    ├── Permanent     will never succeed as sent (101, …)   → dead letter
    └── Fatal         every call will fail: key refused     → stop the service
                      (401/403), URL redirects (3xx)

``classify`` is the decision table of docs/reference/noojee-api.md, in this order:

1. a transport error: ``ConnectFailed`` → Unavailable; ``Disconnected`` and
   ``ReadTimedOut`` → Retry (ambiguous: the PBX may have applied the update);
2. 401/403 → Fatal ``UNAUTHORIZED`` whatever the body says;
3. a documented non-zero code in a JSON body → that code's class, whatever the
   status (a 200 carrying 101 was still refused); code 0 on a 2xx → Applied;
4. otherwise the status decides (HTML error pages, unparseable bodies and
   undocumented codes alike): 502/503/504 → Unavailable; 408, 429 and other
   5xx → Retry; 3xx → Fatal (the configured URL is wrong for every event);
   other 4xx → Permanent ``HTTP_<status>`` (``NOOJEE_<code>`` for an
   undocumented code); a 2xx without code 0 → Retry ``UNEXPECTED_RESPONSE``.
   That last one may resend an update that was applied, which reruns the
   disposition's actions; it is still preferred to dead-lettering an update
   that was never applied, and it is bounded by the retry deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC
from email.utils import parsedate_to_datetime

from consumer.pbx.transport import ConnectFailed, ReadTimedOut, TransportError
from contracts.noojee import NoojeeCode
from contracts.reasons import CODES, Handling

AMBIGUOUS_SILENCE = frozenset({"READ_TIMEOUT", "DISCONNECTED"})
"""Retry reasons where the PBX said nothing: a streak of them means it is gone."""

BODY_LIMIT = 4096
"""Characters of a response body kept on an outcome (and so in a dead letter)."""


@dataclass(frozen=True, slots=True)
class Applied:
    http_status: int = 200


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str
    """Machine name: a Noojee code name, ``HTTP_429``, ``READ_TIMEOUT``, ..."""
    message: str
    after: float | None = None
    """Seconds the server asked us to wait (``Retry-After``), if it did."""
    code: int | None = None
    http_status: int | None = None
    body: str = ""
    overload: bool = False
    """True when the PBX said it is over capacity (109): lower concurrency."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    reason: str
    message: str
    http_status: int | None = None
    body: str = ""


@dataclass(frozen=True, slots=True)
class Permanent:
    reason: str
    message: str
    code: int | None = None
    http_status: int | None = None
    body: str = ""


@dataclass(frozen=True, slots=True)
class Fatal:
    reason: str
    message: str
    http_status: int | None = None
    body: str = ""


Outcome = Applied | Retry | Unavailable | Permanent | Fatal


_DOCUMENTED_CODES = frozenset(int(code) for code in NoojeeCode)
_OK_BODIES = frozenset(
    (b'{"code":0,"message":"OK"}', b'{"code": 0, "message": "OK"}', b'{"code": 0, "message": ""}')
)
"""Exact bodies that parse to code 0: the common answer skips the JSON parser (same result)."""
_APPLIED = {status: Applied(status) for status in (200, 201, 202, 204)}
"""Applied is immutable: one instance per usual status serves every call."""


def classify(
    status: int | None,
    body: bytes | str | None,
    error: TransportError | None = None,
    *,
    retry_after: str | None = None,
    now: float | None = None,
) -> Outcome:
    """What one call came to (see the module docstring for the table).

    ``retry_after`` is the raw ``Retry-After`` header; ``now`` (epoch seconds,
    default the clock) resolves its HTTP-date form. A transport error wins over a
    status: a connection that broke while the body was read is ambiguous.
    """
    if error is not None:
        return _from_transport(error)
    if status is None:
        raise ValueError("classify needs an HTTP status or a transport error")
    if status in (401, 403):
        return Fatal(
            "UNAUTHORIZED",
            f"The PBX refused the API key (HTTP {status}): set LEADSYNC_NOOJEE_API_KEY to a "
            "key issued by Noojee support, then restart the service.",
            http_status=status,
            body=_shown(body),
        )
    code = 0 if body in _OK_BODIES else _code_of(body)
    if code == NoojeeCode.OK:
        if 200 <= status < 300:
            return _APPLIED.get(status) or Applied(status)
        code = None  # "OK" on an error status says nothing: the status decides
    after = parse_retry_after(retry_after, now)
    if code in _DOCUMENTED_CODES:
        known = NoojeeCode(code)
        row = CODES[known]
        if row.handling is Handling.RETRY:
            return Retry(
                known.name,
                row.message,
                after=after,
                code=code,
                http_status=status,
                body=_shown(body),
                overload=known is NoojeeCode.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS,
            )
        return Permanent(known.name, row.message, code=code, http_status=status, body=_shown(body))
    return _from_status(status, code, _shown(body), after)


def with_body_redacted(outcome: Outcome, redact: Callable[[str], str]) -> Outcome:
    """``outcome`` with its response body passed through ``redact``: a PBX error page may
    echo the request URL, and with it the API key, into a dead letter or a log."""
    if isinstance(outcome, Applied) or not outcome.body:
        return outcome
    return replace(outcome, body=redact(outcome.body))


def _from_transport(error: TransportError) -> Outcome:
    said = error.message[:1].upper() + error.message[1:]
    if isinstance(error, ConnectFailed):
        return Unavailable(
            error.reason,
            f"{said}; sending pauses until the PBX answers: check that it is up and that "
            "LEADSYNC_NOOJEE_URL points at it.",
        )
    if isinstance(error, ReadTimedOut):
        return Retry(
            error.reason,
            f"{said}; it may still have applied the update, which will be sent again (if "
            "this repeats, the PBX is overloaded or LEADSYNC_REQUEST_TIMEOUT_S is too low).",
        )
    return Retry(
        error.reason,
        f"{said}; the PBX may or may not have applied the update, which will be sent again.",
    )


def _from_status(status: int, code: int | None, body: str, after: float | None) -> Outcome:
    """The "other / unparseable body" row: the status decides."""
    reason = f"HTTP_{status}" if code is None else f"NOOJEE_{code}"
    answered = f"HTTP {status}" if code is None else f"HTTP {status} with undocumented code {code}"
    if status in (502, 503, 504):
        message = f"The PBX is not available ({answered}); sending pauses until it answers again."
        return Unavailable(reason, message, http_status=status, body=body)
    if status in (408, 429) or 500 <= status < 600:
        message = f"The PBX could not take the update now ({answered}); it will be retried."
        return Retry(reason, message, after=after, code=code, http_status=status, body=body)
    if 400 <= status < 500:
        message = (
            f"The PBX rejected the update ({answered}): read the response body, correct the "
            "event or the LEADSYNC_NOOJEE_* settings, then replay."
        )
        return Permanent(reason, message, code=code, http_status=status, body=body)
    if 300 <= status < 400:
        message = (
            f"The PBX answered with a redirect ({answered}): set LEADSYNC_NOOJEE_URL to the "
            "address it redirects to, then restart the service."
        )
        return Fatal(reason, message, http_status=status, body=body)
    message = (
        f"The PBX answered {answered} without a result code leadsync knows, so the update may "
        "or may not have been applied; it will be sent again."
    )
    reason = "UNEXPECTED_RESPONSE" if code is None else reason
    return Retry(reason, message, after=after, code=code, http_status=status, body=body)


def _code_of(body: bytes | str | None) -> int | None:
    """The ``code`` of a Noojee JSON answer, or None for anything else."""
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return None
    code = parsed.get("code") if isinstance(parsed, dict) else None
    # bool is an int subclass, and {"code": true} is not a Noojee answer.
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _shown(body: bytes | str | None) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        # Decode no more than can be shown (4 UTF-8 bytes per character at most).
        body = body[: BODY_LIMIT * 4].decode("utf-8", errors="replace")
    return body[:BODY_LIMIT]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    Garbage gives None (the backoff policy decides); a date in the past gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        if value.isascii() and value.isdigit():
            return float(int(value))
        when = parsedate_to_datetime(value)
        # HTTP-dates are GMT; "-0000" parses as naive, which must not mean local time.
        at = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    current = time.time() if now is None else now
    return max(0.0, at - current)

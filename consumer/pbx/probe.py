"""``leadsync check``'s question to the PBX: is this Noojee's ``updateLeadFast``, and
does it take our key?

The probe updates a lead that cannot exist (an empty ``njExternalLeadId``);
the vendor documents the answer: JSON ``{"code": 101, "message":
"COULDNT_FIND_THE_LEAD"}``, nothing changed. Only that answer passes. Anything
else is named by what it most likely means, because each would otherwise
dead-letter or stall every event: a 404 is a wrong path, an HTML page a web
server that is not the PBX, 401/403 a refused key, a 3xx a URL that is not the
PBX's own, a transport failure the reason the PBX was not reached.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied, Fatal
from contracts.noojee import NoojeeCode, UpdateLeadFast

PROBE_LEAD_ID = ""
_URL = "LEADSYNC_NOOJEE_URL"
_KEY = "LEADSYNC_NOOJEE_API_KEY"

_ADVICE: Mapping[str, str] = {
    "the host name did not resolve": f"check the host in {_URL}",
    "the connection was refused": f"nothing listens there; check the host and port in {_URL}",
    "connecting timed out": "a firewall, or a wrong address?",
    "no connection could be made": f"check {_URL}",
    "the TLS handshake failed": "is it https on that port?",
    "the TLS certificate was rejected": (
        "LEADSYNC_NOOJEE_CA_FILE names the CA of a private certificate"
    ),
    "the proxy could not be reached": "check HTTPS_PROXY / HTTP_PROXY, or NO_PROXY",
    "the proxy refused the tunnel": "check HTTPS_PROXY / HTTP_PROXY, or NO_PROXY",
}
_KEEP_DETAIL = ("the TLS handshake failed", "the TLS certificate was rejected")
"""Phrases whose OS words say what matters (which certificate check failed)."""
_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")


def probe_request(query: Mapping[str, str]) -> UpdateLeadFast:
    """The probe: the default campaign's ids (``query``) and an empty lead id."""
    return UpdateLeadFast(
        lead_id=PROBE_LEAD_ID, query=dict(query), body={"njExternalLeadId": PROBE_LEAD_ID}
    )


def verdict(result: CallResult) -> str | None:
    """None when the PBX answered as Noojee's ``updateLeadFast`` does; else what is wrong."""
    where = f"the PBX at {result.url}"
    if result.error is not None:
        return f"{where} was not reached: {_transport_words(result.error.detail)}"
    status, outcome = result.http_status, result.outcome
    if isinstance(outcome, Applied):
        return (
            f"{where} answered code 0 (OK, HTTP {status}) for a lead id that cannot "
            "exist: it accepts any update, so it is not a Noojee PBX"
        )
    body = outcome.body
    code = _noojee_code(body)
    if code == NoojeeCode.COULDNT_FIND_THE_LEAD:
        return None
    if status in (401, 403):
        return f"{where} refused {_KEY} (HTTP {status}): set the key Noojee support issued"
    if status is not None and 300 <= status < 400:
        return (
            f"{where} answered with a redirect (HTTP {status}): {_URL} is not the PBX's own "
            "address (http:// for https://, a missing or extra path, another host?)"
        )
    if status == 404:
        return (
            f"{where} has no updateLeadFast (HTTP 404): {_URL} has a wrong path; give the "
            "PBX's base URL, e.g. https://pbx.example.com, without /servicemanager/..."
        )
    if _is_html(body):
        return (
            f"{where} answered with an HTML page (HTTP {status}), not Noojee's JSON: "
            f"{_URL} points at another web server (wrong host or port?)"
        )
    if code is not None:
        name = NoojeeCode(code).name if code in set(NoojeeCode) else "undocumented"
        return (
            f"{where} answered code {code} ({name}, HTTP {status}) where Noojee answers "
            f"101 for an empty lead id: {_why_code(code)}"
        )
    if isinstance(outcome, Fatal):
        return f"{where}: {outcome.message}"
    return (
        f"{where} answered HTTP {status} without Noojee's JSON "
        f"({_excerpt(body) or 'an empty body'}): is {_URL} the PBX?"
    )


def _why_code(code: int) -> str:
    if code == NoojeeCode.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS:
        return "the PBX is busy; run the check again"
    if code == NoojeeCode.EXCEPTION:
        return "the PBX failed internally; run the check again, then ask Noojee support"
    return "check LEADSYNC_NOOJEE_TEMPLATE_ID, _CAMPAIGN_ID and _ALLOCATION_ID"


def _transport_words(detail: str) -> str:
    phrase = detail.partition(" (")[0]
    words = _SSL_SOURCE.sub("", detail) if phrase in _KEEP_DETAIL else phrase
    advice = _ADVICE.get(phrase)
    return f"{words}: {advice}" if advice else words


def _noojee_code(body: str) -> int | None:
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        return None
    code = parsed.get("code") if isinstance(parsed, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _is_html(body: str) -> bool:
    start = body.lstrip()[:100].lower()
    return start.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in start


def _excerpt(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= 80 else text[:80] + " ..."

"""Rendering the PBX URL for humans without the API key.

The Noojee API key travels in the URL query (``apiKey``), so every URL that is
logged, put in a span, an error message or a dead-letter header must come from
``redacted_url``. ``redact_text`` is the last line of defence for free text that
might have picked the key up anyway (a third-party exception message, say).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"
API_KEY_PARAM = "apiKey"

# ``apiKey=…`` in a URL, and ``'apiKey': '…'`` in a repr of query parameters.
_API_KEY_IN_TEXT = re.compile(r"(apikey['\"]?\s*[=:]\s*['\"]?)[^&\s#'\"<>,}]*", re.IGNORECASE)


def _is_api_key(name: str) -> bool:
    return name.lower() == API_KEY_PARAM.lower()


def _redacted_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    shown = [(name, REDACTED if _is_api_key(name) else value) for name, value in pairs]
    if not any(_is_api_key(name) for name, _ in shown):
        # Every call carries a key: the rendered URL says so, so that a reader
        # of a log line knows what was really sent.
        shown.append((API_KEY_PARAM, REDACTED))
    return shown


def redacted_url(base_url: str, path: str, query: Mapping[str, str]) -> str:
    """``base_url`` + ``path`` + ``query`` as a string safe to print.

    ``apiKey`` (any case of the name) always shows as ``REDACTED``, whether or
    not ``query`` holds it; a password in the base URL's user info and any
    query already in the base URL are redacted the same way.
    """
    parts = urlsplit(base_url)
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rpartition("@")[2]
        netloc = f"{parts.username or ''}:{REDACTED}@{host}"
    pairs = parse_qsl(parts.query, keep_blank_values=True) + list(query.items())
    full_path = parts.path.rstrip("/") + path
    return urlunsplit((parts.scheme, netloc, full_path, urlencode(_redacted_pairs(pairs)), ""))


def redact_text(text: str, secret: str) -> str:
    """``text`` with ``secret`` (raw or URL-encoded) and any ``apiKey=…`` value masked."""
    if secret:
        for form in sorted({secret, quote(secret, safe=""), quote_plus(secret)}, key=len)[::-1]:
            text = text.replace(form, REDACTED)
    return _API_KEY_IN_TEXT.sub(lambda match: match.group(1) + REDACTED, text)

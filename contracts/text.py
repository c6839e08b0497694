"""Bounding text that crosses a boundary: dead-letter headers, error messages, logs.

A record can be as large as the broker allows, and an error message that
quotes it (a ``repr`` of a bad value, a field name a megabyte long) must not
grow with it. ``clip`` cuts on character boundaries and says it did.
"""

from __future__ import annotations

from typing import Final

MARKER: Final = " …[truncated]"
"""Ends every text that was cut, so a reader knows more was there."""


def clip(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else a prefix ending in ``MARKER``.

    The result never has more than ``limit`` characters (nor fewer than the
    marker's, for a tiny ``limit``).
    """
    if len(text) <= limit:
        return text
    keep = max(0, limit - len(MARKER))
    return text[:keep] + MARKER


def clip_utf8(text: str, limit: int) -> bytes:
    """``text`` as UTF-8 in at most ``limit`` bytes, ending in ``MARKER`` when cut.

    Never splits a character; a lone surrogate becomes ``?`` rather than failing.
    """
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= limit:
        return encoded
    marker = MARKER.encode()
    room = max(0, limit - len(marker))
    # Dropping the bytes of a character cut in half leaves valid UTF-8.
    head = encoded[:room].decode("utf-8", errors="ignore").encode("utf-8")
    return head + marker


MAX_ERROR_CHARS: Final = 300


def describe_error(exc: BaseException) -> str:
    """``TypeError: unhashable type: 'list'``: an exception's type and a bounded message,
    on one line (for a dead letter, a log line, an operator)."""
    text = " ".join(str(exc).split())
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {clip(text, MAX_ERROR_CHARS)}"

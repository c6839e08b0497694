"""Parsing a record's JSON with bounds, so a hostile record costs bounded time and memory.

Every decoder reads JSON through ``parse``: pydantic-core's parser (the one
``parse_lead_change`` uses too), which nests at most ``MAX_DEPTH`` levels
(deeper input is an error, never a ``RecursionError``), reads UTF-8 only,
refuses lone surrogates (``"\\ud800"``), which no encoder could send on, and
refuses ``NaN`` and ``Infinity``, which are not JSON. The record's size is
bounded before parsing by ``DecoderConfig.max_bytes``.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic_core import from_json

MAX_DEPTH: Final = 200
"""pydantic-core's fixed nesting limit: arrays and objects deeper than this are refused."""


class NotJson(ValueError):
    """The bytes are not one JSON document; ``str()`` says why in one line."""


def parse(raw: bytes) -> Any:
    """The JSON document in ``raw``, or ``NotJson`` naming the first problem."""
    try:
        return from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise NotJson(_why(raw, str(exc))) from None


def why_not_json(raw: bytes, message: str) -> str:
    """One line on why ``raw`` did not parse, from the parser's ``message``."""
    return _why(raw, message)


def _why(raw: bytes, message: str) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8: invalid byte at offset {exc.start}"
    message = message.removeprefix("Invalid JSON: ")
    if message.startswith("recursion limit exceeded"):
        return f"not JSON leadsync reads: nested deeper than {MAX_DEPTH} levels"
    if "surrogate" in message or "hex escape" in message:
        where = message.rpartition(" at ")[2]
        return (
            "not JSON leadsync reads: a \\u escape is a lone surrogate, which is no "
            f"Unicode character and cannot be sent on (at {where})"
        )
    return f"not JSON: {message}"

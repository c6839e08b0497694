"""Log lines: one JSON object per line (with the caller's extras), or text for humans."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from consumer.observability.logs import JsonFormatter, configure_logging


def make_record(
    message: str,
    *args: object,
    extra: dict[str, Any] | None = None,
    exc_info: bool = False,
) -> logging.LogRecord:
    logger = logging.getLogger("leadsync.test")
    info = sys.exc_info() if exc_info else None
    return logger.makeRecord(
        logger.name, logging.WARNING, __file__, 1, message, args, info, extra=extra
    )


def test_a_record_becomes_one_json_object_on_one_line() -> None:
    record = make_record("dead-lettered %s@%d:\nsecond line", "lead-changes[0]", 17)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "dead-lettered lead-changes[0]@17:\nsecond line"
    assert parsed["level"] == "WARNING"
    assert parsed["logger"] == "leadsync.test"
    assert parsed["time"].endswith("+00:00")  # UTC, RFC 3339
    assert set(parsed) == {"time", "level", "logger", "message"}  # nothing standard leaks


def test_extras_become_fields() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque-thing"

    record = make_record(
        "applied",
        extra={"lead_key": "CRM-1", "attempts": 3, "where": Opaque(), "name_ü": "Zoë"},
    )
    parsed = json.loads(JsonFormatter().format(record))
    assert parsed["lead_key"] == "CRM-1"
    assert parsed["attempts"] == 3
    assert parsed["where"] == "opaque-thing"  # not JSON-serialisable: shown as str()
    assert parsed["name_ü"] == "Zoë"


def test_an_exception_is_included_in_the_same_line() -> None:
    try:
        raise RuntimeError("the broker went away")
    except RuntimeError:
        record = make_record("commit failed", exc_info=True)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert "RuntimeError: the broker went away" in parsed["exception"]
    assert "Traceback" in parsed["exception"]


@contextlib.contextmanager
def configured(level: str, fmt: str) -> Iterator[None]:
    """configure_logging for one test, undone before pytest takes its own handlers back."""
    root, aiokafka = logging.getLogger(), logging.getLogger("aiokafka")
    handlers, level_before, aiokafka_before = root.handlers[:], root.level, aiokafka.level
    configure_logging(level, fmt)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level_before)
        aiokafka.setLevel(aiokafka_before)


def test_configure_logging_json_writes_json_lines_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with configured("INFO", "json"):
        log = logging.getLogger("leadsync.json")
        log.info("first", extra={"partition": 2})
        log.debug("not shown at INFO")
        log.warning("second")
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["first", "second"]
    assert json.loads(lines[0])["partition"] == 2


def test_configure_logging_text_is_for_humans(capsys: pytest.CaptureFixture[str]) -> None:
    with configured("DEBUG", "text"):
        logging.getLogger("leadsync.text").debug("hello %s", "operator")
    err = capsys.readouterr().err
    assert "DEBUG" in err
    assert "leadsync.text: hello operator" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err)


def test_configure_logging_replaces_handlers_instead_of_adding() -> None:
    with configured("INFO", "json"):
        configure_logging("INFO", "json")
        assert len(logging.getLogger().handlers) == 1


@pytest.mark.parametrize(
    ("level", "aiokafka_level"),
    [("DEBUG", logging.WARNING), ("INFO", logging.WARNING), ("ERROR", logging.ERROR)],
)
def test_aiokafka_is_never_chattier_than_warning(level: str, aiokafka_level: int) -> None:
    with configured(level, "json"):
        assert logging.getLogger().level == logging.getLevelName(level)
        assert logging.getLogger("aiokafka").level == aiokafka_level

"""classify: the decision table of docs/reference/noojee-api.md, one row per documented line."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.pbx.outcomes import (
    _OK_BODIES,
    BODY_LIMIT,
    Applied,
    Fatal,
    Outcome,
    Permanent,
    Retry,
    Unavailable,
    classify,
    parse_retry_after,
)
from consumer.pbx.transport import ConnectFailed, Disconnected, ReadTimedOut
from contracts.noojee import NoojeeCode
from contracts.reasons import HTTP_STATUS_OF_CODE

NOW = datetime(2026, 11, 26, 10, 15, tzinfo=UTC).timestamp()
URL = "http://pbx.test/servicemanager/rest/CampaignAPI/updateLeadFast?apiKey=REDACTED"


def answer(code: int, name: str = "") -> bytes:
    return json.dumps({"code": code, "message": name}).encode()


# One row per line of the code table in docs/reference/noojee-api.md: (code, outcome class).
CODE_TABLE: list[tuple[NoojeeCode, type[Outcome]]] = [
    (NoojeeCode.OK, Applied),
    (NoojeeCode.COULDNT_FIND_THE_LEAD, Permanent),
    (NoojeeCode.NO_PHONE_FIELDS, Permanent),
    (NoojeeCode.EXCEPTION, Retry),
    (NoojeeCode.DNC, Permanent),
    (NoojeeCode.DUPLICATE, Permanent),
    (NoojeeCode.INVALID_DISPOSTION, Permanent),
    (NoojeeCode.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED, Permanent),
    (NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED, Permanent),
    (NoojeeCode.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS, Retry),
    (NoojeeCode.LEAD_NOT_UPDATED_DUE_TO_CONFLICT, Permanent),
    (NoojeeCode.INVALID_TIMEZONE_SPECIFIED, Permanent),
    (NoojeeCode.DUPLICATE_EXTERNAL_ID, Permanent),
]


def test_the_table_covers_every_documented_code() -> None:
    assert sorted(code for code, _ in CODE_TABLE) == sorted(NoojeeCode)


@pytest.mark.parametrize(
    ("code", "expected"), CODE_TABLE, ids=[code.name for code, _ in CODE_TABLE]
)
def test_documented_code(code: NoojeeCode, expected: type[Outcome]) -> None:
    status = HTTP_STATUS_OF_CODE[code]
    body = answer(code, code.name)

    outcome = classify(status, body)

    assert type(outcome) is expected
    if isinstance(outcome, Applied):
        assert outcome.http_status == 200
        return
    assert isinstance(outcome, Retry | Permanent)
    assert (outcome.reason, outcome.code, outcome.http_status) == (code.name, int(code), status)
    assert outcome.body == body.decode()
    assert isinstance(outcome, Permanent) or outcome.overload is (
        code is NoojeeCode.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS
    )


NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
TOMCAT_PAGE = (
    "<!doctype html><html lang='en'><head><title>HTTP Status {0}</title></head>"
    "<body><h1>HTTP Status {0}</h1></body></html>"
)

# (id, status, body, outcome class, reason)
BY_STATUS: list[tuple[str, int, bytes | str | None, type[Outcome], str]] = [
    ("200-unparseable", 200, b"updated!", Retry, "UNEXPECTED_RESPONSE"),
    ("200-empty", 200, b"", Retry, "UNEXPECTED_RESPONSE"),
    ("200-none", 200, None, Retry, "UNEXPECTED_RESPONSE"),
    ("200-html", 200, TOMCAT_PAGE.format(200), Retry, "UNEXPECTED_RESPONSE"),
    ("200-json-array", 200, b"[0]", Retry, "UNEXPECTED_RESPONSE"),
    ("200-code-as-string", 200, b'{"code": "0"}', Retry, "UNEXPECTED_RESPONSE"),
    ("200-code-as-bool", 200, b'{"code": false}', Retry, "UNEXPECTED_RESPONSE"),
    ("200-bad-utf8", 200, b'{"code": 0, "message": "\xff\xfe"}', Retry, "UNEXPECTED_RESPONSE"),
    ("200-undocumented-code", 200, answer(199), Retry, "NOOJEE_199"),
    ("200-documented-error-code", 200, answer(101), Permanent, "COULDNT_FIND_THE_LEAD"),
    ("200-transient-code", 200, answer(103), Retry, "EXCEPTION"),
    ("201-ok", 201, answer(0, "OK"), Applied, ""),
    ("400-unparseable", 400, b"Bad Request", Permanent, "HTTP_400"),
    ("400-undocumented-code", 400, answer(199, "NEW_THING"), Permanent, "NOOJEE_199"),
    ("400-code-ok", 400, answer(0, "OK"), Permanent, "HTTP_400"),
    ("404-html", 404, TOMCAT_PAGE.format(404), Permanent, "HTTP_404"),
    ("405", 405, b"", Permanent, "HTTP_405"),
    ("408", 408, b"", Retry, "HTTP_408"),
    ("413", 413, b"too large", Permanent, "HTTP_413"),
    ("429", 429, b"slow down", Retry, "HTTP_429"),
    ("401", 401, TOMCAT_PAGE.format(401), Fatal, "UNAUTHORIZED"),
    ("403", 403, b"", Fatal, "UNAUTHORIZED"),
    ("403-with-a-code", 403, answer(101), Fatal, "UNAUTHORIZED"),
    ("301", 301, b"", Fatal, "HTTP_301"),
    ("500-html", 500, TOMCAT_PAGE.format(500), Retry, "HTTP_500"),
    ("500-undocumented-code", 500, answer(199), Retry, "NOOJEE_199"),
    ("500-code-ok", 500, answer(0), Retry, "HTTP_500"),
    ("501", 501, b"", Retry, "HTTP_501"),
    ("502-nginx", 502, NGINX_502, Unavailable, "HTTP_502"),
    ("503-html", 503, TOMCAT_PAGE.format(503), Unavailable, "HTTP_503"),
    ("504-empty", 504, b"", Unavailable, "HTTP_504"),
    ("503-with-a-documented-code", 503, answer(103), Retry, "EXCEPTION"),
    ("100", 100, b"", Retry, "UNEXPECTED_RESPONSE"),
]


@pytest.mark.parametrize(
    ("status", "body", "expected", "reason"),
    [row[1:] for row in BY_STATUS],
    ids=[row[0] for row in BY_STATUS],
)
def test_other_rows_decided_by_status(
    status: int, body: bytes | str | None, expected: type[Outcome], reason: str
) -> None:
    outcome = classify(status, body)

    assert type(outcome) is expected
    assert outcome.http_status == status
    if not isinstance(outcome, Applied):
        assert outcome.reason == reason


def test_undocumented_code_is_carried() -> None:
    outcome = classify(400, answer(199))

    assert isinstance(outcome, Permanent)
    assert outcome.code == 199


def test_429_with_delta_seconds() -> None:
    outcome = classify(429, b"", retry_after="120", now=NOW)

    assert isinstance(outcome, Retry)
    assert outcome.after == 120.0


def test_429_with_http_date() -> None:
    outcome = classify(429, b"", retry_after="Thu, 26 Nov 2026 10:16:30 GMT", now=NOW)

    assert isinstance(outcome, Retry)
    assert outcome.after == 90.0


def test_109_honours_retry_after_too() -> None:
    outcome = classify(400, answer(109), retry_after="7")

    assert isinstance(outcome, Retry)
    assert (outcome.after, outcome.overload) == (7.0, True)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        (" 30 ", 30.0),
        ("Thu, 26 Nov 2026 10:15:05 GMT", 5.0),
        ("Thursday, 26-Nov-26 10:15:05 GMT", 5.0),  # RFC 850, still allowed to parse
        ("Thu, 26 Nov 2026 10:14:00 GMT", 0.0),  # in the past: go now
        ("Thu, 26 Nov 2026 10:15:05 -0000", 5.0),  # naive date is still GMT
        (None, None),
        ("", None),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("٣", None),  # a non-ASCII digit
        ("9" * 5000, None),
        ("Thu, 99 Nov 2026 10:15:05 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_garbage_retry_after_is_ignored() -> None:
    outcome = classify(429, b"", retry_after="whenever", now=NOW)

    assert isinstance(outcome, Retry)
    assert outcome.after is None


def test_connection_refused_means_the_pbx_is_unavailable() -> None:
    outcome = classify(None, None, ConnectFailed("the connection was refused", url=URL))

    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "CONNECT_FAILED"
    assert URL in outcome.message


def test_reset_after_send_is_an_ambiguous_retry() -> None:
    outcome = classify(None, None, Disconnected("the connection was reset", url=URL))

    assert isinstance(outcome, Retry)
    assert outcome.reason == "DISCONNECTED"
    assert "may or may not have applied" in outcome.message


def test_read_timeout_is_an_ambiguous_retry() -> None:
    outcome = classify(None, None, ReadTimedOut("no answer", url=URL))

    assert isinstance(outcome, Retry)
    assert outcome.reason == "READ_TIMEOUT"
    assert "LEADSYNC_REQUEST_TIMEOUT_S" in outcome.message


def test_an_error_while_reading_the_body_wins_over_the_status() -> None:
    outcome = classify(200, b'{"code": 0', Disconnected("the answer was cut short"))

    assert isinstance(outcome, Retry)
    assert outcome.reason == "DISCONNECTED"


def test_neither_status_nor_error_is_a_bug() -> None:
    with pytest.raises(ValueError, match="status or a transport error"):
        classify(None, b"")


@pytest.mark.parametrize("body", [b"x" * 10_000, "é" * 10_000, ("€" * 5000).encode()])
def test_body_is_truncated_to_4096_characters(body: bytes | str) -> None:
    outcome = classify(500, body)

    assert isinstance(outcome, Retry)
    assert len(outcome.body) == BODY_LIMIT
    text = body if isinstance(body, str) else body.decode()
    assert text.startswith(outcome.body)


ALL_ROWS: list[Outcome] = [
    *(classify(HTTP_STATUS_OF_CODE[code], answer(code)) for code, _ in CODE_TABLE),
    *(classify(status, body) for _, status, body, _, _ in BY_STATUS),
    classify(None, None, ConnectFailed("refused", url=URL)),
    classify(None, None, Disconnected("reset", url=URL)),
    classify(None, None, ReadTimedOut("no answer", url=URL)),
]


@pytest.mark.parametrize("outcome", [row for row in ALL_ROWS if not isinstance(row, Applied)])
def test_every_message_is_one_actionable_sentence(outcome: Outcome) -> None:
    assert not isinstance(outcome, Applied)
    message = outcome.message
    assert message[0].isupper()
    assert message.endswith(".")
    assert "\n" not in message
    # An action: what to fix, or what the service does about it.
    assert any(
        verb in message for verb in ("replay", "restart", "retried", "sent again", "pauses")
    ), message
    assert "apiKey=" not in message or "apiKey=REDACTED" in message


@given(
    status=st.integers(min_value=100, max_value=599),
    body=st.one_of(st.none(), st.binary(max_size=300), st.text(max_size=300)),
    retry_after=st.one_of(st.none(), st.text(max_size=40)),
)
def test_any_answer_gets_an_outcome(
    status: int, body: bytes | str | None, retry_after: str | None
) -> None:
    outcome = classify(status, body, retry_after=retry_after, now=NOW)

    assert isinstance(outcome, Applied | Retry | Unavailable | Permanent | Fatal)
    if isinstance(outcome, Retry):
        assert outcome.after is None or outcome.after >= 0
    if not isinstance(outcome, Applied):
        assert len(outcome.body) <= BODY_LIMIT


@pytest.mark.parametrize("body", sorted(_OK_BODIES))
def test_the_common_ok_bodies_are_exactly_bodies_that_parse_to_code_0(body: bytes) -> None:
    # classify skips the JSON parser for these: the parser must agree with the shortcut.
    parsed = json.loads(body)
    assert parsed["code"] == 0
    assert type(parsed["code"]) is int
    assert classify(200, body) == Applied(200)
    assert classify(201, body) == Applied(201)
    assert classify(400, body) == classify(400, body.decode())  # the status still decides
    assert isinstance(classify(400, body), Permanent)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_applied_carries_its_own_status(status: int) -> None:
    assert classify(status, answer(0, "OK")) == Applied(status)

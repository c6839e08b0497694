"""consumer.deadletters.tools.render, .show and .advice: what the commands print."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from consumer.deadletters.tools.advice import ADVICE, advice_for
from consumer.deadletters.tools.letters import REPLAY_COUNT, DeadLetter, dead_letter_of
from consumer.deadletters.tools.plan import Decision, SkipReason
from consumer.deadletters.tools.render import (
    SKIP_MEANING,
    ListWriter,
    decision_line,
    headers_json,
    list_header,
    list_row,
    replay_json,
    summary_lines,
)
from consumer.deadletters.tools.show import Shown, show_json, show_text
from contracts.deadletter import DeadLetterReason, DeadLetterReport, Failure, dead_letter_headers
from contracts.noojee import NoojeeCode

EVENT = {"event_id": "e1", "lead_id": "CRM-000123", "occurred_at": "2026-11-26T10:15:00Z"}


def headers(
    reason: str = "COULDNT_FIND_THE_LEAD", code: int | None = 101
) -> list[tuple[str, bytes]]:
    at = datetime(2026, 11, 26, 10, 16, 30, tzinfo=UTC)
    return dead_letter_headers(
        [("crm.source", b"outbox")],
        DeadLetterReport(
            failure=Failure(
                reason=reason,
                message="The PBX has no lead with this njExternalLeadId:\nfix it, then replay.",
                code=code,
                http_status=400,
                response='{"code": 101, "message": "COULDNT_FIND_THE_LEAD"}',
                attempts=1,
                first_failed_at=at,
                failed_at=at,
            ),
            reported_at=at,
            source_topic="lead-changes",
            source_partition=2,
            source_offset=345,
            source_timestamp_ms=1764152100000,
            consumer_group="leadsync",
            version="0.1.0",
            traceparent=None,
        ),
    )


def letter(offset: int = 17, reason: str = "COULDNT_FIND_THE_LEAD") -> DeadLetter:
    return dead_letter_of(0, offset, b"CRM-000123", json.dumps(EVENT).encode(), headers(reason))


def test_list_rows_line_up_under_the_header() -> None:
    header, row = list_header(), list_row(letter())
    for column in ("REASON", "LEAD", "SOURCE", "MESSAGE"):
        assert header.index(column) == len(header.split(column)[0])
    assert row.startswith("0:17 ")
    assert row[header.index("REASON") :].startswith("COULDNT_FIND_THE_LEAD")
    assert row[header.index("LEAD") :].startswith("CRM-000123")
    assert row[header.index("SOURCE") :].startswith("2@345")
    assert "\n" not in row
    long = list_row(dead_letter_of(0, 1, b"L" * 50, None, headers()))
    assert "L" * 17 + "…" in long
    assert len(long.split(" MESSAGE")[0]) == len(list_row(letter()).split(" MESSAGE")[0])


@pytest.mark.parametrize("limit", [None, 1, 5])
def test_the_json_listing_is_one_document_with_counts(limit: int | None) -> None:
    out = io.StringIO()
    writer = ListWriter(out, limit=limit, as_json=True)
    for offset in range(3):
        writer.add(letter(offset, "INVALID_EVENT" if offset == 2 else "COULDNT_FIND_THE_LEAD"))
    writer.end()
    doc = json.loads(out.getvalue())
    assert doc["total"] == 3
    assert doc["counts"] == {"COULDNT_FIND_THE_LEAD": 2, "INVALID_EVENT": 1}
    assert [item["dlq_offset"] for item in doc["dead_letters"]] == [0, 1, 2][: limit or 3]
    assert doc["dead_letters"][0]["lead_id"] == "CRM-000123"
    first = doc["dead_letters"][0]
    assert (first["source_partition"], first["source_offset"]) == (2, 345)
    assert (first["code"], first["http_status"], first["attempts"]) == (101, 400, 1)
    assert first["failed_at"] == "2026-11-26T10:16:30.000Z"


def test_the_table_listing_ends_with_counts_by_reason() -> None:
    out = io.StringIO()
    writer = ListWriter(out, limit=1, as_json=False)
    assert out.getvalue() == ""  # a read that fails at once prints nothing
    for offset in range(3):
        writer.add(letter(offset))
    writer.end()
    lines = out.getvalue().splitlines()
    assert lines[0] == list_header()
    assert len(lines) == 1 + 1 + 2  # header, one row, total, one reason
    assert lines[2] == "3 dead letters selected (1 shown: --limit 1)"
    assert lines[3].split() == ["3", "COULDNT_FIND_THE_LEAD"]


def test_an_empty_listing_is_still_a_document() -> None:
    out = io.StringIO()
    ListWriter(out, limit=None, as_json=True).end()
    assert json.loads(out.getvalue()) == {"dead_letters": [], "total": 0, "counts": {}}


def test_the_replay_summary_says_why_records_were_skipped() -> None:
    decisions = [
        Decision(letter(0), None),
        Decision(letter(1), SkipReason.ALREADY_REPLAYED, "a replay of it is in lead-changes"),
        Decision(letter(2), SkipReason.ALREADY_REPLAYED, "a replay of it is in lead-changes"),
    ]
    lines = summary_lines(decisions, 1, dry_run=False)
    assert lines[0] == "replayed 1 of 3 selected dead letters"
    assert lines[1] == "skipped 2:"
    assert lines[2].split(None, 2) == [
        "2",
        "already_replayed:",
        SKIP_MEANING[SkipReason.ALREADY_REPLAYED],
    ]
    dry = summary_lines(decisions, 1, dry_run=True)
    assert dry[0].startswith("would replay 1 of 3")
    assert dry[-1] == "dry run: nothing was written"
    assert decision_line(decisions[0], "lead-changes").endswith("-> lead-changes[2]")
    assert "already_replayed: a replay of it" in decision_line(decisions[1], "lead-changes")
    doc = replay_json(decisions, 1, dry_run=True, topic="lead-changes")
    assert doc["skipped"] == {"already_replayed": 2}
    assert [d["action"] for d in doc["decisions"]] == ["replay", "skip", "skip"]
    assert set(SKIP_MEANING) == set(SkipReason)


def test_show_prints_headers_event_and_what_to_do() -> None:
    raw = headers()
    shown = Shown(
        "lead-changes.dlq",
        0,
        17,
        1764152190000,
        b"CRM-000123",
        json.dumps(EVENT).encode(),
        tuple(raw),
    )
    text = show_text(shown)
    assert "reason       COULDNT_FIND_THE_LEAD (code 101, HTTP 400, attempts 1)" in text
    assert "source       lead-changes[2]@345, group leadsync" in text
    assert advice_for("COULDNT_FIND_THE_LEAD").fix in text
    assert "leadsync dlq replay --dlq-partition 0 --from-offset 17 --to-offset 17 --dry-run" in text
    assert "  crm.source: outbox" in text
    assert '  leadsync.dlq.response: {"code": 101' in text
    assert "Event (valid lead-change/v1)" in text
    assert '"lead_id": "CRM-000123"' in text
    doc = show_json(shown)
    assert doc["event"] == EVENT
    assert doc["advice"]["replay_helps"] is True
    assert ["crm.source", "outbox"] in doc["headers"]


def test_show_names_the_call_that_failed() -> None:
    """leadsync.dlq.endpoint: which PBX call failed last (docs/creating-leads.md)."""
    plain = show_text(
        Shown("t.dlq", 0, 1, None, b"k", json.dumps(EVENT).encode(), tuple(headers()))
    )
    assert "call         " not in plain
    raw = [*headers(), ("leadsync.dlq.endpoint", b"insertLeadFast")]
    text = show_text(Shown("t.dlq", 0, 1, None, b"k", json.dumps(EVENT).encode(), tuple(raw)))
    assert "call         insertLeadFast (the PBX call that failed last)" in text


def test_show_explains_an_invalid_event_and_advises_against_replay() -> None:
    raw = headers("INVALID_EVENT", None)
    shown = Shown("t.dlq", 1, 2, None, None, b"\xffnot json", tuple(raw))
    text = show_text(shown)
    assert "no replay: the same bytes would fail again" in text
    assert "Event (invalid: " in text
    assert "\\xffnot json" in text
    assert show_json(shown)["event"] is None


def test_every_code_and_reason_has_its_own_advice() -> None:
    reasons = {code.name for code in NoojeeCode if code is not NoojeeCode.OK}
    reasons |= {str(reason) for reason in DeadLetterReason}
    assert reasons <= set(ADVICE)
    assert all(advice.meaning and advice.fix for advice in ADVICE.values())


def test_undocumented_answers_and_unknown_reasons_get_family_advice() -> None:
    assert "LEADSYNC_NOOJEE_URL" in advice_for("HTTP_404").fix
    assert "Noojee support" in advice_for("NOOJEE_999").fix
    assert "leadsync.dlq.message" in advice_for("SOMETHING_NEW").fix
    assert advice_for("couldnt_find_the_lead") is ADVICE["COULDNT_FIND_THE_LEAD"]


def test_the_replays_column_shows_the_count_the_dead_letter_carries() -> None:
    again = dead_letter_of(0, 1, None, None, [(REPLAY_COUNT, b"2"), *headers()])
    column = list_header().index("REPLAYS")
    assert list_row(again)[column:].split()[0] == "2"
    assert list_row(letter())[column:].split()[0] == "0"


def test_headers_shown_never_carry_an_api_key() -> None:
    # A dead letter from before the service redacted PBX answers (or a CRM header) may
    # hold a URL with the key: `dlq show` and `dlq list --json` mask it.
    page = b"<html>404 for /updateLeadFast?fCampaignId=1&apiKey=s3cret-key&x=1</html>"
    shown = dict(headers_json([("leadsync.dlq.response", page)]))
    assert "s3cret-key" not in shown["leadsync.dlq.response"]
    assert "apiKey=REDACTED&x=1" in shown["leadsync.dlq.response"]

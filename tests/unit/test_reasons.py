"""contracts.reasons: one row per Noojee code and leadsync reason, read by everything."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from consumer.deadletters.tools.advice import advice_for
from consumer.pbx.outcomes import Applied, Permanent, Retry, classify
from consumer.sandbox.simulator.store import response_of
from contracts.deadletter import DeadLetterReason
from contracts.insert_reasons import INSERT_REASONS
from contracts.noojee import NoojeeCode
from contracts.reasons import CODES, REASONS, Handling, reason_named


def test_every_code_and_every_reason_has_a_row() -> None:
    assert set(CODES) == set(NoojeeCode)
    assert {str(reason) for reason in DeadLetterReason} <= set(REASONS)
    assert all(row.message and row.meaning and row.fix for row in REASONS.values())


@pytest.mark.parametrize("code", list(NoojeeCode), ids=lambda code: code.name)
def test_classify_the_simulator_and_the_advice_all_read_the_row(code: NoojeeCode) -> None:
    row = CODES[code]
    status, body = response_of(code)
    assert status == row.http_status
    outcome = classify(status, json.dumps(body))
    expected = {Handling.APPLIED: Applied, Handling.RETRY: Retry, Handling.PERMANENT: Permanent}
    assert isinstance(outcome, expected[row.handling])
    if not isinstance(outcome, Applied):
        assert outcome.message == row.message
        assert outcome.reason == code.name
        assert advice_for(code.name) is row


def test_families_and_unknown_reasons_have_rows_of_their_own() -> None:
    assert reason_named("HTTP_404").name == "HTTP_<status>"
    assert reason_named("NOOJEE_999").name == "NOOJEE_<code>"
    assert reason_named("SOMETHING_NEW").name == "?"
    assert reason_named("couldnt_find_the_lead") is CODES[NoojeeCode.COULDNT_FIND_THE_LEAD]


def test_the_runbooks_reason_table_has_every_dead_letter_reason_and_its_replay_answer() -> None:
    runbook = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    rows = {
        match[0]: match[1].strip()
        for match in re.findall(
            r"^\| `([A-Z_<>a-z]+)` \|[^|]*\|[^|]*\|[^|]*\|([^|]*)\|", runbook, re.M
        )
    }
    dead_letter_reasons = [
        row
        for row in (*REASONS.values(), reason_named("HTTP_404"), reason_named("NOOJEE_999"))
        if row.handling is Handling.PERMANENT
    ]
    for row in dead_letter_reasons:
        assert row.name in rows, f"docs/operations.md's reason table lacks {row.name}"
        assert rows[row.name].startswith("yes") == row.replay_helps, row.name


def test_a_refused_insert_reads_its_own_row_where_it_has_one() -> None:
    """contracts.insert_reasons: the same reason name and handling, another sentence and
    advice; dlq show picks it when the dead letter names insertLeadFast."""
    for code, row in INSERT_REASONS.items():
        base = CODES[code]
        assert (row.name, row.handling, row.code, row.http_status) == (
            base.name,
            base.handling,
            base.code,
            base.http_status,
        )
        assert row.message != base.message
        assert advice_for(code.name, "insertLeadFast") is row
        assert advice_for(code.name, "updateLeadFast") is base
        assert advice_for(code.name) is base
    assert advice_for("DNC", "insertLeadFast") is CODES[NoojeeCode.DNC]
    assert advice_for("INVALID_EVENT", "insertLeadFast") is REASONS["INVALID_EVENT"]
    assert not INSERT_REASONS[NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED].replay_helps
    assert "LEADSYNC_NOOJEE_ALLOW_DUPLICATES" in INSERT_REASONS[NoojeeCode.DUPLICATE].fix

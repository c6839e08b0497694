"""What `leadsync demo` prints: progress redrawn only on a terminal, the PBX's answers as a
table, and what `--keep` left running."""

from __future__ import annotations

import io
import shlex

from consumer.commands.demo_report import (
    PLAIN_EVERY_S,
    DemoProgress,
    Kept,
    Tally,
    answer_table,
    kept_text,
    outcome_table,
    progress_text,
)

TALLY = Tally(finished=40, applied=38, dead_lettered=2, in_flight=7)


def test_a_terminal_gets_one_line_redrawn_in_place() -> None:
    out = io.StringIO()
    progress = DemoProgress(out, tty=True)
    for step in range(5):
        progress.show(f"line {step}", now=step * 1.0)
    progress.show("last", now=5.0, final=True)
    text = out.getvalue()
    assert text.count("\n") == 1
    assert text.endswith("last\n")
    assert text.count("\r") == 6


def test_a_pipe_gets_plain_lines_every_few_seconds_and_the_last_one() -> None:
    out = io.StringIO()
    progress = DemoProgress(out, tty=False)
    for tick in range(int(PLAIN_EVERY_S * 4) + 1):  # every 0.25 s for PLAIN_EVERY_S seconds
        progress.show(f"at {tick / 4:.2f}", now=tick / 4)
    progress.show("done", now=PLAIN_EVERY_S + 0.1, final=True)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines == ["at 0.00", f"at {PLAIN_EVERY_S:.2f}", "done"]


def test_the_progress_line_counts_what_finished() -> None:
    line = progress_text(TALLY, total=100, elapsed_s=2.0)
    assert "40/100 done" in line
    assert "applied    38" in line
    assert "dead-lettered   2" in line
    assert "in flight    7" in line
    assert "19 applied/s" in line


def test_the_pbx_answers_are_a_table_of_codes_with_names() -> None:
    codes = {"103": 4, "0": 900, "101": 3}
    statuses = {"200": 900, "400": 3, "500": 4, "401": 2}
    table = answer_table(codes, statuses)
    assert table[0].split() == ["PBX", "answered", "calls"]
    rows = [line.split() for line in table[1:]]
    assert rows == [
        ["0", "OK", "900"],
        ["101", "COULDNT_FIND_THE_LEAD", "3"],
        ["103", "EXCEPTION", "4"],
        ["(no", "Noojee", "code)", "2"],
    ]


def test_an_undocumented_code_is_named_as_such() -> None:
    (_, row) = answer_table({"999": 1}, {"400": 1})
    assert row.split() == ["999", "(not", "a", "Noojee", "code)", "1"]


def test_the_outcome_table_marks_every_mismatch() -> None:
    table = outcome_table({"applied": 10, "DNC": 1}, {"applied": 9, "INVALID_EVENT": 1})
    marked = {line.split()[0] for line in table if "mismatch" in line}
    assert marked == {"applied", "DNC", "INVALID_EVENT"}


def test_keep_prints_the_addresses_and_exports_a_shell_can_paste() -> None:
    kept = Kept(
        bootstrap="127.0.0.1:9092",
        topic="lead-changes",
        dlq_topic="lead-changes.dlq",
        group="leadsync-demo",
        pbx_url="http://127.0.0.1:8000",
        pbx_admin_url="http://127.0.0.1:8001",
        api_key="k$y",
        metrics_url="http://127.0.0.1:8080/metrics",
    )
    text = "\n".join(kept_text(kept))
    for shown in ("127.0.0.1:9092", "http://127.0.0.1:8000", "http://127.0.0.1:8080/metrics"):
        assert shown in text
    exports = dict(
        shlex.split(line)[1].split("=", 1)
        for line in text.splitlines()
        if line.strip().startswith("export ")
    )
    assert exports["LEADSYNC_NOOJEE_API_KEY"] == "k$y"
    assert exports["LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE"] == "false"
    assert exports["LEADSYNC_GROUP_ID"] == "leadsync-demo"
    for command in ("leadsync dlq list", "leadsync dlq show", "leadsync dlq replay"):
        assert command in text

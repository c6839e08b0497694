"""consumer.commands.dlq: arguments into filters and options, refusals before any I/O."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from consumer.commands import dlq
from consumer.deadletters.tools.filters import Selection
from consumer.errors import SettingsError

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="leadsync")
    dlq.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["dlq", *argv])


@pytest.fixture
def kafka_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LEADSYNC_NOOJEE_URL", "LEADSYNC_NOOJEE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    # A port nothing listens on: a test that reached Kafka would fail, not hang.
    monkeypatch.setenv("LEADSYNC_KAFKA_BOOTSTRAP", "127.0.0.1:9")


def test_filters_become_one_selection() -> None:
    args = parse(
        "list", "--reason", "couldnt_find_the_lead,invalid_event", "--reason", "DNC",
        "--code", "101", "--lead", "CRM-1", "--lead", "CRM-2", "--source-partition", "3",
        "--since", "2h", "--until", "2026-11-26T11:00:00Z", "--dlq-partition", "0",
        "--from-offset", "5", "--to-offset", "9",
    )  # fmt: skip
    assert dlq.selection_from(args, NOW) == Selection(
        reasons=frozenset({"COULDNT_FIND_THE_LEAD", "INVALID_EVENT", "DNC"}),
        codes=frozenset({"101"}),
        leads=frozenset({"CRM-1", "CRM-2"}),
        source_partitions=frozenset({3}),
        since=NOW - timedelta(hours=2),
        until=datetime(2026, 11, 26, 11, 0, tzinfo=UTC),
        dlq_partitions=frozenset({0}),
        from_offset=5,
        to_offset=9,
    )
    assert args.handler is dlq.handle_list


def test_replay_options_default_to_every_guard_on() -> None:
    args = parse("replay", "--reason", "DNC")
    assert (args.dry_run, args.force, args.include_superseded) == (False, False, False)
    assert (args.max_replays, args.rate, args.all) == (3, None, False)
    assert args.handler is dlq.handle_replay


@pytest.mark.parametrize(
    "argv", [["replay", "--all", "--max-replays", "0"], ["replay", "--all", "--rate", "0"]]
)
def test_nonsense_numbers_are_refused_by_the_parser(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2


@pytest.mark.usefixtures("kafka_env")
def test_a_replay_without_filters_needs_all(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("replay", "--dry-run")
    assert args.handler(args) == 2
    assert "--all" in capsys.readouterr().err


@pytest.mark.usefixtures("kafka_env")
@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--since", "yesterday"],
        ["list", "--from-offset", "9", "--to-offset", "1"],
        ["show", "17"],
    ],
)
def test_bad_filters_exit_2_before_touching_kafka(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse(*argv)
    assert args.handler(args) == 2
    assert capsys.readouterr().err.startswith("leadsync dlq: ")


@pytest.mark.usefixtures("kafka_env")
def test_dlq_settings_need_only_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSYNC_SOURCE_TOPIC", "crm.leads")
    settings = dlq.dlq_settings()
    assert settings.dead_letter_topic == "crm.leads.dlq"
    # A PBX setting that is given is still validated, never papered over.
    monkeypatch.setenv("LEADSYNC_NOOJEE_URL", "not a url")
    with pytest.raises(SettingsError, match="LEADSYNC_NOOJEE_URL"):
        dlq.dlq_settings()


def test_kafka_is_still_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADSYNC_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(SettingsError, match="LEADSYNC_KAFKA_BOOTSTRAP"):
        dlq.dlq_settings()

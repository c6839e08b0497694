"""The command line itself: ``--version``, and a description for every command."""

from __future__ import annotations

import argparse

import pytest

from consumer.cli import build_parser, main
from consumer.wiring import service_version


def sub_parsers(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every sub-command's parser by its name (``dlq list`` for nested ones)."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found[prefix + name] = child
                found |= sub_parsers(child, f"{prefix}{name} ")
    return found


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"leadsync {service_version()}"


def test_every_command_has_a_help_line_and_a_description() -> None:
    commands = sub_parsers(build_parser())
    assert {"run", "check", "demo", "simulate", "schema", "dlq", "dlq list"} <= commands.keys()
    for name, parser in commands.items():
        assert parser.description, f"`leadsync {name} --help` has no description"
        assert len(parser.description) > 30, name
    listing = build_parser().format_help()
    for name in (n for n in commands if " " not in n):
        line = next((line for line in listing.splitlines() if line.split()[:1] == [name]), "")
        assert len(line.split()) > 1, f"`leadsync --help` shows no help line for {name}"

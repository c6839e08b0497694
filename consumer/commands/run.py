"""``leadsync run``: the service, configured from the environment."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from consumer.logs import configure_logging
from consumer.service import EXIT_CONFIG, run_service
from consumer.settings import SettingsError, load_settings


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the service (configuration from LEADSYNC_* environment variables)",
        description="Consume lead changes and apply them to the PBX until SIGTERM.",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"leadsync: bad configuration:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format.value)
    return asyncio.run(run_service(settings))

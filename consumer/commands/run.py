"""``leadsync run``: the service, configured from the environment."""

from __future__ import annotations

import argparse
import asyncio
import gc
from typing import Any

from consumer.commands.output import report_bad_configuration
from consumer.configuration import load_configuration
from consumer.errors import EXIT_CONFIG, SettingsError
from consumer.observability.logs import configure_logging
from consumer.service import run_service


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the service (configuration from LEADSYNC_* environment variables)",
        description=(
            "Consume lead changes from Kafka and apply them to the PBX until SIGTERM. "
            "Configuration comes from LEADSYNC_* and OTEL_* variables (README.md, "
            "Configuration); a bad one exits 2 with one line naming it."
        ),
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        settings = load_configuration().settings
    except SettingsError as exc:
        report_bad_configuration(exc)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format.value)
    # Everything imported so far lives as long as the process: frozen out of the
    # collector's sight, a full collection walks only what events leave behind.
    # An event allocates hundreds of short-lived objects: at the default 700 the
    # youngest generation was collected every few events.
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    return asyncio.run(run_service(settings))

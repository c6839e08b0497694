"""``leadsync simulate``: a Noojee PBX simulator as a process.

On start it prints one JSON line, ``{"url": ..., "admin_url": ...}``, so that a
parent process started with ``--port 0`` learns where it listens; it then
serves until SIGTERM or SIGINT and exits 0. The API key may come from
``LEADSYNC_SIM_API_KEY`` instead of ``--api-key``, keeping it out of ``ps``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Mapping

from consumer.sandbox.simulator.config import (
    DEFAULT_PHONE_FIELDS,
    OUTAGE_MODES,
    ConfigError,
    SimulatorConfig,
)
from consumer.sandbox.simulator.server import run_simulator

API_KEY_ENV = "LEADSYNC_SIM_API_KEY"


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a Noojee PBX simulator",
        description=(
            "A Noojee Contact PBX that behaves as its API documents (docs/reference/noojee-api.md)."
        ),
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--port", type=int, default=0, help="PBX port; 0 picks a free one (default)")
    add("--admin-port", type=int, default=0, help="port of /_sim/* that outages never close")
    add("--api-key", default=None, help=f"the key callers must send (or env {API_KEY_ENV})")
    add("--threads", type=int, default=8, help="PBX hardware threads; capacity is threads / 2")
    add("--min-service-ms", type=float, default=100.0, help="shortest call (default 100)")
    add("--max-service-ms", type=float, default=None, help="longest call (default: the min)")
    add("--queue-timeout-s", type=float, default=60.0, help="queued longer answers 109")
    add("--error-ratio", type=float, default=0.0, help="share of calls answering 500/103")
    add("--spike-ratio", type=float, default=0.0, help="share of calls taking --spike-ms more")
    add("--spike-ms", type=float, default=0.0, help="extra time of a latency spike")
    add("--outage", choices=OUTAGE_MODES, default=None, help="start in an outage")
    add("--unknown-lead", action="append", default=[], metavar="ID", help="answers 101")
    add("--never-dialled", action="append", default=[], metavar="ID", help="<No Change> → 107")
    add("--dispositions", type=_csv, default=None, help="valid dispositions, A,B,C (default any)")
    add("--phone-fields", type=_csv, default=DEFAULT_PHONE_FIELDS, help="campaign phone fields")
    add("--seed", type=int, default=None, help="seed of the random service times and faults")
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> SimulatorConfig:
    """The configuration the command line asks for; ``ConfigError`` names a bad option."""
    api_key = args.api_key or environ.get(API_KEY_ENV, "")
    if not api_key:
        raise ConfigError(f"an API key is required: --api-key or {API_KEY_ENV}")
    return SimulatorConfig(
        api_key=api_key,
        threads=args.threads,
        min_service_ms=args.min_service_ms,
        max_service_ms=args.max_service_ms,
        queue_timeout_s=args.queue_timeout_s,
        error_ratio=args.error_ratio,
        spike_ratio=args.spike_ratio,
        spike_ms=args.spike_ms,
        outage=args.outage,
        phone_fields=args.phone_fields,
        unknown_leads=frozenset(args.unknown_lead),
        never_dialled=frozenset(args.never_dialled),
        valid_dispositions=None if args.dispositions is None else frozenset(args.dispositions),
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args, os.environ)
    except ConfigError as exc:
        print(f"leadsync simulate: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(config, args.host, args.port, args.admin_port))
    except OSError as exc:  # the port is taken or the host is not ours
        print(f"leadsync simulate: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(config: SimulatorConfig, host: str, port: int, admin_port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with run_simulator(config, host, port, admin_port) as simulator:
        print(json.dumps({"url": simulator.url, "admin_url": simulator.admin_url}), flush=True)
        await stop.wait()

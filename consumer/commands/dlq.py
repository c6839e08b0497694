"""``leadsync dlq list / show / replay``: find dead letters, explain one, replay them.

Only Kafka settings matter here (``LEADSYNC_KAFKA_*``, ``SOURCE_TOPIC``,
``DLQ_TOPIC``, ``GROUP_ID``); the PBX settings the service requires may be
left unset on an operator's machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from consumer.commands.arguments import positive_float, positive_int
from consumer.deadletters.tools import render
from consumer.deadletters.tools.filters import Selection, parse_moment, parse_position
from consumer.deadletters.tools.letters import DeadLetter
from consumer.deadletters.tools.plan import ReplayOptions
from consumer.deadletters.tools.progress import Meter
from consumer.deadletters.tools.reader import fetch_one, read_letters
from consumer.deadletters.tools.replay import replay
from consumer.deadletters.tools.show import Shown, show_json, show_text
from consumer.errors import EXIT_CONFIG, DlqError, SettingsError
from consumer.kafka.failures import KAFKA_ERRORS
from consumer.settings import ENV_PREFIX, Settings, load_settings

EXIT_FAILED = 1
_UNUSED_HERE = {"noojee_url": "http://pbx.unused.invalid", "noojee_api_key": "unused"}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dlq",
        help="list, explain and replay dead letters",
        description=("Dead-letter operations on LEADSYNC_DLQ_TOPIC (runbook: docs/operations.md)."),
    )
    actions = parser.add_subparsers(dest="dlq_action", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="a table of dead letters and counts by reason",
        description="List the dead letters the filters select, and count them by reason.",
    )
    _add_filters(listing)
    listing.add_argument("--limit", type=positive_int, help="show at most N rows (all counted)")
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    listing.set_defaults(handler=handle_list)

    show = actions.add_parser(
        "show",
        help="one dead letter in full, and what to do about it",
        description="Show one dead letter: its event, headers, reason and the advice for it.",
    )
    show.add_argument("position", help="<dlq-partition>:<offset>, as `list` prints it")
    show.add_argument("--json", action="store_true", help="one JSON document on stdout")
    show.set_defaults(handler=handle_show)

    replaying = actions.add_parser(
        "replay",
        help="re-publish dead letters to the source topic, with safety guards",
        description=(
            "Re-publish the selected dead letters to the source topic (LEADSYNC_SOURCE_TOPIC), "
            "where the service applies them again; leads with a newer event and letters "
            "replayed too often are skipped unless asked. --dry-run prints the plan."
        ),
    )
    _add_filters(replaying)
    replaying.add_argument("--all", action="store_true", help="replay without any filter")
    replaying.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    replaying.add_argument("--rate", type=positive_float, help="records per second at most")
    replaying.add_argument(
        "--include-superseded",
        action="store_true",
        help="replay even when the lead has a newer event (overwrites newer data)",
    )
    replaying.add_argument(
        "--max-replays", type=positive_int, default=3, help="loop guard (default 3)"
    )
    replaying.add_argument("--force", action="store_true", help="replay even past --max-replays")
    replaying.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    replaying.set_defaults(handler=handle_replay)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (repeat one to widen it; all given must match)")
    add = group.add_argument
    add("--reason", action="append", default=[], help="e.g. COULDNT_FIND_THE_LEAD, INVALID_EVENT")
    add("--code", action="append", default=[], help="Noojee code, e.g. 101")
    add("--lead", action="append", default=[], help="lead id")
    add("--source-partition", action="append", type=int, default=[], help="source partition")
    add("--since", help="failed at or after: 2h, 7d or 2026-11-26T10:00:00Z")
    add("--until", help="failed at or before (same forms)")
    add("--dlq-partition", action="append", type=int, default=[], help="DLQ partition")
    add("--from-offset", type=int, help="first DLQ offset (inclusive)")
    add("--to-offset", type=int, help="last DLQ offset (inclusive)")


def selection_from(args: argparse.Namespace, now: datetime) -> Selection:
    """The filters as a ``Selection``; ``ValueError`` names a bad one."""
    return Selection(
        reasons=frozenset(_csv(args.reason, str.upper)),
        codes=frozenset(_csv(args.code, str)),
        leads=frozenset(args.lead),
        source_partitions=frozenset(args.source_partition),
        since=parse_moment(args.since, now) if args.since else None,
        until=parse_moment(args.until, now) if args.until else None,
        dlq_partitions=frozenset(args.dlq_partition),
        from_offset=args.from_offset,
        to_offset=args.to_offset,
    )


def dlq_settings() -> Settings:
    """Settings from the environment, with placeholders for the PBX settings not set."""
    given = {name.upper() for name in os.environ}
    unset = {
        k: v
        for k, v in _UNUSED_HERE.items()
        if not {f"{ENV_PREFIX}{k.upper()}", f"{ENV_PREFIX}{k.upper()}_FILE"} & given
    }
    return load_settings(**unset)


def handle_list(args: argparse.Namespace) -> int:
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    settings, selection = prepared
    writer = render.ListWriter(sys.stdout, limit=args.limit, as_json=args.json)

    def visit(letter: DeadLetter) -> None:
        if selection.matches(letter):
            writer.add(letter)

    def run() -> None:
        progress = Meter(sys.stderr)
        asyncio.run(read_letters(settings, visit, within=selection, progress=progress))
        writer.end()

    return _guarded(run)


def handle_show(args: argparse.Namespace) -> int:
    try:
        partition, offset = parse_position(args.position)
        settings = dlq_settings()
    except (ValueError, SettingsError) as exc:
        return _usage(str(exc))
    topic = settings.dead_letter_topic

    def run() -> None:
        record = asyncio.run(fetch_one(settings, topic, partition, offset))
        if record is None:
            raise DlqError(f"{topic} has no record at {partition}:{offset}")
        headers = tuple(record.headers)
        shown = Shown(topic, partition, offset, record.timestamp, record.key, record.value, headers)
        text = json.dumps(show_json(shown), indent=2) if args.json else show_text(shown)
        sys.stdout.write(text + "\n")

    return _guarded(run)


def handle_replay(args: argparse.Namespace) -> int:
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    settings, selection = prepared
    if selection.is_everything and not args.all:
        return _usage("no filter given: name what to replay, or pass --all to replay everything")
    try:
        options = ReplayOptions(args.max_replays, args.force, args.include_superseded)
    except ValueError as exc:
        return _usage(str(exc))

    def run() -> None:
        result = asyncio.run(
            replay(
                settings,
                selection,
                options,
                dry_run=args.dry_run,
                rate=args.rate,
                progress=Meter(sys.stderr),
            )
        )
        for warning in result.warnings:
            print(f"leadsync dlq: warning: {warning}", file=sys.stderr)
        if args.json:
            doc = render.replay_json(
                result.decisions, result.replayed, dry_run=result.dry_run, topic=result.topic
            )
            doc["warnings"] = result.warnings
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
            return
        lines = [render.decision_line(d, result.topic) for d in result.decisions if args.dry_run]
        lines += render.summary_lines(result.decisions, result.replayed, dry_run=result.dry_run)
        sys.stdout.write("\n".join(lines) + "\n")

    return _guarded(run)


def _prepare(args: argparse.Namespace) -> tuple[Settings, Selection] | int:
    try:
        return dlq_settings(), selection_from(args, datetime.now(UTC))
    except (ValueError, SettingsError) as exc:
        return _usage(str(exc))


def _guarded(run: Callable[[], None]) -> int:
    try:
        run()
    except (DlqError, *KAFKA_ERRORS) as exc:
        print(f"leadsync dlq: {_why(exc)}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _why(exc: BaseException) -> str:
    if isinstance(exc, DlqError):
        return str(exc)
    return f"Kafka unreachable or failing ({type(exc).__name__}: {exc})"


def _usage(message: str) -> int:
    print(f"leadsync dlq: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _csv(values: list[str], convert: Callable[[str], str]) -> list[str]:
    return [convert(part.strip()) for value in values for part in value.split(",") if part.strip()]

"""What the dead-letter commands print: list rows, JSON documents, replay reports. Pure."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any, TextIO

from consumer.deadletters.tools.letters import DeadLetter
from consumer.deadletters.tools.plan import Decision, SkipReason
from consumer.pbx.redact import redact_text
from contracts.deadletter import rfc3339_utc

_COLUMNS = (
    ("DLQ", 9),
    ("FAILED AT (UTC)", 19),
    ("REASON", 26),
    ("CODE", 4),
    ("LEAD", 18),
    ("SOURCE", 12),
    ("REPLAYS", 7),
)
MESSAGE_WIDTH = 60

SKIP_MEANING: dict[SkipReason, str] = {
    SkipReason.OTHER_TOPIC: "dead-lettered from another source topic",
    SkipReason.UNKNOWN_SOURCE: "no source headers, so no safe place to replay to",
    SkipReason.INCOMPLETE: "written without its value (too large): replay the original by hand",
    SkipReason.ALREADY_REPLAYED: "a replay of it is already in the source topic",
    SkipReason.MAX_REPLAYS: "replayed --max-replays times already; --force replays again",
    SkipReason.SUPERSEDED: "the lead has a newer event; --include-superseded replays anyway",
    SkipReason.DUPLICATE: "another dead letter of the same event is replayed instead",
}


def cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def list_header() -> str:
    return " ".join(name.ljust(width) for name, width in _COLUMNS) + " MESSAGE"


def list_row(letter: DeadLetter) -> str:
    failed = letter.failed_at.strftime("%Y-%m-%d %H:%M:%S") if letter.failed_at else "?"
    source = f"{letter.source.partition}@{letter.source.offset}" if letter.source else "?"
    values = (
        letter.position,
        failed,
        letter.reason or "?",
        letter.code,
        letter.lead_id or "",
        source,
        str(letter.replay_count),
    )
    cells = (cut(v, width).ljust(width) for v, (_, width) in zip(values, _COLUMNS, strict=True))
    return " ".join(cells) + " " + cut(letter.message, MESSAGE_WIDTH)


def counts_lines(counts: Counter[str], shown: int, limit: int | None) -> list[str]:
    total = sum(counts.values())
    lines = [f"{total} dead letter{'s' if total != 1 else ''} selected"]
    if limit is not None and shown < total:
        lines[0] += f" ({shown} shown: --limit {limit})"
    lines += [f"  {count:>8}  {reason or '?'}" for reason, count in counts.most_common()]
    return lines


class ListWriter:
    """Streams ``list`` output: rows (or JSON items) as they are read, counts at the end.

    Streaming keeps memory flat however large the DLQ; the JSON document is
    still one valid document once ``end()`` ran. Nothing is written before the
    first record or ``end()``, so a read that fails at once leaves stdout empty.
    """

    def __init__(self, out: TextIO, *, limit: int | None, as_json: bool) -> None:
        self._out = out
        self._limit = limit
        self._json = as_json
        self.counts: Counter[str] = Counter()
        self.shown = 0
        self._begun = False

    def _begin(self) -> None:
        if not self._begun:
            self._begun = True
            self._out.write('{"dead_letters": [' if self._json else list_header() + "\n")

    def add(self, letter: DeadLetter) -> None:
        self._begin()
        self.counts[letter.reason] += 1
        if self._limit is not None and self.shown >= self._limit:
            return
        self.shown += 1
        if self._json:
            separator = ",\n" if self.shown > 1 else "\n"
            self._out.write(separator + json.dumps(letter_json(letter)))
        else:
            self._out.write(list_row(letter) + "\n")

    def end(self) -> None:
        self._begin()
        if self._json:
            total = sum(self.counts.values())
            counts = json.dumps(dict(self.counts))
            self._out.write(f'], "total": {total}, "counts": {counts}}}\n')
        else:
            self._out.write("\n".join(counts_lines(self.counts, self.shown, self._limit)) + "\n")


def letter_json(letter: DeadLetter) -> dict[str, Any]:
    source = letter.source
    return {
        "dlq_partition": letter.partition,
        "dlq_offset": letter.offset,
        "lead_id": letter.lead_id,
        "reason": letter.reason,
        "code": _number(letter.code),
        "http_status": _number(letter.http_status),
        "attempts": _number(letter.attempts),
        "failed_at": rfc3339_utc(letter.failed_at) if letter.failed_at else None,
        "source_topic": source.topic if source else None,
        "source_partition": source.partition if source else None,
        "source_offset": source.offset if source else None,
        "replay_count": letter.replay_count,
        "message": letter.message,
    }


def decision_line(decision: Decision, topic: str) -> str:
    letter = decision.letter
    about = f"{letter.position:<9} lead {cut(letter.lead_id or '?', 24):<24} {letter.reason}"
    if decision.skip is None:
        partition = letter.source.partition if letter.source else "?"
        return f"replay {about} -> {topic}[{partition}]"
    return f"skip   {about}: {decision.skip}: {decision.why}"


def summary_lines(decisions: Iterable[Decision], replayed: int, *, dry_run: bool) -> list[str]:
    decisions = list(decisions)
    skipped = Counter(d.skip for d in decisions if d.skip is not None)
    verb = "would replay" if dry_run else "replayed"
    lines = [f"{verb} {replayed} of {len(decisions)} selected dead letters"]
    if skipped:
        lines.append(f"skipped {sum(skipped.values())}:")
        lines += [
            f"  {count:>8}  {skip}: {SKIP_MEANING[skip]}" for skip, count in skipped.most_common()
        ]
    if dry_run:
        lines.append("dry run: nothing was written")
    return lines


def replay_json(
    decisions: Iterable[Decision], replayed: int, *, dry_run: bool, topic: str
) -> dict[str, Any]:
    decisions = list(decisions)
    skipped = Counter(str(d.skip) for d in decisions if d.skip is not None)
    return {
        "dry_run": dry_run,
        "topic": topic,
        "selected": len(decisions),
        "replayed": replayed,
        "skipped": dict(skipped),
        "decisions": [
            {
                **letter_json(d.letter),
                "action": "replay" if d.skip is None else "skip",
                "skip": None if d.skip is None else str(d.skip),
                "why": d.why or None,
            }
            for d in decisions
        ],
    }


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def header_text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", errors="backslashreplace")


def headers_json(headers: Iterable[tuple[str, bytes | None]]) -> list[list[str]]:
    """Every header as text; ``apiKey=…`` in any of them is masked. The service redacts
    the PBX's answers before it writes them, but a dead letter from an older version, or
    a CRM header, may still carry a URL with the key."""
    return [[name, redact_text(header_text(value), "")] for name, value in headers]

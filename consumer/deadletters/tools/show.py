"""``leadsync dlq show``: one dead letter in full, and what to do about it. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consumer.deadletters.tools.advice import advice_for
from consumer.deadletters.tools.letters import DeadLetter, dead_letter_of
from consumer.deadletters.tools.render import header_text, headers_json, letter_json
from contracts import deadletter as dl
from contracts.events import InvalidEvent, parse_lead_change

VALUE_PREVIEW = 4096


@dataclass(frozen=True, slots=True)
class Shown:
    """A dead-letter record as read, before interpretation."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    @property
    def letter(self) -> DeadLetter:
        return dead_letter_of(self.partition, self.offset, self.key, self.value, self.headers)


def validity(value: bytes | None) -> str:
    """``valid lead-change/v1``, or why the service cannot take the event as it is."""
    if value is None:
        return "invalid: the record has no value (a tombstone)"
    try:
        parse_lead_change(value)
    except InvalidEvent as exc:
        return f"invalid: {exc}"
    return "valid lead-change/v1"


def event_text(value: bytes | None) -> str:
    if value is None:
        return "(none)"
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except ValueError:
        text = header_text(value[:VALUE_PREVIEW])
        return text + (" …" if len(value) > VALUE_PREVIEW else "")


def replay_command(letter: DeadLetter) -> str:
    return (
        f"leadsync dlq replay --dlq-partition {letter.partition} "
        f"--from-offset {letter.offset} --to-offset {letter.offset} --dry-run"
    )


def show_text(shown: Shown) -> str:
    letter = shown.letter
    found = dl.parse_dead_letter_headers(shown.headers)
    advice = advice_for(letter.reason, found.get(dl.ENDPOINT, ""))
    code = f"code {letter.code}, " if letter.code else ""
    status = f"HTTP {letter.http_status}, " if letter.http_status else ""
    source = letter.source
    where = f"{source.topic}[{source.partition}]@{source.offset}" if source else "unknown"
    lines = [
        f"dead letter  {shown.topic} {letter.position}  written {_written(shown.timestamp_ms)}",
        f"reason       {letter.reason or '?'} ({code}{status}attempts {letter.attempts or '?'})",
        f"failed       first {found.get(dl.FIRST_FAILED_AT, '?')}, "
        f"last {found.get(dl.FAILED_AT, '?')}",
        f"source       {where}, group {found.get(dl.CONSUMER_GROUP, '?')}, "
        f"leadsync {found.get(dl.VERSION, '?')}",
        f"lead         {letter.lead_id or '?'} (record key {header_text(shown.key) or 'none'})",
        f"replays      {letter.replay_count} before this failure",
        f"message      {letter.message}",
    ]
    if endpoint := found.get(dl.ENDPOINT):
        lines.append(f"call         {endpoint} (the PBX call that failed last)")
    lines += [
        "",
        "What to do",
        f"  meaning    {advice.meaning}",
        f"  fix        {advice.fix}",
    ]
    if advice.replay_helps:
        lines += [
            f"  then       {replay_command(letter)}",
            "             (check the plan, then run it again without --dry-run)",
        ]
    else:
        lines.append("  then       no replay: the same bytes would fail again")
    lines += ["", "Headers"]
    lines += [f"  {name}: {value}" for name, value in headers_json(shown.headers)]
    lines += ["", f"Event ({validity(shown.value)})", event_text(shown.value)]
    return "\n".join(lines)


def show_json(shown: Shown) -> dict[str, Any]:
    letter = shown.letter
    endpoint = dl.parse_dead_letter_headers(shown.headers).get(dl.ENDPOINT, "")
    advice = advice_for(letter.reason, endpoint)
    try:
        event: Any = json.loads(shown.value) if shown.value is not None else None
    except ValueError:
        event = None
    return {
        **letter_json(letter),
        "dlq_topic": shown.topic,
        "timestamp_ms": shown.timestamp_ms,
        "key": header_text(shown.key) if shown.key is not None else None,
        "value": header_text(shown.value) if shown.value is not None else None,
        "event": event,
        "validity": validity(shown.value),
        "headers": headers_json(shown.headers),
        "advice": {
            "meaning": advice.meaning,
            "fix": advice.fix,
            "replay_helps": advice.replay_helps,
            "replay_command": replay_command(letter) if advice.replay_helps else None,
        },
    }


def _written(timestamp_ms: int | None) -> str:
    if not timestamp_ms or timestamp_ms < 0:
        return "?"
    return dl.rfc3339_utc(datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC))

"""What a replay does with each selected dead letter: the decision table, without I/O.

Checks run in this order and the first that applies is the reason reported:

1. ``other_topic``      dead-lettered from another source topic than LEADSYNC_SOURCE_TOPIC
2. ``unknown_source``   the headers do not say where the event was read
   ``incomplete``       the dead letter went without its value (or key, or headers):
                        too large for the dead-letter topic; replay the original by hand
3. ``already_replayed`` the source topic holds a replay of this very dead letter
4. ``max_replays``      the event was replayed ``--max-replays`` times already (``--force``)
5. ``superseded``       the lead has a newer live event (``--include-superseded``)
6. ``duplicate``        another selected dead letter is the same source event; the
                        most recent one is replayed (the service dead-letters an
                        event twice when it stops between the dead letter and the commit)

Replays are published in the order the CRM first sent the events, so one
lead's replays reach the dialler in their original order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from consumer.deadletters.tools.letters import DeadLetter
from consumer.deadletters.tools.supersede import SourceIndex, describe_newer


class SkipReason(StrEnum):
    OTHER_TOPIC = "other_topic"
    UNKNOWN_SOURCE = "unknown_source"
    INCOMPLETE = "incomplete"
    ALREADY_REPLAYED = "already_replayed"
    MAX_REPLAYS = "max_replays"
    SUPERSEDED = "superseded"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    max_replays: int = 3
    force: bool = False
    """Replay even events replayed ``max_replays`` times already."""
    include_superseded: bool = False

    def __post_init__(self) -> None:
        if self.max_replays < 1:
            raise ValueError("--max-replays must be at least 1")


@dataclass(frozen=True, slots=True)
class Decision:
    letter: DeadLetter
    skip: SkipReason | None
    """None: replay it."""
    why: str = ""


def plan(
    letters: Iterable[DeadLetter],
    index: SourceIndex,
    committed: Mapping[int, int | None],
    options: ReplayOptions,
    topic: str,
) -> list[Decision]:
    """One decision per letter, in publishing order (skips keep their place for reports)."""
    decisions = [_decide(letter, index, committed, options, topic) for letter in letters]
    decisions = _mark_duplicates(decisions)
    return sorted(decisions, key=_order)


def _decide(
    letter: DeadLetter,
    index: SourceIndex,
    committed: Mapping[int, int | None],
    options: ReplayOptions,
    topic: str,
) -> Decision:
    source = letter.source
    if source is not None and source.topic != topic:
        return Decision(
            letter,
            SkipReason.OTHER_TOPIC,
            f"dead-lettered from topic {source.topic!r}; run with "
            f"LEADSYNC_SOURCE_TOPIC={source.topic} to replay it there",
        )
    if source is None or letter.logical_offset is None:
        return Decision(letter, SkipReason.UNKNOWN_SOURCE, "no leadsync.source.* headers")
    if letter.omitted:
        return Decision(
            letter,
            SkipReason.INCOMPLETE,
            f"written without its {' and '.join(letter.omitted)} (too large for the "
            f"dead-letter topic): the original is {source.topic}[{source.partition}]"
            f"@{source.offset}, while retention keeps it",
        )
    if (letter.partition, letter.offset) in index.replayed:
        return Decision(letter, SkipReason.ALREADY_REPLAYED, f"a replay of it is in {topic}")
    if letter.replay_count >= options.max_replays and not options.force:
        return Decision(
            letter,
            SkipReason.MAX_REPLAYS,
            f"replayed {letter.replay_count} times already and failed each time "
            "(--force replays it again)",
        )
    newer = index.newer_than(letter)
    if newer is not None and not options.include_superseded:
        why = describe_newer(topic, source.partition, newer, committed.get(source.partition))
        return Decision(letter, SkipReason.SUPERSEDED, why)
    return Decision(letter, None)


def _mark_duplicates(decisions: list[Decision]) -> list[Decision]:
    kept: dict[tuple[int, int], DeadLetter] = {}
    for decision in decisions:
        event = _event_of(decision)
        if event is not None:
            other = kept.get(event)
            if other is None or _recency(decision.letter) > _recency(other):
                kept[event] = decision.letter
    marked = []
    for decision in decisions:
        event = _event_of(decision)
        if event is not None and kept[event] is not decision.letter:
            why = f"the same event is replayed from {kept[event].position}"
            marked.append(Decision(decision.letter, SkipReason.DUPLICATE, why))
        else:
            marked.append(decision)
    return marked


def _event_of(decision: Decision) -> tuple[int, int] | None:
    """The source event a to-be-replayed letter stands for."""
    letter = decision.letter
    origin = letter.logical_offset
    if decision.skip is not None or letter.source is None or origin is None:
        return None
    return (letter.source.partition, origin)


def _recency(letter: DeadLetter) -> tuple[int, float, int, int]:
    failed_at = letter.failed_at.timestamp() if letter.failed_at is not None else 0.0
    return (letter.replay_count, failed_at, letter.partition, letter.offset)


def _order(decision: Decision) -> tuple[int, int, int, int]:
    letter = decision.letter
    source_partition = letter.source.partition if letter.source is not None else -1
    origin = letter.logical_offset
    return (source_partition, -1 if origin is None else origin, letter.partition, letter.offset)

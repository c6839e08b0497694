"""``leadsync dlq replay``: choose, guard and re-publish dead letters to the source topic.

Three reads, then the writes:

1. the whole DLQ: the selected dead letters, and every source position that was
   dead-lettered (an event that failed changed nothing in the dialler);
2. the service group's committed offsets (to tell "applied" from "not yet");
3. each source partition that has a selected dead letter, from the oldest
   selected event to the end: newer events of the same leads (superseded guard)
   and the replay headers already there (idempotence);
4. unless ``dry_run``: one record per replay, to the partition the event came
   from, in the order the CRM first sent them, at most ``rate`` a second.

Nothing is written before step 4, and a dry run never gets there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from consumer.deadletters.tools.filters import Selection
from consumer.deadletters.tools.letters import DeadLetter, replay_headers
from consumer.deadletters.tools.plan import Decision, ReplayOptions, plan
from consumer.deadletters.tools.progress import Progress, Silent
from consumer.deadletters.tools.reader import Record, committed_offsets, read_letters, scan
from consumer.deadletters.tools.supersede import SourceIndex
from consumer.errors import DlqError
from consumer.kafka.clients import STOP_TIMEOUT_S, build_producer, stop_bounded
from consumer.kafka.failures import KAFKA_ERRORS
from consumer.settings import Settings
from contracts.deadletter import rfc3339_utc

START_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class ReplayResult:
    decisions: list[Decision]
    """In publishing order, skipped ones included."""
    replayed: int
    """Published and acknowledged (dry run: would be published)."""
    dry_run: bool
    topic: str
    warnings: list[str]
    """Things the guards could not check (see ``SourceIndex.blind_spots``)."""


def pace_delay(index: int, rate: float | None, started: float, now: float) -> float:
    """Seconds to wait before sending the ``index``-th record (0-based) at ``rate`` a second."""
    if not rate:
        return 0.0
    return max(0.0, started + index / rate - now)


async def replay(
    settings: Settings,
    selection: Selection,
    options: ReplayOptions,
    *,
    dry_run: bool,
    rate: float | None = None,
    progress: Progress | None = None,
) -> ReplayResult:
    progress = progress or Silent()
    decisions, warnings = await decide(settings, selection, options, progress)
    chosen = [d.letter for d in decisions if d.skip is None]
    replayed = len(chosen)
    if not dry_run and chosen:
        replayed = await publish(settings, chosen, rate=rate, progress=progress)
    return ReplayResult(decisions, replayed, dry_run, settings.source_topic, warnings)


async def decide(
    settings: Settings, selection: Selection, options: ReplayOptions, progress: Progress
) -> tuple[list[Decision], list[str]]:
    """Steps 1-3: read, and decide for every selected dead letter. Writes nothing.

    Also returns warnings about what the guards could not see.
    """
    topic = settings.source_topic
    selected: list[DeadLetter] = []
    dead_lettered: set[tuple[int, int]] = set()

    def take(letter: DeadLetter) -> None:
        if letter.source is not None and letter.source.topic == topic:
            dead_lettered.add((letter.source.partition, letter.source.offset))
        if selection.matches(letter):
            selected.append(letter)

    await read_letters(settings, take, progress=progress)
    ours = [letter for letter in selected if letter.source and letter.source.topic == topic]
    index = SourceIndex(ours, dead_lettered)
    committed: dict[int, int | None] = {}
    warnings: list[str] = []
    if index.starts:
        committed = await committed_offsets(settings, topic, index.starts)

        def add(r: Record) -> None:
            index.add(r.partition, r.offset, r.key, r.value, r.headers)

        ends = await scan(
            settings,
            topic,
            add,
            partitions=index.starts.keys(),
            starts=index.starts,
            progress=progress,
            label=f"scanning {topic}",
        )
        warnings = index.blind_spots(topic, ends)
    return plan(selected, index, committed, options, topic), warnings


async def publish(
    settings: Settings,
    letters: Sequence[DeadLetter],
    *,
    rate: float | None,
    progress: Progress,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Step 4; returns how many the broker acknowledged, or raises ``DlqError``."""
    producer = build_producer(settings)
    try:
        await asyncio.wait_for(producer.start(), timeout=START_TIMEOUT_S)
        return await _send_all(
            producer, settings.source_topic, letters, rate=rate, progress=progress, clock=clock
        )
    except KAFKA_ERRORS as exc:
        raise DlqError(_interrupted(type(exc).__name__, str(exc))) from exc
    finally:
        await stop_bounded(producer, STOP_TIMEOUT_S)


async def _send_all(
    producer: AIOKafkaProducer,
    topic: str,
    letters: Sequence[DeadLetter],
    *,
    rate: float | None,
    progress: Progress,
    clock: Callable[[], float],
) -> int:
    progress.start(f"replaying to {topic}", len(letters))
    acknowledged = 0

    def acked(future: asyncio.Future[object]) -> None:
        nonlocal acknowledged
        if not future.cancelled() and future.exception() is None:
            acknowledged += 1
            progress.advance(1)

    futures: list[asyncio.Future[object]] = []
    started = clock()
    for index, letter in enumerate(letters):
        delay = pace_delay(index, rate, started, clock())
        if delay > 0:
            await asyncio.sleep(delay)
        assert letter.source is not None  # the plan only replays letters with a source
        future = await producer.send(
            topic,
            value=letter.value,
            key=letter.key,
            headers=replay_headers(letter, rfc3339_utc(datetime.now(UTC))),
            # The event's own partition: behind that lead's earlier events, whatever
            # the partitioner would pick for its key today.
            partition=letter.source.partition,
        )
        future.add_done_callback(acked)
        futures.append(future)
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    progress.finish()
    failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failed:
        raise DlqError(
            _interrupted(type(failed[0]).__name__, f"{len(failed)} of {len(letters)} failed")
        )
    return acknowledged


def _interrupted(kind: str, detail: str) -> str:
    return (
        f"replay interrupted ({kind}: {detail}). Run the same command again: dead letters "
        "whose replay reached the source topic are skipped as already_replayed."
    )

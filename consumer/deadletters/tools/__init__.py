"""Dead-letter operations: read, filter, explain and replay the dead-letter topic.

``leadsync dlq list / show / replay`` (``consumer/commands/dlq.py``) are thin
wrappers around these.
"""

from consumer.deadletters.tools.advice import Advice, advice_for
from consumer.deadletters.tools.filters import Selection, parse_moment, parse_position
from consumer.deadletters.tools.letters import (
    REPLAY_AT,
    REPLAY_COUNT,
    REPLAY_DLQ_OFFSET,
    REPLAY_DLQ_PARTITION,
    REPLAY_HEADERS,
    REPLAY_ORIGIN_OFFSET,
    DeadLetter,
    SourcePosition,
    dead_letter_of,
)
from consumer.deadletters.tools.plan import Decision, ReplayOptions, SkipReason
from consumer.deadletters.tools.reader import fetch_one, read_letters
from consumer.deadletters.tools.replay import ReplayResult, replay

__all__ = [
    "REPLAY_AT",
    "REPLAY_COUNT",
    "REPLAY_DLQ_OFFSET",
    "REPLAY_DLQ_PARTITION",
    "REPLAY_HEADERS",
    "REPLAY_ORIGIN_OFFSET",
    "Advice",
    "DeadLetter",
    "Decision",
    "DlqError",
    "ReplayOptions",
    "ReplayResult",
    "Selection",
    "SkipReason",
    "SourcePosition",
    "advice_for",
    "dead_letter_of",
    "fetch_one",
    "parse_moment",
    "parse_position",
    "read_letters",
    "replay",
]

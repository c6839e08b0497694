"""`leadsync topics create`'s decisions: copies, the dead-letter topic's size, retention."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from consumer.kafka.topic_setup import (
    HEADERS_ROOM,
    dead_letter_bytes,
    described_sizes,
    plural,
    replication_for,
    retention_ms,
    size_advice,
)


@pytest.mark.parametrize(
    ("brokers", "asked", "copies"),
    [(1, None, 1), (2, None, 2), (3, None, 3), (9, None, 3), (0, None, 1), (1, 2, 2), (5, 1, 1)],
)
def test_three_copies_or_one_per_broker_unless_asked(
    brokers: int, asked: int | None, copies: int
) -> None:
    assert replication_for(brokers, asked) == copies


def test_a_dead_letter_fits_its_record_and_leadsyncs_headers() -> None:
    assert HEADERS_ROOM == 16 * 1024
    assert dead_letter_bytes(1_048_588) == 1_064_972


def test_retention_is_in_milliseconds() -> None:
    assert retention_ms(14) == 1_209_600_000
    assert retention_ms(0.5) == 43_200_000


def answer(*resources: tuple[int, str, list[tuple[str, str | None]]]) -> SimpleNamespace:
    """A DescribeConfigs answer: (error code, message, resource type, name, entries)."""
    return SimpleNamespace(resources=[(code, "", 2, name, list(e)) for code, name, e in resources])


def test_sizes_are_read_where_the_broker_reports_them() -> None:
    answers = [
        answer(
            (0, "a", [("retention.ms", "1"), ("max.message.bytes", "2000000")]),
            (0, "b", [("retention.ms", "1")]),  # not reported: the caller assumes Kafka's default
            (3, "c", [("max.message.bytes", "5")]),  # an error: nothing read
            (0, "d", [("max.message.bytes", None)]),
        )
    ]
    assert described_sizes(answers) == {"a": 2_000_000}


def test_the_setting_is_advised_only_when_it_differs_from_the_topic() -> None:
    assert size_advice("t.dlq", 1_064_972, 1_064_972) is None
    advice = size_advice("t.dlq", 1_064_972, 16_777_216)
    assert advice is not None
    assert "LEADSYNC_DLQ_MAX_MESSAGE_BYTES=1064972" in advice


def test_counts_read_as_english() -> None:
    assert plural(1, "partition") == "1 partition"
    assert plural(12, "partition") == "12 partitions"

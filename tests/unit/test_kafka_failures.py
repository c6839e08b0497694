"""consumer.kafka.failures: every aiokafka exception means one thing for the work at hand."""

from __future__ import annotations

import inspect

import pytest
from aiokafka import errors as ke

from consumer.kafka.failures import TABLE, KafkaFailure, describe, kafka_failure

AIOKAFKA_ERRORS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(ke, inspect.isclass)
        if issubclass(cls, ke.KafkaError) and cls is not ke.KafkaError
    ),
    key=lambda cls: cls.__name__,
)

DECIDED_BY_RETRIABLE = {
    # Not in the table on purpose: aiokafka's own flag says what they are.
    cls
    for cls in AIOKAFKA_ERRORS
    if not any(base in TABLE for base in cls.__mro__)
}


@pytest.mark.parametrize("cls", AIOKAFKA_ERRORS, ids=lambda cls: cls.__name__)
def test_every_aiokafka_error_means_something(cls: type[Exception]) -> None:
    failure = kafka_failure(cls())
    assert isinstance(failure, KafkaFailure)
    if cls in DECIDED_BY_RETRIABLE:
        retriable = getattr(cls, "retriable", False)
        expected = KafkaFailure.TRANSIENT if retriable else KafkaFailure.REFUSED
        assert failure is expected


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (ke.MessageSizeTooLargeError(), KafkaFailure.TOO_LARGE),
        (ke.RecordListTooLargeError(), KafkaFailure.TOO_LARGE),
        (ke.TopicAuthorizationFailedError(), KafkaFailure.REFUSED),
        (ke.UnknownTopicOrPartitionError(), KafkaFailure.TRANSIENT),
        (ke.KafkaConnectionError("refused"), KafkaFailure.TRANSIENT),
        (ke.CommitFailedError(), KafkaFailure.REBALANCED),
        (TimeoutError(), KafkaFailure.TRANSIENT),
        (ConnectionResetError(), KafkaFailure.TRANSIENT),
    ],
)
def test_what_matters_most(exc: BaseException, failure: KafkaFailure) -> None:
    assert kafka_failure(exc) is failure


def test_descriptions_carry_no_error_numbers_or_reprs() -> None:
    assert describe(ke.MessageSizeTooLargeError("The message is 9 bytes")) == (
        "MessageSizeTooLargeError: The message is 9 bytes"
    )
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(ke.KafkaConnectionError("Unable to bootstrap")) == (
        "KafkaConnectionError: Unable to bootstrap"
    )

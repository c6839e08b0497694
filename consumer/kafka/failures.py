"""The one place aiokafka's exceptions are read: what each means for the work at hand.

What matters about a Kafka failure is what to do next, so the table sorts by
that::

    TRANSIENT    the broker or the network, now: the same request may succeed later
    TOO_LARGE    the record is over a size limit: the same bytes never succeed
    REFUSED      the broker refuses this client (authorization, a bad topic, an old
                 protocol): retrying helps only once an operator acted
    REBALANCED   the group moved on (a commit after a rebalance, a partition no
                 longer owned): the next owner takes over

``kafka_failure`` walks an exception's classes, so a subclass aiokafka adds
later still lands somewhere; a class the table does not name falls back on
aiokafka's own ``retriable`` flag. A test fails when an aiokafka error class is
neither in the table nor covered by that rule on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from aiokafka import errors as ke


class KafkaFailure(StrEnum):
    TRANSIENT = "transient"
    TOO_LARGE = "too_large"
    REFUSED = "refused"
    REBALANCED = "rebalanced"


KAFKA_ERRORS: Final = (ke.KafkaError, TimeoutError, OSError)
"""What a call to the broker may raise besides cancellation (``TimeoutError`` covers our
own bounds, ``OSError`` a socket that failed under aiokafka)."""

_T, _L, _R, _B = (
    KafkaFailure.TRANSIENT,
    KafkaFailure.TOO_LARGE,
    KafkaFailure.REFUSED,
    KafkaFailure.REBALANCED,
)

_TABLE: dict[type[BaseException], KafkaFailure] = {
    # Size: the producer checks max_request_size itself; the broker checks
    # max.message.bytes (MessageSizeTooLarge) and the batch (RecordListTooLarge).
    ke.MessageSizeTooLargeError: _L,
    ke.RecordListTooLargeError: _L,
    ke.RecordTooLargeError: _L,
    # The group moved on.
    ke.CommitFailedError: _B,
    ke.IllegalStateError: _B,
    ke.RebalanceInProgressError: _B,
    ke.IllegalGenerationError: _B,
    ke.UnknownMemberIdError: _B,
    # An operator must act.
    ke.TopicAuthorizationFailedError: _R,
    ke.GroupAuthorizationFailedError: _R,
    ke.ClusterAuthorizationFailedError: _R,
    ke.TransactionalIdAuthorizationFailed: _R,
    ke.SaslAuthenticationFailed: _R,
    ke.AuthenticationFailedError: _R,
    ke.AuthenticationMethodNotSupported: _R,
    ke.UnsupportedSaslMechanismError: _R,
    ke.IllegalSaslStateError: _R,
    ke.InvalidTopicError: _R,
    ke.PolicyViolationError: _R,
    ke.UnsupportedVersionError: _R,
    ke.UnsupportedForMessageFormatError: _R,
    ke.IncompatibleBrokerVersion: _R,
    ke.UnrecognizedBrokerVersion: _R,
    ke.KafkaConfigurationError: _R,
    ke.UnsupportedCodecError: _R,
    ke.InvalidRequiredAcksError: _R,
    ke.SecurityDisabled: _R,
    ke.InvalidConfigurationError: _R,
    # Now, not forever: a topic still being created, a leader moving, a broker
    # restarting, our own timeouts, a closed socket.
    ke.UnknownTopicOrPartitionError: _T,
    ke.NotLeaderForPartitionError: _T,
    ke.LeaderNotAvailableError: _T,
    ke.BrokerNotAvailableError: _T,
    ke.ReplicaNotAvailableError: _T,
    ke.NotEnoughReplicasError: _T,
    ke.NotEnoughReplicasAfterAppendError: _T,
    ke.KafkaStorageError: _T,
    ke.RequestTimedOutError: _T,
    ke.KafkaTimeoutError: _T,
    ke.KafkaConnectionError: _T,
    ke.NodeNotReadyError: _T,
    ke.NoBrokersAvailable: _T,
    ke.KafkaUnavailableError: _T,
    ke.CoordinatorNotAvailableError: _T,
    ke.NotCoordinatorError: _T,
    ke.CoordinatorLoadInProgressError: _T,
    ke.ProducerClosed: _T,
    ke.UnknownError: _T,
    TimeoutError: _T,
    OSError: _T,
}

TABLE: Mapping[type[BaseException], KafkaFailure] = MappingProxyType(_TABLE)


def kafka_failure(exc: BaseException) -> KafkaFailure:
    """What ``exc`` (raised by aiokafka, or by our bound around a call) means."""
    for cls in type(exc).__mro__:
        found = _TABLE.get(cls)
        if found is not None:
            return found
    return _T if getattr(exc, "retriable", False) else _R


def describe(exc: BaseException) -> str:
    """``MessageSizeTooLargeError: ...`` without reprs; ``TimeoutError`` names what timed out."""
    text = " ".join(str(exc).split())
    if isinstance(exc, ke.KafkaError) and text.startswith("[Error "):
        # aiokafka's broker errors render as "[Error 10] MessageSizeTooLargeError: ..."
        text = text.partition("] ")[2]
    name = type(exc).__name__
    if not text:
        return name
    return text if text.startswith(name) else f"{name}: {text}"

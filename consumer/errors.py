"""The errors that end the service or a command, and the exit code each one means.

::

    LeadsyncError                   ends `leadsync run` (or a command); never one event
    ├── SettingsError          2    a setting is unusable; names the variable
    │   └── TelemetryConfigError    an OTEL_* variable is unusable
    ├── CredentialsRefused     3    the PBX refused the API key (401/403)
    ├── KafkaUnreachable       4    no Kafka broker answered at start
    ├── InternalErrorLimit     5    a run of events failed inside leadsync (a bug)
    ├── ServiceFailed          1    a part of the service itself stopped (the committer, ...)
    └── DlqError               1    a dead-letter command cannot go on; says why

Exit codes come from the tree (``exit_code``): ``leadsync run`` returns the code of
the error that stopped it, 0 after a clean stop, 128 + n after a second signal.
Anything not in the tree that escapes is a bug: exit 1 with its traceback.

What is *not* here, on purpose: a bad record is never an exception that escapes
(``contracts.events.InvalidEvent``, ``contracts.request.RequestError`` become dead
letters), and neither is a failed call (``consumer.pbx.transport`` maps aiohttp's
exceptions to outcomes) or a Kafka error (``consumer.kafka.failures`` reads each
one as transient, too large, refused or rebalanced).
"""

from __future__ import annotations

from typing import ClassVar, Final

EXIT_OK: Final = 0
EXIT_SECOND_SIGNAL_BASE: Final = 128


class LeadsyncError(Exception):
    """An error that ends the service or a command; ``str()`` is for an operator."""

    exit_code: ClassVar[int] = 1


class SettingsError(LeadsyncError):
    """Start-up configuration is unusable; ``str()`` names every bad variable."""

    exit_code = 2


class TelemetryConfigError(SettingsError):
    """An ``OTEL_*`` variable is unusable."""


class CredentialsRefused(LeadsyncError):
    """The PBX refused our API key (401/403): nothing will succeed until it is fixed."""

    exit_code = 3


class KafkaUnreachable(LeadsyncError):
    """No Kafka broker answered when the service started."""

    exit_code = 4


class InternalErrorLimit(LeadsyncError):
    """Too many events in a row failed inside leadsync: a bug, not bad input."""

    exit_code = 5


class ServiceFailed(LeadsyncError):
    """A part of the service that must run for its whole life stopped (the committer,
    the freeze watch), or an event could be neither applied nor set aside."""


class DlqError(LeadsyncError):
    """A dead-letter operation cannot go on; ``str()`` says why, for an operator."""


EXIT_CRASH: Final = LeadsyncError.exit_code
EXIT_CONFIG: Final = SettingsError.exit_code
EXIT_UNAUTHORIZED: Final = CredentialsRefused.exit_code
EXIT_KAFKA_UNREACHABLE: Final = KafkaUnreachable.exit_code
EXIT_INTERNAL_ERRORS: Final = InternalErrorLimit.exit_code


def exit_code(error: BaseException) -> int:
    """The exit code ``error`` ends the process with (1 for anything outside the tree)."""
    return error.exit_code if isinstance(error, LeadsyncError) else EXIT_CRASH

"""consumer.delivery.internal_errors: one bad event is a dead letter; a run of them stops."""

from __future__ import annotations

import pytest

from consumer.delivery.internal_errors import InternalErrors


def test_only_a_run_without_a_normal_finish_reaches_the_limit() -> None:
    errors = InternalErrors(3)
    assert not errors.failed()
    assert not errors.failed()
    errors.finished()  # an event ended normally: the run starts again
    assert not errors.failed()
    assert not errors.failed()
    assert errors.failed()
    assert errors.total == 5
    message = str(errors.limit_error("ZeroDivisionError: boom"))
    assert "3 events in a row" in message
    assert "LEADSYNC_MAX_CONSECUTIVE_INTERNAL_ERRORS=3" in message
    assert "ZeroDivisionError: boom" in message


def test_the_limit_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InternalErrors(0)

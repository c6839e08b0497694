"""The backoff policy: full jitter, cap, Retry-After, deadline."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.delivery.retry import (
    RetryPolicy,
    backoff,
    backoff_ceiling,
    retry_allowed,
    retry_deadline,
)

POLICY = RetryPolicy(base_s=0.5, cap_s=60.0, deadline_s=900.0)

attempts = st.integers(min_value=1, max_value=10**6)
fractions = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
policies = st.builds(
    lambda base, factor, deadline: RetryPolicy(
        base_s=base, cap_s=base * factor, deadline_s=deadline
    ),
    st.floats(min_value=1e-3, max_value=100.0),
    st.floats(min_value=1.0, max_value=1e4),
    st.floats(min_value=1.0, max_value=1e5),
)
retry_afters = st.floats(min_value=0.0, max_value=1e6)


def test_defaults_match_the_configuration_defaults() -> None:
    assert RetryPolicy() == RetryPolicy(base_s=0.5, cap_s=60.0, deadline_s=900.0)


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [
        (1, 0.5),
        (2, 1.0),
        (3, 2.0),
        (4, 4.0),
        (7, 32.0),
        (8, 60.0),  # 64 capped
        (9, 60.0),
        (1024, 60.0),
        (1025, 60.0),  # 2**1024 would overflow a float
        (10**9, 60.0),
    ],
)
def test_ceiling_doubles_from_base_up_to_cap(attempt: int, ceiling: float) -> None:
    assert backoff_ceiling(POLICY, attempt) == ceiling


@pytest.mark.parametrize(
    ("attempt", "fraction", "retry_after", "expected"),
    [
        (1, 0.0, None, 0.0),
        (1, 0.5, None, 0.25),
        (3, 0.5, None, 1.0),
        (3, 0.999, None, 2.0 * 0.999),
        (20, 0.5, None, 30.0),
        (20, 1.0, None, 60.0),  # a rand() returning 1.0 still stays within the cap
        (20, 7.0, None, 60.0),  # out-of-range rand is clamped, not trusted
        (20, -1.0, None, 0.0),
        (1, 0.5, 5.0, 5.0),  # Retry-After longer than the draw wins exactly
        (20, 0.5, 5.0, 30.0),  # a longer draw still applies: at least Retry-After
        (1, 0.5, 120.0, 120.0),  # Retry-After above the cap is honoured
        (1, 0.5, 0.0, 0.25),
        (1, 0.5, -3.0, 0.25),  # a date already past counts as 0
        (1, 0.5, math.nan, 0.25),  # garbage counts as absent
    ],
)
def test_backoff_table(
    attempt: int, fraction: float, retry_after: float | None, expected: float
) -> None:
    assert backoff(POLICY, attempt, retry_after, lambda: fraction) == pytest.approx(expected)


def test_infinite_retry_after_is_never_allowed() -> None:
    delay = backoff(POLICY, 1, math.inf, lambda: 0.5)
    assert delay == math.inf
    assert not retry_allowed(POLICY, 0.0, 0.0, delay)


def test_default_rand_draws_within_the_range() -> None:
    draws = {backoff(POLICY, 4, None) for _ in range(200)}
    assert all(0.0 <= d <= 4.0 for d in draws)
    assert len(draws) > 100  # really jittered, not a constant


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_count_from_one(attempt: int) -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff(POLICY, attempt, None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_s": 0.0},
        {"base_s": -1.0},
        {"base_s": math.nan},
        {"base_s": 2.0, "cap_s": 1.0},
        {"cap_s": math.inf},
        {"deadline_s": 0.0},
        {"deadline_s": math.nan},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="_s must be"):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    ("first_failed_at", "now", "delay", "allowed"),
    [
        (100.0, 100.0, 0.0, True),
        (100.0, 500.0, 400.0, True),
        (100.0, 500.0, 500.0, True),  # ends exactly at the deadline: still allowed
        (100.0, 500.0, 500.001, False),
        (100.0, 1000.0, 0.0, True),
        (100.0, 1000.1, 0.0, False),  # already past the deadline
        (100.0, 200.0, math.nan, False),
    ],
)
def test_retry_allowed_table(
    first_failed_at: float, now: float, delay: float, allowed: bool
) -> None:
    assert retry_allowed(POLICY, first_failed_at, now, delay) is allowed


def test_deadline_is_first_failure_plus_budget() -> None:
    assert retry_deadline(POLICY, 1000.0) == 1900.0


@given(policies, attempts, fractions)
def test_without_retry_after_delay_lies_within_zero_and_cap(
    policy: RetryPolicy, attempt: int, fraction: float
) -> None:
    delay = backoff(policy, attempt, None, lambda: fraction)
    assert 0.0 <= delay <= backoff_ceiling(policy, attempt) <= policy.cap_s


@given(policies, attempts, fractions, retry_afters)
def test_with_retry_after_delay_is_at_least_it(
    policy: RetryPolicy, attempt: int, fraction: float, retry_after: float
) -> None:
    delay = backoff(policy, attempt, retry_after, lambda: fraction)
    assert delay >= retry_after
    assert delay == max(retry_after, backoff(policy, attempt, None, lambda: fraction))


@given(policies, attempts, fractions)
def test_bounds_are_monotone_in_attempt(policy: RetryPolicy, attempt: int, fraction: float) -> None:
    assert backoff_ceiling(policy, attempt) <= backoff_ceiling(policy, attempt + 1)
    assert backoff(policy, attempt, None, lambda: fraction) <= backoff(
        policy, attempt + 1, None, lambda: fraction
    )


@given(policies, attempts)
def test_ceiling_doubles_until_it_reaches_the_cap(policy: RetryPolicy, attempt: int) -> None:
    ceiling, following = backoff_ceiling(policy, attempt), backoff_ceiling(policy, attempt + 1)
    if ceiling < policy.cap_s:
        assert following == pytest.approx(min(policy.cap_s, 2 * ceiling))
    else:
        assert following == policy.cap_s


@given(
    policies,
    st.floats(min_value=0.0, max_value=1e6),
    st.floats(min_value=0.0, max_value=1e4),
    st.floats(min_value=0.0, max_value=1e4),
)
def test_retry_allowed_iff_the_wait_ends_within_the_deadline(
    policy: RetryPolicy, first_failed_at: float, elapsed: float, delay: float
) -> None:
    now = first_failed_at + elapsed
    allowed = retry_allowed(policy, first_failed_at, now, delay)
    assert allowed == (now + delay <= first_failed_at + policy.deadline_s)
    if allowed:  # a shorter wait, or the same wait sooner, is allowed too
        assert retry_allowed(policy, first_failed_at, now, delay / 2)
        assert retry_allowed(policy, first_failed_at, first_failed_at, delay)

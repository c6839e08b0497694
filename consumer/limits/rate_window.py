"""At most ``n`` admissions in any one-second window: the hard edge of a binding rate limit.

The rate limit's leaky bucket (``consumer/limits/rate_limit.py``) spaces calls
``1/rate`` apart, but an event loop wakes a waiter a little late (epoll rounds
its timeout up to the millisecond, and the woken task still waits its turn),
and a bucket of one token loses every such delay: about 2% of the rate at
20/s on a busy machine. With two tokens the bucket makes up for a late wake-up
at the next admission, but then a window of one second could hold one call
more than the rate. This log holds
the last ``n`` admission times and lets a call in only a full second after the
``n``-th before it, so no half-open one-second window ever holds more than
``n``. Pure: time is passed in.
"""

from __future__ import annotations

from collections import deque

WINDOW_S = 1.0


class SecondWindow:
    """The last ``most`` admissions; ``wait_s`` says how long until one more fits."""

    __slots__ = ("_admitted", "_most")

    def __init__(self, most: int) -> None:
        if isinstance(most, bool) or not isinstance(most, int) or most < 1:
            raise ValueError(f"admissions per second is an integer >= 1, not {most!r}")
        self._most = most
        self._admitted: deque[float] = deque(maxlen=most)

    @property
    def most(self) -> int:
        return self._most

    def wait_s(self, now: float) -> float:
        """Seconds from ``now`` until an admission keeps every window within ``most``."""
        if len(self._admitted) < self._most:
            return 0.0
        return max(0.0, self._admitted[0] + WINDOW_S - now)

    def admit(self, now: float) -> None:
        """Record an admission at ``now`` (call only when ``wait_s(now)`` is 0)."""
        self._admitted.append(now)

    def resize(self, most: int) -> SecondWindow:
        """The same log with a new bound (a new share of the rate)."""
        resized = SecondWindow(most)
        resized._admitted.extend(list(self._admitted)[-most:])
        return resized

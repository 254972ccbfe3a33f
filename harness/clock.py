"""The one source of time for the harness.

Everything that stamps, schedules or waits reads the clock through here, so a
simulated clock can later replace it in one place.
"""

from __future__ import annotations

import time


def now() -> float:
    """Seconds on a monotonic clock; only differences are meaningful."""
    return time.monotonic()


def wall() -> float:
    """Seconds since the epoch, for timestamps written into files and reports."""
    return time.time()


class Deadline:
    """A point in time a wait must not pass.

    >>> d = Deadline(0.5)
    >>> 0 < d.remaining() <= 0.5
    True
    """

    __slots__ = ("at",)

    def __init__(self, timeout: float) -> None:
        self.at = now() + timeout

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - now())

    def expired(self) -> bool:
        return now() >= self.at

"""A channel's bounded, sequence-numbered record of frames, with event-driven waits.

Every frame gets the next sequence number. A :class:`Mark` remembers a sequence
number, so a wait that starts from a mark sees every frame that arrived after it,
even frames that arrived before the wait began: that is what makes
``mark(); send(); wait_for(since=mark)`` race-free.

The history is a ring: old frames are evicted once ``maxlen`` is reached, and
the count of evicted frames is kept. Evicting frames nobody is waiting for is
normal; a wait whose frames were evicted before it examined them raises
:class:`~harness.exceptions.HistoryOverflowError` rather than miss them silently.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from harness import clock
from harness.exceptions import BusError, HistoryOverflowError

if TYPE_CHECKING:
    from harness.canbus.frame import Frame


class Mark(NamedTuple):
    """A point in a channel's traffic: frames with ``seq >= mark.seq`` came after it."""

    seq: int
    timestamp: float


class History:
    """Frames in arrival order, safe to append from the receive thread and wait on from others."""

    def __init__(self, name: str, maxlen: int) -> None:
        self.name = name
        self.maxlen = maxlen
        self._frames: deque[Frame] = deque(maxlen=maxlen)
        self._cond = threading.Condition(threading.Lock())
        self._next_seq = 0
        self._waiting = 0
        self.failure: BaseException | None = None

    def append(self, frame: Frame) -> None:
        with self._cond:
            self._frames.append(frame)
            self._next_seq += 1
            if self._waiting:  # read under the lock waiters register under: no lost wake-up
                self._cond.notify_all()

    @property
    def evicted(self) -> int:
        """Frames dropped from the front of the ring so far."""
        return self._next_seq - len(self._frames)

    def fail(self, error: BaseException) -> None:
        """Record that the receive side died, and wake every waiter so it can say so."""
        with self._cond:
            self.failure = error
            self._cond.notify_all()

    @property
    def count(self) -> int:
        """Frames appended since the channel opened (including evicted ones)."""
        return self._next_seq

    def mark(self) -> Mark:
        with self._cond:
            return Mark(self._next_seq, clock.now())

    def since(self, seq: int) -> list[Frame]:
        """The frames from ``seq`` on that are still kept (no waiting, no overflow check)."""
        with self._cond:
            start = max(seq, self._next_seq - len(self._frames))
            return self._tail(start)

    def wait_new(self, seq: int, timeout: float) -> list[Frame]:
        """Frames from ``seq`` on; blocks up to ``timeout`` seconds when there are none yet.

        Returns an empty list only when the timeout passed with nothing new.
        """
        with self._cond:
            if self._next_seq <= seq and timeout > 0:
                self._waiting += 1
                try:
                    self._cond.wait_for(
                        lambda: self._next_seq > seq or self.failure is not None, timeout
                    )
                finally:
                    self._waiting -= 1
            if self.failure is not None:
                raise BusError(f"channel {self.name!r} stopped receiving: {self.failure}")
            first_kept = self._next_seq - len(self._frames)
            if seq < first_kept:
                raise HistoryOverflowError(
                    f"channel {self.name!r}: {first_kept - seq} frames were evicted from the "
                    f"history (maxlen {self.maxlen}) before they could be examined; "
                    "raise the channel's `history` in the bench file or wait sooner"
                )
            return self._tail(seq)

    def _tail(self, seq: int) -> list[Frame]:
        """Frames from ``seq`` to the newest; negative indexing keeps this cheap near the end."""
        frames = self._frames
        return [frames[i] for i in range(seq - self._next_seq, 0)]

"""A channel's bounded, sequence-numbered record of frames, with event-driven waits.

Every frame gets the next sequence number. A :class:`Mark` remembers a sequence
number, so a wait that starts from a mark sees every frame that arrived after it,
even frames that arrived before the wait began: that is what makes
``mark(); send(); wait_for(since=mark)`` race-free.

A wait is a :class:`Watch`: it names the arbitration IDs whose frames can decide
it (or none, for "any frame"), and only those frames wake it. A wait for one
reply therefore sleeps through a busy bus instead of waking on every frame: each
wake-up is a thread switch both ways, which on a busy bus costs more than the
frames themselves.

The history is a ring: old frames are evicted once ``maxlen`` is reached, and
the count of evicted frames is kept. Evicting frames nobody is waiting for is
normal; a wait whose frames were evicted before it examined them raises
:class:`~harness.exceptions.HistoryOverflowError` rather than miss them silently
(frames a watch does not care about may go unexamined).
"""

from __future__ import annotations

import _thread
import itertools
import threading
from collections import deque
from collections.abc import Collection
from typing import TYPE_CHECKING, NamedTuple, Self

from harness import clock
from harness.exceptions import BusError, HistoryOverflowError

if TYPE_CHECKING:
    from harness.canbus.frame import Frame


_new_gate = _thread.allocate_lock
"""Makes the lock a sleeping wait blocks on (tests wrap it to count wake-ups)."""


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
        self._lock = threading.Lock()
        self._next_seq = 0
        self._watches: list[Watch] = []
        self._watching_any: list[Watch] = []
        self._watching_id: dict[int, list[Watch]] = {}
        self.failure: BaseException | None = None
        self.wakeups = 0
        """Blocked waits woken by a frame so far (for tests and diagnostics)."""

    def append(self, frame: Frame) -> None:
        with self._lock:
            if self._watches:  # read under the lock watches register under: no lost wake-up
                self._offer(frame)
            self._frames.append(frame)
            self._next_seq += 1

    def _offer(self, frame: Frame) -> None:
        """Wake the watches ``frame`` can decide; account for the frame the ring drops."""
        if len(self._frames) == self.maxlen:
            self._evicting(self._frames[0], self._next_seq - self.maxlen)
        for watch in self._watching_id.get(frame.arbitration_id, ()):
            if not watch.pending:
                watch._wake()
        for watch in self._watching_any:
            if not watch.pending:
                watch._wake()

    def _evicting(self, oldest: Frame, seq: int) -> None:
        """A watch still due to examine the oldest frame loses it; if the frame was one it
        cares about, that is an overflow it will report."""
        for watch in self._watches:
            if watch.seq <= seq:
                watch.seq = seq + 1
                if watch.ids is None or oldest.arbitration_id in watch.ids:
                    watch.lost += 1

    @property
    def evicted(self) -> int:
        """Frames dropped from the front of the ring so far."""
        return self._next_seq - len(self._frames)

    def fail(self, error: BaseException) -> None:
        """Record that the receive side died, and wake every waiter so it can say so."""
        with self._lock:
            self.failure = error
            for watch in self._watches:
                watch._release()

    @property
    def count(self) -> int:
        """Frames appended since the channel opened (including evicted ones)."""
        return self._next_seq

    def mark(self) -> Mark:
        with self._lock:
            return Mark(self._next_seq, clock.now())

    def since(self, seq: int) -> list[Frame]:
        """The frames from ``seq`` on that are still kept (no waiting, no overflow check)."""
        with self._lock:
            start = max(seq, self._next_seq - len(self._frames))
            return self._tail(start)

    def watch(self, seq: int, ids: Collection[int] | None = None) -> Watch:
        """Start watching the frames from ``seq`` on; only frames whose arbitration ID is
        in ``ids`` (every frame when None) wake it and are handed to it.

        Use it as a context manager, so it stops being woken when the wait ends.
        """
        return Watch(self, seq, None if ids is None else frozenset(ids))

    def wait_new(self, seq: int, timeout: float) -> list[Frame]:
        """Frames from ``seq`` on; blocks up to ``timeout`` seconds when there are none yet.

        Returns an empty list only when the timeout passed with nothing new.
        """
        with self.watch(seq) as watch:
            return watch.next(timeout)

    def _tail(self, seq: int) -> list[Frame]:
        """Frames from ``seq`` to the newest, walking from the newest end: O(frames taken)."""
        count = self._next_seq - seq
        if count == 1:  # a wait woken by its reply
            return [self._frames[-1]]
        tail = list(itertools.islice(reversed(self._frames), count))
        tail.reverse()
        return tail

    def _register(self, watch: Watch) -> None:
        self._watches.append(watch)
        if watch.ids is None:
            self._watching_any.append(watch)
        else:
            for arbitration_id in watch.ids:
                self._watching_id.setdefault(arbitration_id, []).append(watch)

    def _unregister(self, watch: Watch) -> None:
        if watch not in self._watches:
            return
        self._watches.remove(watch)
        if watch.ids is None:
            self._watching_any.remove(watch)
            return
        for arbitration_id in watch.ids:
            watching = self._watching_id[arbitration_id]
            watching.remove(watch)
            if not watching:
                del self._watching_id[arbitration_id]


class Watch:
    """One wait's view of a history: the frames from a sequence number on that it cares
    about, handed over in batches, each batch as soon as a frame it cares about arrives.

    >>> with history.watch(mark.seq, {0x110}) as watch:    # doctest: +SKIP
    ...     batch = watch.next(timeout=0.5)
    """

    def __init__(self, history: History, seq: int, ids: frozenset[int] | None) -> None:
        self.history = history
        self.ids = ids
        self._gate: _thread.LockType | None = None
        """Held while the waiting thread sleeps on it; released to wake it (a one-shot
        event: what Condition.wait does inside, without its bookkeeping per frame)."""
        with history._lock:
            first_kept = history._next_seq - len(history._frames)
            self.lost = max(0, first_kept - seq)
            self.seq = max(seq, first_kept)
            # frames already there may decide the wait: the first next() hands them over
            self.pending = self.lost > 0 or history._next_seq > self.seq
            history._register(self)

    def _wake(self) -> None:
        """Called with the history's lock held, for a frame this watch cares about."""
        self.pending = True
        if self._gate is not None:
            self.history.wakeups += 1
            self._release()

    def _release(self) -> None:
        """Let the sleeping thread go, if one sleeps (with the history's lock held)."""
        gate = self._gate
        if gate is not None:
            self._gate = None
            gate.release()

    def next(self, timeout: float) -> list[Frame]:
        """The frames it cares about since the last batch; blocks up to ``timeout`` seconds
        while there are none. An empty list means the timeout passed with none."""
        history = self.history
        lock = history._lock
        lock.acquire()
        try:
            if not self.pending and timeout > 0 and history.failure is None:
                gate = self._gate = _new_gate()
                gate.acquire()
                lock.release()
                try:
                    gate.acquire(True, timeout)  # until _wake releases it, or the timeout
                finally:
                    lock.acquire()
                    self._gate = None
            if history.failure is not None:
                raise BusError(f"channel {history.name!r} stopped receiving: {history.failure}")
            if self.lost:
                raise HistoryOverflowError(
                    f"channel {history.name!r}: {self.lost} frames were evicted from the "
                    f"history (maxlen {history.maxlen}) before they could be examined; "
                    "raise the channel's `history` in the bench file or wait sooner"
                )
            if not self.pending:  # nothing it cares about came: skip the rest unexamined
                self.seq = history._next_seq
                return []
            self.pending = False
            frames = history._tail(self.seq)
            self.seq = history._next_seq
        finally:
            lock.release()
        ids = self.ids
        if ids is None:
            return frames
        return [f for f in frames if f.arbitration_id in ids]

    def close(self) -> None:
        """Stop being woken; safe to call twice."""
        with self.history._lock:
            self.history._unregister(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

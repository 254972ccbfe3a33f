"""Run callbacks at future times on one thread, waking exactly when the next one is due."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable

from harness import clock

log = logging.getLogger(__name__)


class Scheduler:
    """A timer thread: ``call_later(0.02, fn)`` runs ``fn`` 20 ms from now.

    One thread serves every pending call, sleeping on a condition until the
    earliest is due or a new one arrives, so delays are event-driven, not polled.
    A callback that raises is logged and does not stop the others.
    """

    def __init__(self, name: str = "scheduler") -> None:
        self._queue: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay: float, callback: Callable[[], object]) -> None:
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._queue, (clock.now() + delay, next(self._order), callback))
            self._cond.notify()

    def cancel_all(self) -> None:
        with self._cond:
            self._queue.clear()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._queue or self._queue[0][0] > clock.now()):
                    timeout = self._queue[0][0] - clock.now() if self._queue else None
                    self._cond.wait(timeout)
                if self._closed:
                    return
                _, _, callback = heapq.heappop(self._queue)
            try:
                callback()
            except Exception:
                log.exception("scheduled callback %r failed", callback)

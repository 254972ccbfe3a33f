"""History: sequence numbers, race-free marks, bounded memory with loud overflow."""

from __future__ import annotations

import threading

import pytest

from harness.canbus.frame import Frame
from harness.canbus.history import History
from harness.exceptions import BusError, HistoryOverflowError


def frame(n: int) -> Frame:
    return Frame(float(n), 0x100 + n, bytes([n % 256]))


def test_frames_appended_after_a_mark_are_seen_even_before_anyone_waits() -> None:
    history = History("c", maxlen=100)
    history.append(frame(1))
    mark = history.mark()
    history.append(frame(2))
    history.append(frame(3))
    assert [f.arbitration_id for f in history.wait_new(mark.seq, timeout=0)] == [0x102, 0x103]
    assert history.count == 3


def test_wait_new_returns_empty_only_after_the_timeout_with_nothing_new() -> None:
    history = History("c", maxlen=100)
    assert history.wait_new(history.mark().seq, timeout=0.01) == []


def test_a_waiting_thread_wakes_when_a_frame_arrives() -> None:
    history = History("c", maxlen=100)
    mark = history.mark()
    got: list[list[Frame]] = []
    waiter = threading.Thread(target=lambda: got.append(history.wait_new(mark.seq, timeout=30)))
    waiter.start()
    history.append(frame(7))
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert [f.arbitration_id for f in got[0]] == [0x107]


def test_overflow_is_counted_and_a_wait_on_evicted_frames_raises() -> None:
    history = History("body", maxlen=4)
    mark = history.mark()
    for n in range(10):
        history.append(frame(n))
    assert history.evicted == 6
    assert [f.arbitration_id for f in history.since(0)] == [0x106, 0x107, 0x108, 0x109]
    with pytest.raises(HistoryOverflowError, match=r"'body': 6 frames were evicted"):
        history.wait_new(mark.seq, timeout=0)


def test_a_failed_receiver_wakes_waiters_with_a_bus_error() -> None:
    history = History("body", maxlen=4)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            history.wait_new(history.mark().seq, timeout=30)
        except BusError as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    history.fail(OSError("adapter unplugged"))
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert "adapter unplugged" in str(errors[0])

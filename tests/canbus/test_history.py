"""History: sequence numbers, race-free marks, bounded memory with loud overflow."""

from __future__ import annotations

import threading

import pytest

from harness.canbus import history as history_module
from harness.canbus.expect import TrafficView
from harness.canbus.frame import Frame
from harness.canbus.history import History, Mark
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


# -- waits woken only by the frames that can decide them ---------------------------------

A, B = 0x110, 0x120


def framed(arbitration_id: int, n: int = 0) -> Frame:
    return Frame(float(n), arbitration_id, bytes([n % 256]))


class Gates:
    """Wraps the lock a sleeping wait blocks on: says when a wait is asleep, counts wake-ups."""

    def __init__(self) -> None:
        self.asleep = threading.Event()
        self.woken = 0

    def __call__(self) -> _CountingGate:
        return _CountingGate(self)


class _CountingGate:
    def __init__(self, gates: Gates) -> None:
        self.gates = gates
        self.lock = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if timeout < 0:  # taken by the waiting thread before it sleeps
            return self.lock.acquire(blocking)
        self.gates.asleep.set()
        got = self.lock.acquire(blocking, timeout)
        self.gates.woken += got
        return got

    def release(self) -> None:
        self.lock.release()


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Gates:
    gates = Gates()
    monkeypatch.setattr(history_module, "_new_gate", gates)
    return gates


def test_a_wait_for_one_id_sleeps_through_other_traffic_and_wakes_on_its_frame(
    gates: Gates,
) -> None:
    history = History("c", maxlen=10_000)
    mark = history.mark()
    got: list[list[Frame]] = []

    def wait() -> None:
        with history.watch(mark.seq, {A}) as watch:
            got.append(watch.next(timeout=30))

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert gates.asleep.wait(30)
    for n in range(1000):
        history.append(framed(B, n))
    assert history.wakeups == 0  # counted as each frame is appended, so no race here
    history.append(framed(A, 7))
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert [(f.arbitration_id, f.data) for f in got[0]] == [(A, b"\x07")]  # B frames skipped
    assert gates.woken == 1
    assert history.wakeups == 1


def test_a_frame_wakes_only_the_watches_that_care_about_it() -> None:
    history = History("c", maxlen=100)
    for_a = history.watch(history.mark().seq, {A})
    for_any = history.watch(history.mark().seq)
    history.append(framed(B))
    assert (for_a.pending, for_any.pending) == (False, True)
    history.append(framed(A))
    assert (for_a.pending, for_any.pending) == (True, True)
    assert [f.arbitration_id for f in for_a.next(timeout=0)] == [A]
    assert [f.arbitration_id for f in for_any.next(timeout=0)] == [B, A]
    for_a.close()
    for_any.close()
    for_a.close()  # twice is fine
    history.append(framed(A))
    assert not for_a.pending


def test_a_reply_that_arrived_between_mark_and_watch_is_handed_over_at_once() -> None:
    history = History("c", maxlen=100)
    mark = history.mark()
    history.append(framed(B, 1))
    history.append(framed(A, 2))  # the reply is in before the wait starts
    with history.watch(mark.seq, {A}) as watch:
        assert [f.data for f in watch.next(timeout=30)] == [b"\x02"]
        assert watch.next(timeout=0) == []
    assert history.wakeups == 0  # never slept


def test_a_wait_over_any_frame_still_gets_every_frame(tester_view: TrafficView) -> None:
    view = tester_view
    since = view.mark()
    for n in range(5):
        view.history.append(framed(B + n, n))
    got = view.wait_for(None, where=lambda f: f.arbitration_id == B + 3, since=since, timeout=0)
    assert got.arbitration_id == B + 3


def test_a_mark_send_wait_race_cannot_miss_a_reply_in_a_flood() -> None:
    """The reply lands while other frames stream in, before, during or after the wait
    registers: every ordering ends with the reply returned."""
    history = History("c", maxlen=10_000)
    view = TrafficView("c", None, history)

    def wait(since: Mark, results: list[Frame]) -> None:
        results.append(view.wait_for(A, since=since, timeout=30))

    for _ in range(20):
        results: list[Frame] = []
        waiter = threading.Thread(target=wait, args=(view.mark(), results))
        waiter.start()
        for n in range(50):
            history.append(framed(B, n))
        history.append(framed(A, 99))
        for n in range(50):
            history.append(framed(B, n))
        waiter.join(timeout=30)
        assert not waiter.is_alive()
        assert results[0].data == bytes([99])


def test_other_frames_evicted_unexamined_are_no_overflow() -> None:
    history = History("body", maxlen=4)
    with history.watch(history.mark().seq, {A}) as watch:
        for n in range(10):
            history.append(framed(B, n))
        assert watch.next(timeout=0) == []
        history.append(framed(A))
        assert [f.arbitration_id for f in watch.next(timeout=0)] == [A]


def test_a_frame_a_watch_cares_about_evicted_unexamined_still_raises() -> None:
    history = History("body", maxlen=4)
    with history.watch(history.mark().seq, {A}) as watch:
        history.append(framed(A))
        for n in range(4):
            history.append(framed(B, n))  # the A frame falls out of the ring
        with pytest.raises(HistoryOverflowError, match=r"'body': 1 frames were evicted"):
            watch.next(timeout=0)


def test_a_wait_on_one_id_raises_on_overflow() -> None:
    history = History("body", maxlen=4)
    view = TrafficView("body", None, history)
    since = view.mark()
    history.append(framed(A))
    for n in range(6):
        history.append(framed(B, n))
    with pytest.raises(HistoryOverflowError):
        view.wait_for(A, since=since, timeout=0)


def test_a_failed_receiver_wakes_a_wait_for_one_id(gates: Gates) -> None:
    history = History("body", maxlen=4)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            with history.watch(history.mark().seq, {A}) as watch:
                watch.next(timeout=30)
        except BusError as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert gates.asleep.wait(30)
    history.append(framed(B))
    history.fail(OSError("adapter unplugged"))
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert "adapter unplugged" in str(errors[0])


@pytest.fixture
def tester_view() -> TrafficView:
    return TrafficView("c", None, History("c", maxlen=100))

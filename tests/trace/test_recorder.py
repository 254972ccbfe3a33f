"""Per-test trace recording: every frame sent and received, written while it happens,
readable after a clean close and after the process was killed halfway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.canbus.channel import Channel
from harness.exceptions import TraceError
from harness.trace.reader import read_trace
from harness.trace.recorder import TraceRecorder

ROOT = Path(__file__).resolve().parents[2]


def exchange(tester: Channel, ecu: Channel, count: int) -> None:
    """``count`` requests from the tester, each seen by the ECU (a barrier per frame)."""
    for n in range(count):
        since = ecu.mark()
        tester.send("Req", Unlock=n % 2)
        ecu.wait_for("Req", since=since, timeout=5)


def trace_of(channel: Channel) -> Path | None:
    """Where the channel records now (read afresh: an earlier assert does not fix it)."""
    return channel.trace_path


@pytest.mark.parametrize("suffix", ["blf", "asc"])
def test_sent_and_received_frames_are_written_in_order(
    tester: Channel, ecu: Channel, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"t.{suffix}"
    with TraceRecorder(ecu, path) as recorder:
        assert trace_of(ecu) == path
        exchange(tester, ecu, 3)
        since = tester.mark()
        ecu.send("Status", Locked="UNLOCKED")
        tester.wait_for("Status", since=since, timeout=5)
    assert trace_of(ecu) is None
    assert recorder.frames == 4
    messages = list(read_trace(path))
    assert [(m.arbitration_id, m.is_rx) for m in messages] == [
        (messages[0].arbitration_id, True)
    ] * 3 + [(messages[3].arbitration_id, False)]
    assert bytes(messages[0].data) == bytes(tester.history.since(0)[0].data)
    stamps = [m.timestamp for m in messages]
    assert stamps == sorted(stamps)


def test_blf_timestamps_are_wall_clock(tester: Channel, ecu: Channel, tmp_path: Path) -> None:
    import time

    path = tmp_path / "t.blf"
    with TraceRecorder(ecu, path):
        exchange(tester, ecu, 1)
    (message,) = read_trace(path)
    assert abs(message.timestamp - time.time()) < 60


def test_frames_from_several_threads_all_arrive(
    tester: Channel, ecu: Channel, tmp_path: Path
) -> None:
    path = tmp_path / "t.blf"
    with TraceRecorder(tester, path) as recorder:
        threads = [
            threading.Thread(target=lambda: [tester.send_raw(0x123, b"\x01") for _ in range(200)])
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert recorder.frames == 800
    assert sum(1 for _ in read_trace(path)) == 800


def test_closing_twice_and_recording_after_close(
    tester: Channel, ecu: Channel, tmp_path: Path
) -> None:
    recorder = TraceRecorder(ecu, tmp_path / "t.blf")
    recorder.close()
    recorder.close()
    exchange(tester, ecu, 1)
    assert recorder.frames == 0
    assert recorder.closed


def test_an_unknown_format_is_refused(ecu: Channel, tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"t\.trc: cannot record to \.trc; formats: blf, asc"):
        TraceRecorder(ecu, tmp_path / "t.trc")
    assert ecu.trace_path is None


def test_a_trace_that_cannot_be_created_names_the_file(ecu: Channel, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(TraceError, match=r"file/t\.blf: cannot create trace file"):
        TraceRecorder(ecu, tmp_path / "file" / "t.blf")


def test_a_write_error_is_reported_at_close(tester: Channel, ecu: Channel, tmp_path: Path) -> None:
    recorder = TraceRecorder(ecu, tmp_path / "t.blf")

    def broken(message: object) -> None:
        raise OSError(28, "No space left on device")

    recorder._writer.on_message_received = broken
    exchange(tester, ecu, 2)  # the receive thread is not disturbed
    with pytest.raises(TraceError, match="recording channel 'ecu' failed after 0 frames: .*space"):
        recorder.close()


KILLED = """
import os, sys, can
from pathlib import Path
from harness.canbus.channel import Channel
from harness.trace.recorder import TraceRecorder
channel = Channel("body", can.Bus(interface="virtual", channel="killed"))
recorder = TraceRecorder(channel, Path(sys.argv[1]))
for n in range(int(sys.argv[2])):
    channel.send_raw(0x100 + n % 16, n.to_bytes(4, "big") + bytes(4))
os._exit(0)  # no close, no flush, no atexit: as if the process were killed
"""


@pytest.mark.parametrize("suffix", ["blf", "asc"])
def test_a_killed_process_leaves_a_readable_trace(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"killed.{suffix}"
    subprocess.run(
        [sys.executable, "-c", KILLED, str(path), "2000"], check=True, cwd=ROOT, timeout=60
    )
    messages = list(read_trace(path))  # no TraceError: the file ends between objects
    assert len(messages) > 1000  # full containers (BLF) and buffers (ASC) were written
    for n, message in enumerate(messages):
        assert int.from_bytes(message.data[:4], "big") == n
    assert os.path.getsize(path) > 0


SIGKILLED = """
import sys, threading, can
from pathlib import Path
from harness.canbus.channel import Channel
from harness.trace.recorder import TraceRecorder
window = None if sys.argv[3] == "none" else float(sys.argv[3])
channel = Channel("body", can.Bus(interface="virtual", channel="sigkilled"))
recorder = TraceRecorder(channel, Path(sys.argv[1]), flush_window=window)
for n in range(int(sys.argv[2])):
    channel.send_raw(0x100 + n % 16, n.to_bytes(4, "big") + bytes(4))
if window is not None:
    assert recorder.wait_written(timeout=30)
print("sent", flush=True)
threading.Event().wait()  # a test that goes on until it is killed
"""


def run_until_killed(path: Path, frames: int, window: str) -> None:
    """A recording process that sends ``frames`` (fewer than a BLF container holds) and
    is then killed with SIGKILL: no close, no flush, no handler runs."""
    with subprocess.Popen(
        [sys.executable, "-c", SIGKILLED, str(path), str(frames), window],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "sent\n"
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL


@pytest.mark.parametrize("suffix", ["blf", "asc"])
def test_a_sigkill_loses_only_the_flush_window(tmp_path: Path, suffix: str) -> None:
    """With the flush window the traffic reaches the file while the test still runs; without
    it, 50 frames sit in the buffer for a container that never fills and die with the
    process (what the running test's BLF held before: 0 frames)."""
    kept = tmp_path / f"kept.{suffix}"
    run_until_killed(kept, 50, "0.5")
    messages = list(read_trace(kept))
    assert [int.from_bytes(m.data[:4], "big") for m in messages] == list(range(50))
    lost = tmp_path / f"lost.{suffix}"
    run_until_killed(lost, 50, "none")
    if suffix == "blf":
        assert list(read_trace(lost)) == []  # the file header only
    else:
        assert lost.stat().st_size == 0  # even the header sat in the buffer


def test_the_flush_window_writes_a_short_container_and_the_close_the_rest(
    tester: Channel, ecu: Channel, tmp_path: Path
) -> None:
    path = tmp_path / "t.blf"
    with TraceRecorder(ecu, path, flush_window=0.05) as recorder:
        exchange(tester, ecu, 3)
        assert recorder.wait_written(timeout=30)
        assert len(list(read_trace(path))) == 3  # readable while the recorder is open
        exchange(tester, ecu, 2)
    assert recorder.wait_written(timeout=0)  # closed: nothing pending
    assert len(list(read_trace(path))) == 5


def test_a_flush_window_must_be_positive(ecu: Channel, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flush_window must be positive"):
        TraceRecorder(ecu, tmp_path / "t.blf", flush_window=0)
    assert ecu.trace_path is None

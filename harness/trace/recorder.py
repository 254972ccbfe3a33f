"""Recording a channel's traffic to a trace file while it happens (BLF or ASC).

A :class:`TraceRecorder` taps a :class:`~harness.canbus.channel.Channel` (every
frame, sent and received, in history order) and hands each one to python-can's
writer at once, so the file grows during the test instead of being dumped at
the end. BLF is written in small compressed containers straight to the file
(no user-space buffer), ASC through a buffered text file; :meth:`TraceRecorder.close`
writes the last container and the final header.

What a SIGKILL can take with it is bounded in time: a frame waits in the process at
most :data:`FLUSH_WINDOW` (0.5 s) before a flusher thread writes out what is pending
(a short BLF container, the ASC buffer), so a quiet bus does not keep a test's traffic
in memory until a container fills. A recorder that is never closed still leaves a
file that :func:`harness.trace.reader.read_trace` reads up to the last write; the
cost of the window is measured in ``benchmarks/recorder.py``.

>>> with TraceRecorder(channel, Path("results/test_doors.body.blf")) as rec:  # doctest: +SKIP
...     channel.send("BCM_Request", DoorUnlock=1)
>>> rec.frames                                                              # doctest: +SKIP
1
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import can

from harness import clock
from harness.closing import Closing
from harness.exceptions import TraceError

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.canbus.frame import Frame

TRACE_FORMATS = ("blf", "asc")
"""Formats a recorder writes, by suffix (without the dot)."""

BLF_CONTAINER_BYTES = 16 * 1024
"""Uncompressed bytes per BLF container (about 340 classic frames); a full one is
written at once. python-can's default is 128 KiB."""
FLUSH_WINDOW = 0.5
"""Seconds a recorded frame may wait in the process before it is written out: the
recent traffic a killed process can lose. ``None`` writes only full containers."""


def frame_to_message(frame: Frame, wall_offset: float = 0.0) -> can.Message:
    """A recorded frame as a python-can message; ``wall_offset`` turns the harness's
    monotonic timestamps into seconds since the epoch (what trace headers expect)."""
    return can.Message(
        timestamp=frame.timestamp + wall_offset,
        arbitration_id=frame.arbitration_id,
        is_extended_id=frame.is_extended_id,
        is_remote_frame=frame.is_remote,
        is_error_frame=frame.is_error,
        is_fd=frame.is_fd,
        bitrate_switch=frame.is_fd,
        is_rx=frame.is_rx,
        dlc=len(frame.data),
        data=frame.data,
        check=False,
    )


class _BLFWriter(can.BLFWriter):
    """python-can's BLF writer, with containers that end between objects, and
    :meth:`write_out` for the flush window.

    python-can cuts its buffer at exactly ``max_container_size`` bytes and carries
    the rest of a split object into the next container, so a file whose writer
    never got to that next container ends inside an object and cannot be read.
    Here each container takes the whole buffer (python-can starts a container
    once the buffer reaches the size, so it holds whole objects only).
    """

    def _flush(self) -> None:
        limit = self.max_container_size
        self.max_container_size = max(limit, self._buffer_size)
        try:
            super()._flush()
        finally:
            self.max_container_size = limit

    @property
    def pending(self) -> bool:
        """Whether frames wait in the buffer for their container."""
        return self._buffer_size > 0

    def write_out(self) -> None:
        """What is buffered, as a (short) container, to the OS (the file is unbuffered)."""
        self._flush()


class _ASCWriter(can.ASCWriter):
    """python-can's ASC writer on a buffered file, with :meth:`write_out`."""

    pending = True
    """Whether lines may wait in the file's buffer (a text file does not say)."""

    def write_out(self) -> None:
        self.file.flush()


def open_writer(path: Path) -> _BLFWriter | _ASCWriter:
    """python-can's writer for ``path``'s suffix, on a file opened for writing at once.

    BLF goes to an unbuffered binary file (each container reaches the OS when it
    is written), ASC to a buffered text file (written out by the flush window).
    TraceError when the suffix is not one of :data:`TRACE_FORMATS` or the file
    cannot be created.
    """
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in TRACE_FORMATS:
        raise TraceError(f"{path}: cannot record to .{suffix}; formats: {', '.join(TRACE_FORMATS)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == "blf":
            raw = path.open("w+b", buffering=0)
            try:
                return _BLFWriter(raw, max_container_size=BLF_CONTAINER_BYTES)
            except BaseException:
                raw.close()
                raise
        text = path.open("w", encoding="utf-8")
        try:
            return _ASCWriter(text)
        except BaseException:
            text.close()
            raise
    except OSError as exc:
        raise TraceError(f"{path}: cannot create trace file: {exc}") from exc


class TraceRecorder(Closing):
    """Writes every frame of one channel to one trace file until closed.

    Taps may be called from several threads at once (the receive thread, the
    test, periodic senders); a lock keeps the writer's state whole. A frame that
    cannot be written stops the recording (the error is kept in ``error`` and
    reported by :meth:`close`) rather than raising into the channel's threads.
    With a ``flush_window`` (seconds; :data:`FLUSH_WINDOW` by default), a thread
    writes out what has waited that long; it sleeps on the lock's condition
    until a frame is pending, then until its deadline.
    """

    def __init__(
        self, channel: Channel, path: Path, *, flush_window: float | None = FLUSH_WINDOW
    ) -> None:
        if flush_window is not None and flush_window <= 0:
            raise ValueError(f"flush_window must be positive seconds, got {flush_window!r}")
        self.channel = channel
        self.path = path
        self.frames = 0
        self.flush_window = flush_window
        self.error: Exception | None = None
        self._lock = threading.Condition()
        self._pending_since: float | None = None
        """When the oldest frame not yet written out arrived (clock.now())."""
        self._offset = clock.wall() - clock.now()
        self._writer: Any = open_writer(path)
        self._flusher: threading.Thread | None = None
        if flush_window is not None:
            self._flusher = threading.Thread(
                target=self._flush_when_due,
                args=(flush_window,),
                name=f"trace-flush-{channel.name}",
                daemon=True,
            )
            self._flusher.start()
        self._previous_trace = channel.trace_path
        channel.trace_path = path
        channel.tap(self._on_frame)

    @property
    def closed(self) -> bool:
        return self._writer is None

    def _on_frame(self, frame: Frame) -> None:
        with self._lock:
            writer = self._writer
            if writer is None or self.error is not None:
                return
            try:
                writer.on_message_received(frame_to_message(frame, self._offset))
            except Exception as exc:  # noqa: BLE001 - a full disk must not kill the receive thread
                self.error = exc
                return
            self.frames += 1
            if not writer.pending:  # a full container went out with this frame
                self._pending_since = None
            elif self._pending_since is None:
                self._pending_since = clock.now()
                self._lock.notify_all()

    def _flush_when_due(self, window: float) -> None:
        """The flusher thread: write out whatever has waited ``window`` seconds."""
        with self._lock:
            while self._writer is not None and self.error is None:
                if self._pending_since is None:
                    self._lock.wait()
                    continue
                left = self._pending_since + window - clock.now()
                if left > 0:
                    self._lock.wait(left)
                    continue
                try:
                    self._writer.write_out()
                except Exception as exc:  # noqa: BLE001 - reported by close(), with the file
                    self.error = exc
                self._pending_since = None
                self._lock.notify_all()

    def wait_written(self, timeout: float) -> bool:
        """Block until every frame recorded so far has been written out to the OS (by the
        flush window, a full container or closing); False on timeout."""
        with self._lock:
            return self._lock.wait_for(
                lambda: self._pending_since is None or self._writer is None, timeout
            )

    def close(self) -> Path:
        """Stop recording, write what is buffered and the file header, and close the file.

        Safe to call twice. TraceError if writing failed at any point; the file is
        closed either way.
        """
        self.channel.untap(self._on_frame)
        if self.channel.trace_path == self.path:
            self.channel.trace_path = self._previous_trace
        with self._lock:
            writer, self._writer = self._writer, None
            self._lock.notify_all()  # the flusher ends
            if writer is not None:
                try:
                    writer.stop()
                except Exception as exc:  # noqa: BLE001 - reported below, with the file
                    self.error = self.error or exc
                    file = getattr(writer, "file", None)
                    if file is not None:
                        file.close()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join()
        if self.error is not None:
            raise TraceError(
                f"{self.path}: recording channel {self.channel.name!r} failed after "
                f"{self.frames} frames: {self.error}"
            ) from self.error
        return self.path

    def __repr__(self) -> str:
        state = "closed" if self.closed else "recording"
        return f"<TraceRecorder {self.channel.name!r} -> {self.path} ({state}, {self.frames})>"

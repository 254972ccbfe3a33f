"""Recording a channel's traffic to a trace file while it happens (BLF or ASC).

A :class:`TraceRecorder` taps a :class:`~harness.canbus.channel.Channel` (every
frame, sent and received, in history order) and hands each one to python-can's
writer at once, so the file grows during the test instead of being dumped at
the end. BLF is written in small compressed containers straight to the file
(no user-space buffer), ASC line by line; :meth:`TraceRecorder.close` writes the
last container and the final header. A recorder that is never closed (the
process was killed) still leaves a file that :func:`harness.trace.reader.read_trace`
reads up to the last container written.

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
"""Uncompressed bytes per BLF container: what a killed process can lose at most
(about 340 classic frames). python-can's default is 128 KiB."""


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
    """python-can's BLF writer, with containers that end between objects.

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


def open_writer(path: Path) -> can.io.generic.MessageWriter:
    """python-can's writer for ``path``'s suffix, on a file opened for writing at once.

    BLF goes to an unbuffered binary file (each container reaches the OS when it
    is written), ASC to a line-buffered text file. TraceError when the suffix is
    not one of :data:`TRACE_FORMATS` or the file cannot be created.
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
        text = path.open("w", encoding="utf-8", buffering=1)
        try:
            return can.ASCWriter(text)
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
    """

    def __init__(self, channel: Channel, path: Path) -> None:
        self.channel = channel
        self.path = path
        self.frames = 0
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._offset = clock.wall() - clock.now()
        self._writer: Any = open_writer(path)
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
            else:
                self.frames += 1

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
            if writer is not None:
                try:
                    writer.stop()
                except Exception as exc:  # noqa: BLE001 - reported below, with the file
                    self.error = self.error or exc
                    file = getattr(writer, "file", None)
                    if file is not None:
                        file.close()
        if self.error is not None:
            raise TraceError(
                f"{self.path}: recording channel {self.channel.name!r} failed after "
                f"{self.frames} frames: {self.error}"
            ) from self.error
        return self.path

    def __repr__(self) -> str:
        state = "closed" if self.closed else "recording"
        return f"<TraceRecorder {self.channel.name!r} -> {self.path} ({state}, {self.frames})>"

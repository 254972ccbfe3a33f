"""The serial traffic of a bench: every chunk each device sent or received, with its time.

One :class:`SerialLog` is shared by all the devices of a bench, so a test's log
shows the console, the modem and the power supply interleaved in the order
things happened. Entries are numbered like CAN frames, so ``mark()`` and
``since(mark)`` give exactly one test's traffic; the log is bounded and counts
what it had to drop.

>>> log = SerialLog()
>>> start = log.mark()
>>> log.record("modem", "tx", b"AT+CSQ\\r")
>>> [entry.direction for entry in log.since(start)]
['tx']
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from harness import clock

DEFAULT_LOG_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One chunk of traffic: ``direction`` is ``"tx"`` (harness to device) or ``"rx"``;
    ``"--"`` marks an event on the port (opened, closed, failed)."""

    seq: int
    timestamp: float
    wall: float
    device: str
    direction: str
    data: bytes

    def describe(self, since: float | None = None) -> str:
        """``+0.012345 modem     rx 'OK\\r\\n'`` (time relative to ``since`` if given)."""
        stamp = f"+{self.timestamp - since:.6f}" if since is not None else f"{self.wall:.6f}"
        text = self.data.decode("ascii", "backslashreplace")
        shown = text if self.direction == "--" else repr(text)[1:-1]
        return f"{stamp} {self.device:<10} {self.direction} {shown}"


class SerialLog:
    """A bounded, thread-safe record of serial traffic."""

    def __init__(self, maxlen: int = DEFAULT_LOG_ENTRIES) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._next = 0
        self.maxlen = maxlen
        self.dropped = 0

    def record(self, device: str, direction: str, data: bytes) -> None:
        """Add one chunk; called from reader threads and from senders."""
        with self._lock:
            if len(self._entries) == self.maxlen:
                self.dropped += 1
            self._entries.append(
                LogEntry(self._next, clock.now(), clock.wall(), device, direction, bytes(data))
            )
            self._next += 1

    def event(self, device: str, text: str) -> None:
        """Note something that happened to a port (opened, disappeared...)."""
        self.record(device, "--", text.encode("ascii", "backslashreplace"))

    def mark(self) -> int:
        """The sequence number the next entry gets."""
        with self._lock:
            return self._next

    def since(self, mark: int = 0, device: str | None = None) -> list[LogEntry]:
        """Entries from ``mark`` on (those still kept), optionally of one device."""
        with self._lock:
            first = self._next - len(self._entries)
            entries = list(self._entries)[max(0, mark - first) :]
        return [e for e in entries if device is None or e.device == device]

    def lost_since(self, mark: int) -> int:
        """How many entries from ``mark`` on were dropped because the log was full."""
        with self._lock:
            return max(0, (self._next - len(self._entries)) - mark)

    def format(self, mark: int = 0, *, limit: int | None = None) -> str:
        """The entries since ``mark`` as text, one line each, times relative to the first.

        With ``limit``, only the last ``limit`` lines (and a note of how many were left out).
        """
        entries = self.since(mark)
        lines = []
        lost = self.lost_since(mark)
        if lost:
            lines.append(f"({lost} older entries were dropped: the log keeps {self.maxlen})")
        start = entries[0].timestamp if entries else None
        shown = entries if limit is None else entries[-limit:]
        if len(shown) < len(entries):
            lines.append(f"(the last {len(shown)} of {len(entries)} entries)")
        lines.extend(entry.describe(start) for entry in shown)
        return "\n".join(lines)

    def write(self, path: Path, mark: int = 0, *, title: str = "") -> Path:
        """Write the entries since ``mark`` to ``path`` (wall-clock time of the first entry
        in the header, relative times on each line)."""
        entries = self.since(mark)
        head = [f"# serial log{': ' + title if title else ''}"]
        if entries:
            head.append(f"# t0 = {entries[0].wall:.6f} (seconds since the epoch)")
        head.append("# time-since-t0 device direction data (tx: to the device, rx: from it)")
        path.parent.mkdir(parents=True, exist_ok=True)
        body = self.format(mark)
        path.write_text("\n".join(head) + "\n" + body + ("\n" if body else ""), encoding="utf-8")
        return path

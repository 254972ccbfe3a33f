"""A serial port with a reader thread: pyserial in, decoded text out to a receiver.

:class:`SerialPort` opens anything ``serial.serial_for_url`` opens (``/dev/ttyUSB0``,
``COM3``, a pseudo-terminal path, ``socket://``, ``rfc2217://``, ``loop://``). One
thread per port reads whatever arrives, logs it (:class:`~harness.devices.log.SerialLog`)
and hands the decoded text to a :class:`Receiver` at once, so waits are woken by the
data itself. A port that disappears (USB adapter unplugged, simulation closed, socket
dropped) fails the receiver, and every wait on it raises :class:`DeviceError` at once.

:class:`ReceiveBuffer` is the receiver the console uses: received text with absolute
positions, a cursor for what ``expect`` consumed, and ``wait(check, timeout)``
that re-runs ``check`` whenever new text arrives.
"""

from __future__ import annotations

import codecs
import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import serial

try:
    import termios
except ImportError:  # Windows
    termios = None  # type: ignore[assignment]

from harness import clock
from harness.devices.log import SerialLog
from harness.exceptions import DeviceError, DeviceTimeoutError

if TYPE_CHECKING:
    from harness.devices.config import SerialDeviceConfig

T = TypeVar("T")

READ_TICK = 0.1
"""Seconds one read may block. Data wakes the reader at once; the tick only bounds how
long closing a port whose transport cannot cancel a read (``socket://``) takes."""
JOIN_TIMEOUT = 2.0
BUFFER_CHARS = 256 * 1024
"""Characters a ReceiveBuffer keeps (consumed or not) for matching and evidence."""
EVIDENCE_CHARS = 600
"""How much of the received text a failed wait shows."""


PORT_ERRORS: tuple[type[Exception], ...] = (serial.SerialException, OSError, ValueError, TypeError)
"""What pyserial raises on a dead port: its own errors, OSError, termios.error (not an
OSError) from tcdrain, and ValueError/TypeError from its socket handler on a closed socket."""
if termios is not None:
    PORT_ERRORS += (termios.error,)


class Receiver(Protocol):
    """What a port feeds: decoded text as it arrives, and the error that ended reading."""

    def feed(self, text: str) -> None: ...
    def fail(self, error: DeviceError) -> None: ...


class SerialPort:
    """An open pyserial port, its reader thread and its traffic log.

    Thread-safe for writing from several threads. ``describe`` names it in errors:
    ``"modem (/dev/pts/4)"``.
    """

    def __init__(
        self,
        name: str,
        port: serial.SerialBase,
        receiver: Receiver,
        *,
        log: SerialLog | None = None,
        encoding: str = "utf-8",
    ) -> None:
        self.name = name
        self.serial = port
        self.url: str = str(port.port)
        self.log = log if log is not None else SerialLog()
        self.receiver = receiver
        self.failure: DeviceError | None = None
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._encoding = encoding
        self._write_lock = threading.Lock()
        self._closing = threading.Event()
        self._closed = False
        self.log.event(name, f"opened {self.url}")
        self._thread = threading.Thread(target=self._read_loop, name=f"serial {name}", daemon=True)
        self._thread.start()

    @classmethod
    def open(
        cls, config: SerialDeviceConfig, receiver: Receiver, log: SerialLog | None = None
    ) -> SerialPort:
        """Open the device a ``[serial.NAME]`` table describes; failure is a DeviceError."""
        if config.url is None:
            raise DeviceError(f"serial device {config.name!r} has no port or URL to open")
        port = open_serial(config.name, config.url, config.write_timeout, config.serial_kwargs())
        try:
            return cls(config.name, port, receiver, log=log, encoding=config.encoding)
        except BaseException:
            port.close()
            raise

    @property
    def describe(self) -> str:
        return f"{self.name} ({self.url})"

    def write(self, data: bytes | str) -> None:
        """Send bytes (text is encoded); a dead port or a failed write is a DeviceError."""
        raw = data.encode(self._encoding) if isinstance(data, str) else bytes(data)
        with self._write_lock:
            if self._closed:
                raise DeviceError(f"{self.describe}: port is closed")
            if self.failure is not None:
                raise DeviceError(f"{self.describe}: cannot write, {self.failure}")
            self.log.record(self.name, "tx", raw)
            try:
                self.serial.write(raw)
                self.serial.flush()
            except serial.SerialTimeoutException as exc:
                raise DeviceTimeoutError(
                    f"{self.describe}: write of {raw!r} timed out: the device does not take data"
                ) from exc
            except PORT_ERRORS as exc:
                raise DeviceError(f"{self.describe}: write failed: {exc}") from exc

    def _read_loop(self) -> None:
        port = self.serial
        try:
            while not self._closing.is_set():
                waiting = port.in_waiting
                data = port.read(waiting or 1)
                if data:
                    self.log.record(self.name, "rx", data)
                    text = self._decoder.decode(data)
                    if text:
                        self.receiver.feed(text)
        except Exception as exc:  # noqa: BLE001 - pyserial raises SerialException, OSError, TypeError...
            if self._closing.is_set():
                return
            error = DeviceError(f"{self.describe}: port disappeared while reading: {exc}")
            error.__cause__ = exc
            self.failure = error
            self.log.event(self.name, f"failed: {exc}")
            self.receiver.fail(error)

    def close(self) -> None:
        """Stop the reader and close the port. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        cancel = getattr(self.serial, "cancel_read", None)
        if cancel is not None:
            with contextlib.suppress(Exception):  # a port that vanished needs no cancelling
                cancel()
        if self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT)
        with contextlib.suppress(Exception):  # closing a port that vanished may fail
            self.serial.close()
        self.log.event(self.name, "closed")

    def __repr__(self) -> str:
        return f"<SerialPort {self.describe}>"


def open_serial(
    name: str, url: str, write_timeout: float, kwargs: dict[str, Any]
) -> serial.SerialBase:
    """``serial.serial_for_url`` with the harness's read tick; errors become DeviceError."""
    try:
        port: serial.SerialBase = serial.serial_for_url(
            url, timeout=READ_TICK, write_timeout=write_timeout, **kwargs
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceError(f"cannot open serial device {name!r} at {url!r}: {exc}") from exc
    return port


class ReceiveBuffer:
    """Text received from a port, with absolute positions and a consuming cursor.

    ``wait(check)`` calls ``check(text)`` on the unconsumed text (from the cursor, or
    from a mark) whenever more arrives; ``check`` returns ``(result, consumed)`` when
    satisfied (``consumed`` characters of that text are then used up) or None.
    """

    def __init__(self, name: str, limit: int = BUFFER_CHARS) -> None:
        self.name = name
        self.limit = limit
        self._cond = threading.Condition()
        self._text = ""
        self._base = 0
        """Absolute position of ``_text[0]``."""
        self._cursor = 0
        self.dropped = 0
        self.failure: DeviceError | None = None

    # -- receiver side ------------------------------------------------------------

    def feed(self, text: str) -> None:
        with self._cond:
            self._text += text
            excess = len(self._text) - self.limit
            if excess > 0:
                unread_lost = max(0, self._base + excess - self._cursor)
                self.dropped += unread_lost
                self._text = self._text[excess:]
                self._base += excess
                self._cursor = max(self._cursor, self._base)
            self._cond.notify_all()

    def fail(self, error: DeviceError) -> None:
        with self._cond:
            self.failure = error
            self._cond.notify_all()

    # -- reader side --------------------------------------------------------------

    @property
    def position(self) -> int:
        """Characters received so far (absolute): the position a mark remembers."""
        with self._cond:
            return self._base + len(self._text)

    def mark(self) -> int:
        return self.position

    def pending(self) -> str:
        """The unconsumed text."""
        with self._cond:
            return self._text[self._cursor - self._base :]

    def discard(self) -> str:
        """Consume everything received so far and return it."""
        with self._cond:
            text = self._text[self._cursor - self._base :]
            self._cursor = self._base + len(self._text)
            return text

    def tail(self, chars: int = EVIDENCE_CHARS) -> str:
        """The last ``chars`` characters received, consumed or not."""
        with self._cond:
            return self._text[-chars:]

    def wait(
        self,
        check: Callable[[str], tuple[T, int] | None],
        timeout: float,
        *,
        since: int | None = None,
        what: str = "data",
        where: str = "",
    ) -> T:
        """Block until ``check`` is satisfied, the timeout passes (DeviceTimeoutError) or
        the port fails (DeviceError); both errors show the text ``check`` was shown."""
        deadline = clock.Deadline(timeout)
        where = where or self.name
        with self._cond:
            start = self._cursor if since is None else max(since, self._base)
            while True:
                text = self._text[start - self._base :]
                found = check(text)
                if found is not None:
                    result, consumed = found
                    self._cursor = max(self._cursor, start + consumed)
                    return result
                if self.failure is not None:
                    raise DeviceError(
                        f"{self.failure}\nwhile waiting for {what}; {_evidence(text)}"
                    ) from self.failure
                remaining = deadline.remaining()
                if remaining <= 0:
                    dropped = f" ({self.dropped} characters were dropped)" if self.dropped else ""
                    raise DeviceTimeoutError(
                        f"{where}: no {what} within {timeout:g} s{dropped}; {_evidence(text)}"
                    )
                self._cond.wait(remaining)


def _evidence(text: str) -> str:
    """'received N characters, the last M: ...' for error messages."""
    if not text:
        return "received nothing"
    shown = text[-EVIDENCE_CHARS:]
    head = f"received {len(text)} characters"
    if len(shown) < len(text):
        head += f", the last {len(shown)}"
    return f"{head}:\n{_show(shown)}"


def _show(text: str) -> str:
    """Text as it looks on a terminal, with control characters made visible."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join("  | " + repr(line)[1:-1] for line in lines)

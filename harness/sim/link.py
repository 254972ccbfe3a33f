"""The device end of a simulated serial line: a real pseudo-terminal, or a TCP socket.

A simulated device (modem, power supply, console) is reached the way real ones are:

- :class:`PtyLink`: ``os.openpty()``; the harness opens the slave's path (``/dev/pts/N``)
  with pyserial exactly as it would open ``/dev/ttyUSB0``; the simulation owns the master.
- :class:`TcpLink`: a server on 127.0.0.1; ``socket://127.0.0.1:PORT`` reaches it from
  this process or another one (one client at a time, like a serial-to-TCP adapter).

Each runs one thread that waits on the descriptors (no polling) and calls
``on_data(bytes)`` with whatever the harness wrote. ``disconnect()`` makes the port
disappear under the harness, as pulling a USB adapter does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading
import tty
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

WRITE_TIMEOUT = 1.0
"""Seconds a write may wait for a harness that does not read before the data is dropped."""
CHUNK = 4096


class Link(Protocol):
    """What a simulation writes to and what tests connect to."""

    url: str
    """What ``serial.serial_for_url`` opens to reach the simulation."""
    dropped: int

    def write(self, data: bytes) -> None: ...
    def wait_connected(self, timeout: float) -> bool: ...
    def disconnect(self) -> None: ...
    def close(self) -> None: ...


def open_link(transport: str, on_data: Callable[[bytes], None], name: str) -> Link:
    """A link of the given transport (``"pty"`` or ``"socket"``)."""
    if transport == "pty":
        return PtyLink(on_data, name)
    if transport == "socket":
        return TcpLink(on_data, name)
    raise ValueError(f"unknown transport {transport!r}; use 'pty' or 'socket'")


class _Waker:
    """A pipe whose read end wakes a selector when the link closes."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self._lock = threading.Lock()
        self._closed = False

    def wake(self) -> None:
        with self._lock:
            if not self._closed:  # never write to a descriptor number reused elsewhere
                with contextlib.suppress(OSError):
                    os.write(self.write_fd, b"x")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for fd in (self.read_fd, self.write_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)


class _SelectorLink:
    """What both links share: a thread waiting on a selector for input (and on a waker
    that stops it), input handed to ``on_data``, and ``close()`` that stops the thread
    before the subclass releases its descriptors."""

    kind = "link"

    def __init__(
        self, on_data: Callable[[bytes], None], name: str, source: int | socket.socket
    ) -> None:
        self.name = name
        self.on_data = on_data
        self.dropped = 0
        self._lock = threading.Lock()
        self._closed = False
        self._waker = _Waker()
        self._selector = selectors.DefaultSelector()
        self._selector.register(source, selectors.EVENT_READ)
        self._selector.register(self._waker.read_fd, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name=f"{self.kind} {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._closed:
                for key, _ in self._selector.select():
                    if key.fd == self._waker.read_fd or self._closed or not self._ready(key):
                        return
        finally:
            self._selector.close()
            self._waker.close()

    def _ready(self, key: selectors.SelectorKey) -> bool:
        """Handle input on ``key``; False ends the link's thread."""
        raise NotImplementedError

    def _deliver(self, data: bytes) -> None:
        try:
            self.on_data(data)
        except Exception:
            log.exception("simulation %s failed on input %r", self.name, data)

    def disconnect(self) -> None:
        """The harness's side goes away, as an unplugged adapter or a closed port would."""
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._waker.wake()
        if self._thread is not threading.current_thread():
            self._thread.join()
        # from the link's own thread (a simulation hanging up on input) the loop ends
        # when on_data returns, and closes the selector itself
        self._release()

    def _release(self) -> None:
        raise NotImplementedError


class PtyLink(_SelectorLink):
    """A pseudo-terminal pair: the harness opens :attr:`path`, the simulation the master."""

    kind = "pty"

    def __init__(self, on_data: Callable[[bytes], None], name: str = "pty") -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or line editing until the harness sets its own mode
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.url = self.path
        super().__init__(on_data, name, self._master)

    def _ready(self, key: selectors.SelectorKey) -> bool:
        try:
            data = os.read(self._master, CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        self._deliver(data)
        return True

    def write(self, data: bytes) -> None:
        """Send bytes to the harness; dropped (and counted) if it does not read for a second."""
        with self._lock:
            if self._closed:
                self.dropped += len(data)
                return
            view = memoryview(data)
            while view:
                try:
                    written = os.write(self._master, view)
                except BlockingIOError:
                    if not _writable(self._master, WRITE_TIMEOUT):
                        self.dropped += len(view)
                        log.warning(
                            "%s: harness not reading, dropped %d bytes", self.name, len(view)
                        )
                        return
                    continue
                except OSError:
                    self.dropped += len(view)
                    return
                view = view[written:]

    def wait_connected(self, timeout: float) -> bool:
        """A pty is always there for the harness to open: True."""
        return True

    def _release(self) -> None:
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __repr__(self) -> str:
        return f"<PtyLink {self.name} {self.path}>"


def _writable(fd: int, timeout: float) -> bool:
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_WRITE)
        return bool(selector.select(timeout))


class TcpLink(_SelectorLink):
    """A TCP server on 127.0.0.1 serving one client at a time (``socket://`` in pyserial)."""

    kind = "tcp"

    def __init__(
        self, on_data: Callable[[bytes], None], name: str = "tcp", host: str = "127.0.0.1"
    ) -> None:
        self._server = socket.create_server((host, 0))
        self._server.setblocking(False)
        self.host, self.port = self._server.getsockname()[:2]
        self.url = f"socket://{self.host}:{self.port}"
        self._client: socket.socket | None = None
        self._connected = threading.Event()
        super().__init__(on_data, name, self._server)

    @property
    def connected(self) -> bool:
        return self._client is not None

    def _ready(self, key: selectors.SelectorKey) -> bool:
        if key.fileobj is self._server:
            self._accept()
        else:
            self._receive()
        return True

    def _accept(self) -> None:
        try:
            client, _ = self._server.accept()
        except BlockingIOError:
            return
        with self._lock:
            if self._client is not None or self._closed:
                client.close()  # busy, like a serial port someone else holds
                return
            client.settimeout(WRITE_TIMEOUT)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._client = client
        self._selector.register(client, selectors.EVENT_READ)
        self._connected.set()

    def _receive(self) -> None:
        client = self._client
        if client is None:
            return
        try:
            data = client.recv(CHUNK)
        except (BlockingIOError, TimeoutError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client()
            return
        self._deliver(data)

    def wait_connected(self, timeout: float) -> bool:
        """Wait until a client is connected (what the simulation sends before is dropped)."""
        return self._connected.wait(timeout)

    def _drop_client(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._connected.clear()
        if client is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(client)
            client.close()

    def write(self, data: bytes) -> None:
        """Send bytes to the connected client; with none connected they are dropped."""
        with self._lock:
            client = self._client
            if client is None or self._closed:
                self.dropped += len(data)
                return
            try:
                client.sendall(data)
            except OSError:
                self.dropped += len(data)

    def _release(self) -> None:
        client = self._client
        self._client = None
        if client is not None:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            client.close()
        self._server.close()

    def __repr__(self) -> str:
        return f"<TcpLink {self.name} {self.url}>"

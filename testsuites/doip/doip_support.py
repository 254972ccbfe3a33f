"""Helpers of the DoIP suite: a tester socket that sends any bytes (malformed ones too) and
reads whole DoIP messages, and one that answers the entity's alive checks by itself.

The suite speaks DoIP on raw sockets (not through the harness's tester) because it
sends what a tester must never send: wrong versions, wrong lengths, unknown types.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Self

from harness import clock

HEADER = struct.Struct("!BBHL")
VERSION = 0x02
ROUTING_ACTIVATION_REQUEST, ROUTING_ACTIVATION_RESPONSE = 0x0005, 0x0006
ALIVE_CHECK_REQUEST, ALIVE_CHECK_RESPONSE = 0x0007, 0x0008
DIAGNOSTIC_MESSAGE, DIAGNOSTIC_ACK, DIAGNOSTIC_NACK = 0x8001, 0x8002, 0x8003
GENERIC_NACK = 0x0000
A_PROCESSING_TIME = 2.0
"""ISO 13400-2: the longest an entity takes to answer a request (A_Processing_Time)."""


def header(payload_type: int, length: int, version: int = VERSION) -> bytes:
    return HEADER.pack(version, version ^ 0xFF, payload_type, length)


def message(payload_type: int, payload: bytes) -> bytes:
    return header(payload_type, len(payload)) + payload


class Closed(Exception):  # noqa: N818 - an outcome the tests expect, not an error
    """The entity closed the connection."""


class DoipSocket:
    """One TCP connection to the entity."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=A_PROCESSING_TIME)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self.source: int | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, timeout: float = A_PROCESSING_TIME) -> tuple[int, bytes]:
        """The next whole message (type, payload); TimeoutError when none comes, Closed
        when the entity closes the connection."""
        head = self._exact(HEADER.size, timeout)
        _, _, payload_type, length = HEADER.unpack(head)
        return payload_type, self._exact(length, timeout)

    def read_type(self, wanted: int, timeout: float = A_PROCESSING_TIME) -> bytes:
        """The payload of the next message of type ``wanted``, answering alive checks."""
        deadline = clock.Deadline(timeout)
        while True:
            payload_type, payload = self.read(deadline.remaining())
            if payload_type == wanted:
                return payload
            if payload_type == ALIVE_CHECK_REQUEST and self.source is not None:
                self.send(message(ALIVE_CHECK_RESPONSE, struct.pack("!H", self.source)))
                continue
            raise AssertionError(f"expected DoIP type 0x{wanted:04X}, got 0x{payload_type:04X}")

    def closed_within(self, timeout: float) -> bool:
        """True when the entity closes the connection within ``timeout`` (data before the
        close is read and dropped)."""
        deadline = clock.Deadline(timeout)
        try:
            while not deadline.expired():
                self.sock.settimeout(max(0.001, deadline.remaining()))
                if not self.sock.recv(4096):
                    return True
        except TimeoutError:
            return False
        except OSError:
            return True
        return False

    def activate(self, source: int = 0x0E00, activation_type: int = 0) -> tuple[int, int]:
        """Routing activation: (response code, the entity's logical address)."""
        self.send(
            message(ROUTING_ACTIVATION_REQUEST, struct.pack("!HBL", source, activation_type, 0))
        )
        payload = self.read_type(ROUTING_ACTIVATION_RESPONSE)
        tester, entity, code = struct.unpack_from("!HHB", payload)
        assert tester == source, f"routing activation response for 0x{tester:04X}"
        if code in (0x10, 0x11):
            self.source = source
        return code, entity

    def diagnostic(self, source: int, target: int, data: bytes) -> None:
        self.send(message(DIAGNOSTIC_MESSAGE, struct.pack("!HH", source, target) + data))

    def _exact(self, count: int, timeout: float) -> bytes:
        data = b""
        deadline = clock.Deadline(timeout)
        while len(data) < count:
            if deadline.expired():
                raise TimeoutError(f"DoIP: {len(data)} of {count} bytes within {timeout:g} s")
            self.sock.settimeout(deadline.remaining())
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise Closed(f"closed after {data.hex(' ') or 'nothing'}")
            data += chunk
        return data


class AliveResponder:
    """A registered tester that answers the entity's alive check requests from a thread
    of its own while the test talks on another socket."""

    def __init__(self, connection: DoipSocket) -> None:
        self.connection = connection
        self.answered = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        source = self.connection.source
        assert source is not None
        with contextlib.suppress(OSError, Closed, TimeoutError):
            while True:
                payload_type, _ = self.connection.read(timeout=30)
                if payload_type == ALIVE_CHECK_REQUEST:
                    self.connection.send(message(ALIVE_CHECK_RESPONSE, struct.pack("!H", source)))
                    self.answered.set()

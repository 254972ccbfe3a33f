"""Fixtures for the device drivers' tests: a scripted far end of a real pseudo-terminal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from harness import clock
from harness.devices.config import DEFAULT_LINE_ENDING, SerialDeviceConfig
from harness.devices.log import SerialLog
from harness.sim.link import PtyLink


class Peer:
    """The device end of a pty, driven by the test: ``write`` sends to the driver,
    ``wait_for`` waits (on a condition) until the driver has sent something."""

    def __init__(self) -> None:
        self.received = bytearray()
        self._cond = threading.Condition()
        self.on_input: Callable[[bytes], None] | None = None
        self.link = PtyLink(self._feed, "peer")

    def _feed(self, data: bytes) -> None:
        with self._cond:
            self.received += data
            self._cond.notify_all()
        if self.on_input is not None:
            self.on_input(data)

    def write(self, data: bytes) -> None:
        self.link.write(data)

    def wait_for(self, data: bytes, timeout: float = 2.0) -> bytes:
        deadline = clock.Deadline(timeout)
        with self._cond:
            while data not in self.received:
                if not self._cond.wait(deadline.remaining()):
                    raise AssertionError(f"peer never got {data!r}; got {bytes(self.received)!r}")
            return bytes(self.received)


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    yield p
    p.link.close()


def _device_config(kind: str, url: str, **changes: Any) -> SerialDeviceConfig:
    config = SerialDeviceConfig(name=kind, kind=kind, url=url, timeout=2.0)
    return replace(config, line_ending=DEFAULT_LINE_ENDING[kind], **changes)


@pytest.fixture
def make_config() -> Callable[..., SerialDeviceConfig]:
    """``make_config("modem", url, timeout=1.0)``: settings as a bench file gives them."""
    return _device_config


@pytest.fixture
def traffic_log() -> SerialLog:
    return SerialLog()

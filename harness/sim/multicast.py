"""Carrying a virtual bench between processes over python-can's ``udp_multicast``.

python-can's ``virtual`` interface lives inside one process. To watch a
simulation from another process (``harness simulate`` in one terminal,
``harness monitor`` or a test run in another), both sides swap each ``virtual``
channel for a ``udp_multicast`` one: the same group, and a port derived from
the virtual channel's name, so channels stay apart as they were.

UDP multicast on loopback can drop frames in bursts and while a socket joins
the group, so this is verified rather than trusted. The start-up handshake checks both
ways: :func:`wait_until_heard` (the simulation is heard) and :func:`probe_reaches`
(a frame sent to the group reaches every simulated ECU: one probe frame with ID
0x1FFFFFFF). :class:`LossMeter` counts the frames missing from rolling counters.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from harness.canbus.protection import counter_modulo
from harness.exceptions import ExpectationError

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.canbus.config import CanChannelConfig
    from harness.canbus.database import SignalDatabase
    from harness.canbus.frame import Frame

GROUP = "239.74.163.2"
"""python-can's default IPv4 group for udp_multicast (loopback-scoped use only)."""

PORT_BASE = 43_000
PORT_RANGE = 10_000


def port_for(virtual_channel: str) -> int:
    """A stable UDP port for a virtual channel name (both processes compute the same)."""
    return PORT_BASE + zlib.crc32(virtual_channel.encode()) % PORT_RANGE


def carried(cfg: CanChannelConfig) -> CanChannelConfig:
    """A ``virtual`` channel as the matching ``udp_multicast`` one; others unchanged."""
    if cfg.interface != "virtual":
        return cfg
    options = {**cfg.options, "port": port_for(cfg.channel)}
    return replace(cfg, interface="udp_multicast", channel=GROUP, options=MappingProxyType(options))


def wait_until_heard(channel: Channel, messages: Iterable[str], timeout: float) -> list[str]:
    """Wait until ``channel`` has received each of ``messages``; return those never heard."""
    missing = set(messages)

    def all_heard(frame: Frame) -> bool:
        missing.discard(frame.name or "")
        return not missing

    if missing:
        with contextlib.suppress(ExpectationError):  # the caller reports what is missing
            channel.wait_for(None, where=all_heard, since=channel.mark(), timeout=timeout)
    return sorted(missing)


PROBE_ID = 0x1FFFFFFF
PROBE_DATA = b"harness\x00"
"""The one frame a start-up handshake puts on the bus (highest 29-bit ID)."""


def probe_reaches(sender: Channel, receivers: Iterable[Channel], timeout: float) -> list[str]:
    """Send the probe frame from ``sender``; return the receivers that did not get it."""
    others = [r for r in receivers if r is not sender]
    marks = [(r, r.mark()) for r in others]
    sender.send_raw(PROBE_ID, PROBE_DATA, is_extended_id=True)
    deaf = []
    for receiver, since in marks:
        try:
            receiver.wait_for(PROBE_ID, since=since, timeout=timeout)
        except ExpectationError:
            deaf.append(receiver.name)
    return deaf


@dataclass
class LossMeter:
    """Counts frames missing from rolling counters, per message, as frames arrive."""

    db: SignalDatabase
    last: dict[str, int] = field(default_factory=dict)
    received: int = 0
    lost: int = 0
    _counters: dict[str, tuple[str, int] | None] = field(default_factory=dict)

    def feed(self, frame: Frame) -> None:
        """Account for one received frame (called on the receive thread)."""
        if frame.name is None or not frame.signals:
            return
        counter = self._counter_of(frame.name)
        if counter is None:
            return
        signal, modulo = counter
        self.received += 1
        value = int(frame.signals[signal])
        previous = self.last.get(frame.name)
        self.last[frame.name] = value
        if previous is not None:
            self.lost += (value - previous - 1) % modulo

    def _counter_of(self, name: str) -> tuple[str, int] | None:
        if name not in self._counters:
            message = self.db.message(name)
            protection = self.db.protection(name)
            self._counters[name] = (
                (protection.counter, counter_modulo(message, protection))
                if protection.counter
                else None
            )
        return self._counters[name]

    @property
    def loss(self) -> float | None:
        """Fraction of counted frames that went missing; None when no frame with a
        declared rolling counter arrived, so there was nothing to count."""
        total = self.received + self.lost
        return self.lost / total if total else None

    def summary(self) -> str:
        """One status line: frames counted and lost, or that loss was not measured."""
        if self.loss is None:
            return "loss not measured (no frame with a declared rolling counter heard back)"
        return f"{self.received} counted frames heard back, {self.lost} lost ({self.loss:.3%})"

"""Base of the simulated serial devices (console, modem, power supply).

A simulation takes bytes from the harness through one or more links (a pseudo-terminal
or a TCP socket, see :mod:`harness.sim.link`) and answers through them. Subclasses
fill :meth:`DeviceSimulation.feed`; input arrives on the link threads and timed events
on a scheduler thread, so subclasses guard their state with ``self.lock``.
"""

from __future__ import annotations

import threading

from harness.closing import Closing
from harness.sim.link import Link, open_link


class DeviceSimulation(Closing):
    """A simulated device reachable through links; ``serve()`` returns what to open."""

    kind = "device"

    def __init__(self, name: str) -> None:
        self.name = name
        self.links: list[Link] = []
        self.lock = threading.RLock()
        self.received = 0
        """Bytes received from the harness (for tests)."""
        self._arrived = threading.Condition()

    def serve(self, transport: str = "pty") -> Link:
        """Reach this simulation through a new ``"pty"`` or ``"socket"`` link; its ``url``
        is what the harness opens."""
        link = open_link(transport, self._on_data, f"{self.kind} {self.name}")
        self.links.append(link)
        return link

    @property
    def url(self) -> str:
        """Where the first link is reached (a pty path or a ``socket://`` URL)."""
        if not self.links:
            raise RuntimeError(f"simulation {self.name!r} is not served yet; call serve()")
        return self.links[0].url

    def _on_data(self, data: bytes) -> None:
        with self.lock:
            self.feed(data)
        with self._arrived:
            self.received += len(data)
            self._arrived.notify_all()

    def wait_received(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` bytes from the harness have been handled (for tests)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self.received >= count, timeout)

    def feed(self, data: bytes) -> None:
        """Handle bytes from the harness (called with ``self.lock`` held)."""
        raise NotImplementedError

    def output(self, data: bytes | str) -> None:
        """Send to the harness through every link."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        for link in self.links:
            link.write(raw)

    def disconnect(self) -> None:
        """Make the device vanish: every link closes under the harness."""
        for link in self.links:
            link.disconnect()

    def close(self) -> None:
        for link in self.links:
            link.close()

"""Base of the simulated serial devices (console, modem, power supply).

A simulation takes bytes from the harness through one or more links (a pseudo-terminal
or a TCP socket, see :mod:`harness.sim.link`) and answers through them. Subclasses
fill :meth:`DeviceSimulation.feed`; input arrives on the link threads and timed events
on a scheduler thread, so subclasses guard their state with ``self.lock``.

Seeded faults are shared work too: a simulation whose data file has a ``[faults]``
table fills :attr:`DeviceSimulation.fault_table`; faults are switched on by name
(``fault_on``), and the ones a bench file switches on for a run (``faults = [...]``
in ``[serial.NAME]``) are what :meth:`DeviceSimulation.restore_faults` returns to after
a test. :func:`fault_table` reads a device file's faults without starting anything, for
validating bench files and listing faults.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, Self

from harness.closing import Closing
from harness.datafile import suggest
from harness.exceptions import UnknownNameError
from harness.plugins import Registry
from harness.sim.link import Link, open_link

if TYPE_CHECKING:
    from harness.sim.ecu import SimulatedEcu


class DeviceFault(Protocol):
    """What every simulated device fault says about itself."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def quirk(self) -> bool:
        """True for behaviour real devices have that a robust driver must tolerate; False
        for a bug of the device that a suite must catch."""
        ...


def fault_table(kind: str, path: str | Path) -> Mapping[str, DeviceFault]:
    """The faults a device file of ``kind`` defines (empty for kinds without faults);
    ConfigError for a broken file."""
    return SIMULATIONS.get(kind).faults_in(Path(path))


@dataclass(frozen=True)
class Wiring:
    """What a started device simulation may be wired to on a virtual bench."""

    driver: Any
    """The harness's driver for it, already connected."""
    dut: list[SimulatedEcu]
    """The simulated ECUs playing the DUT."""
    ecu: SimulatedEcu | None
    """The simulated ECU the device is built into (``can``/``node``), if any."""
    powered: list[SimulatedEcu]
    """What the bench supply powers: the DUT and the ECUs devices are built into."""


class DeviceSimulation(Closing):
    """A simulated device reachable through links; ``serve()`` returns what to open.

    A kind of device simulation is a subclass filling :meth:`from_file`, :meth:`feed`
    and :meth:`wire`, registered by its kind in :data:`SIMULATIONS`.
    """

    kind = "device"

    @classmethod
    def from_file(cls, path: Path, name: str) -> Self:
        """The simulation its data file (``simulation = FILE``) describes."""
        raise NotImplementedError

    @classmethod
    def faults_in(cls, path: Path) -> Mapping[str, DeviceFault]:
        """The faults a data file of this kind defines, without starting anything."""
        return MappingProxyType({})

    def wire(self, wiring: Wiring) -> None:
        """Connect to the virtual bench once the driver is connected (the default: run on
        its own, from now on)."""
        raise NotImplementedError

    def __init__(self, name: str) -> None:
        self.name = name
        self.links: list[Link] = []
        self.lock = threading.RLock()
        self._asking: Link | None = None
        """The link whose input ``feed`` is handling (answers go back on it)."""
        self.received = 0
        """Bytes received from the harness (for tests)."""
        self._arrived = threading.Condition()
        self.active_faults: set[str] = set()
        self.bench_faults: frozenset[str] = frozenset()
        """The faults the bench file switches on for the run."""

    # -- faults -------------------------------------------------------------------------

    @property
    def fault_table(self) -> Mapping[str, DeviceFault]:
        """The faults this simulation can be switched into, by name."""
        return MappingProxyType({})

    def fault_on(self, name: str) -> None:
        """Switch a fault on (UnknownNameError with suggestions for a name not in the file)."""
        self._check_fault(name)
        with self.lock:
            self.active_faults.add(name)

    def fault_off(self, name: str) -> None:
        self._check_fault(name)
        with self.lock:
            self.active_faults.discard(name)

    def clear_faults(self) -> None:
        """Every fault off, the bench file's too."""
        with self.lock:
            self.active_faults.clear()

    def set_bench_faults(self, names: Iterable[str]) -> None:
        """The faults the bench file switches on for the run: on now, and again after
        each :meth:`restore_faults`."""
        chosen = frozenset(names)
        for name in chosen:
            self._check_fault(name)
        with self.lock:
            self.bench_faults = chosen
            self.active_faults = set(chosen)

    def restore_faults(self) -> None:
        """Back to the bench file's faults (what a test switched on or off is undone)."""
        with self.lock:
            self.active_faults = set(self.bench_faults)

    def _check_fault(self, name: str) -> DeviceFault:
        faults = self.fault_table
        if name not in faults:
            raise UnknownNameError(
                f"{self.kind} simulation {self.name!r} has no fault {name!r}"
                f"{suggest(name, list(faults))}; faults: {', '.join(faults) or 'none'}"
            )
        return faults[name]

    def serve(self, transport: str = "pty") -> Link:
        """Reach this simulation through a new ``"pty"`` or ``"socket"`` link; its ``url``
        is what the harness opens. A device served on several links answers each on the
        link it came from; what it says unasked (URCs, a boot banner) goes to all."""
        links: list[Link] = []
        link = open_link(
            transport, lambda data: self._on_data(data, links[0]), f"{self.kind} {self.name}"
        )
        links.append(link)
        self.links.append(link)
        return link

    @property
    def url(self) -> str:
        """Where the first link is reached (a pty path or a ``socket://`` URL)."""
        if not self.links:
            raise RuntimeError(f"simulation {self.name!r} is not served yet; call serve()")
        return self.links[0].url

    def _on_data(self, data: bytes, link: Link) -> None:
        with self.lock:
            self._asking = link
            try:
                self.feed(data)
            finally:
                self._asking = None
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
        """Send to the harness: on the link whose input is being handled, else on all."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        with self.lock:
            asking = self._asking
        for link in [asking] if asking is not None else self.links:
            link.write(raw)

    def disconnect(self) -> None:
        """Make the device vanish: every link closes under the harness."""
        for link in self.links:
            link.disconnect()

    def close(self) -> None:
        for link in self.links:
            link.close()


SIMULATIONS: Registry[type[DeviceSimulation]] = Registry(
    "device simulation",
    "harness.device_simulations",
    {
        "console": "harness.sim.console:ConsoleSimulation",
        "modem": "harness.sim.modem:ModemSimulation",
        "power": "harness.sim.power:PowerSimulation",
    },
)
"""Device simulations by the ``kind`` of their ``[serial.NAME]``; a new kind is a
:class:`DeviceSimulation` subclass and a row here (or an entry point)."""

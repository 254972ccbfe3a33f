"""Serial devices on a bench: a DUT's console (send/expect), AT-command modems, and SCPI
power supplies (through PyVISA), with the bench-file schema and the serial traffic log.

- :mod:`.config`: ``[serial.NAME]`` and ``[power]`` of a bench file;
- :mod:`.port`: pyserial port + reader thread + event-driven receive buffer;
- :mod:`.console`, :mod:`.modem`, :mod:`.power`: the drivers;
- :mod:`.log`: the timestamped serial traffic of a bench, per test.

:data:`DRIVERS` names the driver of each ``kind``; :mod:`harness.bench.devices` opens
them (and their simulations, :data:`harness.sim.device.SIMULATIONS`) for a Bench. A new
kind of device is a driver module with an ``open_for_bench`` function and a row here
(or an entry point of group ``harness.device_drivers``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from harness.plugins import Registry

if TYPE_CHECKING:
    from harness.devices.config import PowerConfig, SerialDeviceConfig
    from harness.devices.log import SerialLog


class Driver(Protocol):
    """What the bench needs of every device driver."""

    @property
    def name(self) -> str: ...

    def close(self) -> None: ...


class OpenDriver(Protocol):
    """Opens the driver of a ``[serial.NAME]`` device; ``power`` is the bench's
    ``[power]`` (which may name this device)."""

    def __call__(
        self, device: SerialDeviceConfig, log: SerialLog, power: PowerConfig | None
    ) -> Driver: ...


DRIVERS: Registry[OpenDriver] = Registry(
    "serial device kind",
    "harness.device_drivers",
    {
        "console": "harness.devices.console:open_for_bench",
        "modem": "harness.devices.modem:open_for_bench",
        "power": "harness.devices.power:open_for_bench",
    },
)
"""The driver of each ``kind`` of ``[serial.NAME]``."""

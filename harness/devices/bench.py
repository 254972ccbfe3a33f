"""A bench's serial devices: open them (and their simulations), wire the simulations to
the simulated DUT, and hand them out by name or kind.

:func:`open_devices` is what :class:`harness.bench.Bench` calls after its CAN channels
and simulated ECUs are up:

1. for a device with ``simulation = FILE``, the simulation (console, modem or power
   supply, by ``kind``) is started on a pty or a TCP socket (``transport``) and the
   device is opened at that path or ``socket://`` URL, exactly as a real one would be;
2. the driver is opened (:class:`Console`, :class:`Modem`, :class:`PowerSupply`);
3. simulations are wired to the simulated DUT (the simulated ECU whose node is a CAN
   channel's ``dut_node``): the console follows the DUT's power, the power supply's
   output switches the DUT on and off;
4. the ``[power]`` supply gets its voltage and current limit and is switched on
   (``switch_on``); with a simulated DUT, opening waits until it has booted.

Drivers are imported only when a bench has such a device, so benches without serial
devices do not pay for PyVISA.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, cast

from harness.canbus.database import suggest
from harness.devices.config import DevicesConfig, PowerConfig, SerialDeviceConfig, parse_devices
from harness.devices.log import SerialLog
from harness.exceptions import DeviceError, ResourceError

if TYPE_CHECKING:
    from harness.config import BenchConfig
    from harness.devices.console import Console
    from harness.devices.modem import Modem
    from harness.devices.power import PowerSupply
    from harness.sim.device import DeviceSimulation
    from harness.sim.ecu import SimulatedEcu

    Driver = Console | Modem | PowerSupply

CONNECT_TIMEOUT = 5.0
"""Seconds a simulation on a TCP socket waits for the harness's connection."""
BOOT_MARGIN = 5.0
"""Seconds beyond the simulated DUT's boot time that opening a bench waits for it."""


class Devices(Mapping[str, "Driver"]):
    """The open serial devices of a bench by name (``devices["modem"]``), the ``[power]``
    supply, the simulations behind them and the serial log they all write to."""

    def __init__(self, bench: str, config: DevicesConfig | None = None) -> None:
        self.bench = bench
        self.config = config or DevicesConfig({}, None)
        self.log = SerialLog()
        self._drivers: dict[str, Driver] = {}
        self.simulations: dict[str, DeviceSimulation] = {}
        self.power: PowerSupply | None = None
        """The supply ``[power]`` names (None without a ``[power]`` table)."""
        self.dut: list[SimulatedEcu] = []
        """The simulated ECUs playing the DUT (virtual benches), which the supply powers."""

    def __getitem__(self, name: str) -> Driver:
        try:
            return self._drivers[name]
        except KeyError:
            known = ", ".join(self._drivers) or "none"
            raise ResourceError(
                f"bench {self.bench!r} has no serial device {name!r}"
                f"{suggest(name, list(self._drivers))}; it has: {known}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._drivers)

    def __len__(self) -> int:
        return len(self._drivers)

    def of_kind(self, kind: str) -> Driver:
        """The one device of ``kind``; with several, the one named like the kind."""
        names = [d.name for d in self.config.of_kind(kind)]
        if not names:
            raise ResourceError(f"bench {self.bench!r} has no serial device of kind {kind!r}")
        if len(names) > 1:
            if kind not in names:
                raise ResourceError(
                    f"bench {self.bench!r} has several {kind} devices ({', '.join(names)}); "
                    f"use bench.devices[NAME]"
                )
            return self[kind]
        return self[names[0]]

    @property
    def console(self) -> Console:
        """The bench's console (``kind = "console"``)."""
        return cast("Console", self.of_kind("console"))

    @property
    def modem(self) -> Modem:
        """The bench's modem (``kind = "modem"``)."""
        return cast("Modem", self.of_kind("modem"))

    def switch_on(self) -> None:
        """Apply ``[power]`` (voltage, current limit, output on if ``switch_on``); with a
        simulated supply, return once the simulated DUT has booted. The bench does this
        on opening, the ``power`` fixture after each test."""
        from harness.sim.power import PowerSimulation  # noqa: PLC0415

        power = self.config.power
        if power is None or self.power is None:
            return
        self.power.apply(power)
        simulation = self.simulations.get(power.serial or "")
        if not isinstance(simulation, PowerSimulation) or not self.dut:
            return
        if not simulation.powers_dut:
            return  # e.g. a voltage below the DUT's minimum: it stays off, as on a real bench
        timeout = simulation.definition.boot_delay + BOOT_MARGIN
        if not simulation.wait_dut(True, timeout):
            raise DeviceError(f"the simulated DUT did not start within {timeout:g} s of power-on")

    def simulation(self, name: str) -> DeviceSimulation:
        """The simulation behind a device (virtual benches)."""
        try:
            return self.simulations[name]
        except KeyError:
            raise ResourceError(
                f"serial device {name!r} of bench {self.bench!r} is not simulated"
                f"{suggest(name, list(self.simulations))}; simulated: "
                f"{', '.join(self.simulations) or 'none'}"
            ) from None

    def simulation_of(self, driver: Any) -> DeviceSimulation | None:
        """The simulation behind ``driver``, if any."""
        for name, candidate in self._drivers.items():
            if candidate is driver:
                return self.simulations.get(name)
        return None


def open_devices(
    config: BenchConfig, sims: Mapping[str, SimulatedEcu], stack: ExitStack
) -> Devices:
    """Open a bench's serial devices and power supply; everything opened is pushed on
    ``stack`` (so the bench closes it, and a failure part-way leaks nothing)."""
    parsed = parse_devices(config)
    devices = Devices(config.name, parsed)
    if not parsed.serial and parsed.power is None:
        return devices
    dut_nodes = {channel.dut_node for channel in config.can.values() if channel.dut_node}
    dut = devices.dut = [ecu for ecu in sims.values() if ecu.definition.node in dut_nodes]
    for name, configured in parsed.serial.items():
        simulation = None
        device = configured
        if configured.simulation is not None:
            simulation = _simulation(configured)
            stack.callback(simulation.close)
            devices.simulations[name] = simulation
            device = configured.with_url(simulation.serve(configured.transport).url)
        driver = _open_driver(device, parsed.power, devices.log)
        stack.callback(driver.close)
        devices._drivers[name] = driver
        if simulation is not None:
            if not simulation.links[0].wait_connected(CONNECT_TIMEOUT):
                raise DeviceError(f"{name}: the simulation at {device.url} saw no connection")
            _wire(simulation, driver, dut)
    if parsed.power is not None:
        devices.power = _power_supply(parsed.power, devices, stack)
        devices.switch_on()
    return devices


def _simulation(device: SerialDeviceConfig) -> DeviceSimulation:
    assert device.simulation is not None
    if device.kind == "console":
        from harness.sim.console import ConsoleSimulation, load_console  # noqa: PLC0415

        return ConsoleSimulation(load_console(device.simulation), device.name)
    if device.kind == "modem":
        from harness.sim.modem import ModemSimulation, load_modem  # noqa: PLC0415

        return ModemSimulation(load_modem(device.simulation), device.name)
    from harness.sim.power import PowerSimulation, load_power  # noqa: PLC0415

    return PowerSimulation(load_power(device.simulation), device.name)


def _open_driver(device: SerialDeviceConfig, power: PowerConfig | None, log: SerialLog) -> Driver:
    if device.kind == "console":
        from harness.devices.console import Console  # noqa: PLC0415

        return Console.open(device, log)
    if device.kind == "modem":
        from harness.devices.modem import Modem  # noqa: PLC0415

        return Modem.open(device, log)
    from harness.devices.power import PowerSupply  # noqa: PLC0415

    settings = power if power is not None and power.serial == device.name else PowerConfig()
    return PowerSupply.from_config(settings, device, log)


def _wire(simulation: DeviceSimulation, driver: Driver, dut: list[SimulatedEcu]) -> None:
    """Connect a started simulation to the simulated DUT."""
    from harness.sim.console import ConsoleSimulation  # noqa: PLC0415
    from harness.sim.modem import ModemSimulation  # noqa: PLC0415
    from harness.sim.power import PowerSimulation  # noqa: PLC0415

    if isinstance(simulation, ConsoleSimulation):
        if dut:
            dut[0].attach(simulation)  # its banner comes when the DUT boots
        else:
            simulation.start()
    elif isinstance(simulation, ModemSimulation):
        simulation.start()
        boot = simulation.definition.boot_urcs
        if boot:  # a command sent while it still boots would be cut short by its RDY
            cast("Modem", driver).wait_urc(boot[0], since=0)
    elif isinstance(simulation, PowerSimulation):

        def supply(powered: bool) -> None:
            for ecu in dut:
                if powered:
                    ecu.power_on()
                else:
                    ecu.power_off()

        simulation.on_power(supply)


def _power_supply(power: PowerConfig, devices: Devices, stack: ExitStack) -> PowerSupply:
    if power.serial is not None:
        return cast("PowerSupply", devices[power.serial])  # parse_power checked its kind
    from harness.devices.power import PowerSupply  # noqa: PLC0415

    supply = PowerSupply.from_config(power, None, devices.log)
    stack.callback(supply.close)
    return supply

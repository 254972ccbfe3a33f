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
4. a device built into an ECU (``can``/``node`` in its ``[serial.NAME]``, e.g. the
   TCU's modem) is wired to the simulated ECU playing that node on that channel: the
   simulation runs while that ECU is powered, the ECU reports it on CAN
   (:func:`harness.sim.modem.link_report`), and the bench supply powers that ECU as it
   powers the DUT (on the virtual bench the whole vehicle hangs on one supply);
5. the seeded faults the bench file names (``faults = [...]``) are switched on;
6. the ``[power]`` supply gets its voltage and current limit and is switched on
   (``switch_on``); with a simulated DUT, opening waits until it has booted.

:func:`seeded_device_faults` lists the faults of a bench's simulated devices, each with
the ``--bench-set`` override that switches it on for a run.

Drivers are imported only when a bench has such a device, so benches without serial
devices do not pay for PyVISA.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from harness.datafile import suggest
from harness.devices import DRIVERS, Driver
from harness.devices.config import PowerConfig, SerialDeviceConfig
from harness.devices.log import SerialLog
from harness.exceptions import ConfigError, DeviceError, ResourceError
from harness.sim.device import SIMULATIONS, DeviceSimulation, Wiring

if TYPE_CHECKING:
    from harness.config import BenchConfig
    from harness.devices.console import Console
    from harness.devices.modem import Modem
    from harness.devices.power import PowerSupply
    from harness.sim.ecu import SimulatedEcu

CONNECT_TIMEOUT = 5.0
"""Seconds a simulation on a TCP socket waits for the harness's connection."""
BOOT_MARGIN = 5.0
"""Seconds beyond the simulated DUT's boot time that opening a bench waits for it."""


class Devices(Mapping[str, "Driver"]):
    """The open serial devices of a bench by name (``devices["modem"]``), the ``[power]``
    supply, the simulations behind them and the serial log they all write to."""

    def __init__(self, config: BenchConfig) -> None:
        self.bench = config.name
        self.config = config
        self.log = SerialLog()
        self._drivers: dict[str, Driver] = {}
        self.simulations: dict[str, DeviceSimulation] = {}
        self.power: PowerSupply | None = None
        """The supply ``[power]`` names (None without a ``[power]`` table)."""
        self.dut: list[SimulatedEcu] = []
        """The simulated ECUs playing the DUT (virtual benches), which the supply powers."""
        self.ecus: dict[str, SimulatedEcu] = {}
        """The simulated ECU each device is built into (``can``/``node``), by device name;
        the supply powers these too."""

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

    def settle(self, modem: Modem) -> None:
        """On a virtual bench, return once ``modem`` has read what its simulation wrote
        when it last booted: boot URCs of a power cycle at the end of one test, still on
        their way, must not be taken for the next test's."""
        from harness.sim.modem import ModemSimulation  # noqa: PLC0415

        simulation = self.simulation_of(modem)
        if not isinstance(simulation, ModemSimulation) or not simulation.powered:
            return
        if not simulation.definition.boot_urcs:
            return
        booted_at = simulation.booted_at  # any URC read after it: the boot's came first
        modem.wait_urc("", BOOT_MARGIN, since=0, where=lambda urc: urc.timestamp >= booted_at)

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
    devices = Devices(config)
    if not config.serial and config.power is None:
        return devices
    dut_nodes = {channel.dut_node for channel in config.can.values() if channel.dut_node}
    dut = devices.dut = [ecu for ecu in sims.values() if ecu.definition.node in dut_nodes]
    for name, configured in config.serial.items():
        ecu = _built_into(config, configured, sims)
        if ecu is not None:
            devices.ecus[name] = ecu
    powered = dut + [ecu for ecu in devices.ecus.values() if ecu not in dut]
    for name, configured in config.serial.items():
        simulation = None
        device = configured
        if configured.simulation is not None:
            simulation = _simulation(configured)
            stack.callback(simulation.close)
            devices.simulations[name] = simulation
            simulation.set_bench_faults(configured.faults)
            device = configured.with_url(simulation.serve(configured.transport).url)
        driver = DRIVERS.get(configured.kind)(device, devices.log, config.power)
        stack.callback(driver.close)
        devices._drivers[name] = driver
        if simulation is not None:
            if not simulation.links[0].wait_connected(CONNECT_TIMEOUT):
                raise DeviceError(f"{name}: the simulation at {device.url} saw no connection")
            simulation.wire(Wiring(driver, dut, devices.ecus.get(name), powered))
    if config.power is not None:
        devices.power = _power_supply(config.power, devices, stack)
        devices.switch_on()
    return devices


def _simulation(device: SerialDeviceConfig) -> DeviceSimulation:
    assert device.simulation is not None
    return SIMULATIONS.get(device.kind).from_file(device.simulation, device.name)


def _built_into(
    config: BenchConfig, device: SerialDeviceConfig, sims: Mapping[str, SimulatedEcu]
) -> SimulatedEcu | None:
    """The simulated ECU playing the device's ``node`` on its ``can`` channel, if any; a
    ConfigError when the node is not in that channel's database."""
    if device.can is None or device.node is None:
        return None
    channel = config.can[device.can]  # load_bench checked the channel
    if channel.dbc is not None:
        from harness.canbus.database import SignalDatabase  # noqa: PLC0415

        nodes = SignalDatabase.load(channel.dbc, strict=channel.strict_dbc).nodes
        if device.node not in nodes:
            raise ConfigError(
                str(config.path),
                f"serial.{device.name}.node",
                f"{device.node!r} is not a node of {channel.dbc.name}"
                f"{suggest(device.node, list(nodes))}; nodes: {', '.join(nodes) or 'none'}",
            )
    for name, ecu in sims.items():
        simulated = config.simulation.get(name)
        on_channel = simulated is not None and simulated.channel == device.can
        if on_channel and ecu.definition.node == device.node:
            return ecu
    return None


def _power_supply(power: PowerConfig, devices: Devices, stack: ExitStack) -> PowerSupply:
    if power.serial is not None:
        return cast("PowerSupply", devices[power.serial])  # parse_power checked its kind
    from harness.devices.power import PowerSupply  # noqa: PLC0415

    supply = PowerSupply.from_config(power, None, devices.log)
    stack.callback(supply.close)
    return supply


@dataclass(frozen=True)
class SeededDeviceFault:
    """A seeded fault of a bench's simulated serial device."""

    device: str
    """The ``[serial.NAME]`` it belongs to."""
    name: str
    description: str
    quirk: bool
    """True: behaviour real devices have, which the suites must tolerate (they pass);
    False: a device bug, which some suite test must catch (it fails)."""

    @property
    def bench_set(self) -> str:
        """The ``--bench-set`` override that switches it on for a run."""
        return f'serial.{self.device}.faults=["{self.name}"]'


def seeded_device_faults(config: BenchConfig) -> list[SeededDeviceFault]:
    """Every seeded fault of every simulated serial device of a bench, in file order.

    >>> for fault in seeded_device_faults(load_bench("fixtures/benches/virtual.toml")):
    ...     print(fault.bench_set, "quirk" if fault.quirk else "bug")  # doctest: +SKIP
    serial.modem.faults=["no_answer"] bug
    """
    from harness.sim.device import fault_table  # noqa: PLC0415

    found = []
    for device in config.serial.values():
        if device.simulation is None:
            continue
        for fault in fault_table(device.kind, device.simulation).values():
            found.append(SeededDeviceFault(device.name, fault.name, fault.description, fault.quirk))
    return found

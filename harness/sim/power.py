"""A simulated SCPI bench power supply, driven by a data file (``fixtures/devices/psu.toml``).

``[supply]``: ``idn``, ``channels``, ``max_voltage``, ``max_current``, and the
state at power-up (``output``, ``voltage``, ``current``); ``[load]``: what the DUT
draws (``current``), the lowest voltage it runs at (``min_voltage``) and how long it
takes to boot (``boot_ms``).

Its SCPI (the parser, IEEE 488.2 common commands, status model and error queue are
:class:`harness.sim.instrument.Instrument`'s): ``OUTPut[:STATe] ON|OFF|1|0`` and ``?``,
``[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]`` and ``CURRent`` (set with units
and MIN/MAX/DEF, ``?`` and ``? MIN|MAX|DEF``), ``MEASure[:SCALar]:VOLTage[:DC]?`` and
``CURRent``, ``INSTrument:NSELect``. Its status: ``STATus:OPERation`` bit 8 CV, bit 10
CC; ``STATus:QUEStionable`` bits 0 (VOLTage) and 1 (CURRent) while the DUT draws more
than the current setting, when the voltage sinks as a resistive load's would (the
simulated DUT keeps running: it browns out only on the voltage setting).

:meth:`PowerSimulation.on_power` registers what the output drives: the bench passes
the simulated DUT's ``power_on``/``power_off``, so switching the output off stops the
DUT's CAN traffic and services, and on starts them again ``boot_ms`` later.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.datafile import Table, read_toml
from harness.sim.device import DeviceSimulation, Wiring
from harness.sim.instrument import Arguments, Handler, Instrument, Limits
from harness.sim.scheduler import Scheduler

PowerListener = Callable[[bool], None]


@dataclass(frozen=True)
class PowerDefinition:
    path: Path
    idn: str
    channels: int
    max_voltage: float
    max_current: float
    output: bool
    voltage: float
    current: float
    load_current: float
    min_voltage: float
    boot_delay: float


def load_power(path: str | Path) -> PowerDefinition:
    """Read and validate a power-supply file; mistakes are ConfigErrors naming file and key."""
    path = Path(path)
    doc = Table(read_toml(path, "power supply file"), str(path), "")
    supply = doc.table("supply")
    max_voltage = supply.number("max_voltage", 30.0)
    max_current = supply.number("max_current", 10.0)
    voltage = supply.number("voltage", 12.0)
    current = supply.number("current", 3.0)
    if voltage > max_voltage:
        raise supply.error("voltage", f"above max_voltage ({max_voltage:g})")
    if current > max_current:
        raise supply.error("current", f"above max_current ({max_current:g})")
    definition_args = {
        "idn": supply.optional_str("idn") or "ecu-harness,SIM-PSU-1,SN0001,1.0",
        "channels": supply.optional_int("channels") or 1,
        "output": supply.boolean("output", False),
    }
    supply.finish()
    load = doc.table("load")
    definition = PowerDefinition(
        path=path,
        max_voltage=max_voltage,
        max_current=max_current,
        voltage=voltage,
        current=current,
        load_current=load.number("current", 0.35),
        min_voltage=load.number("min_voltage", 8.0),
        boot_delay=load.number("boot_ms", 0.0) / 1000,
        **definition_args,  # type: ignore[arg-type]
    )
    load.finish()
    doc.finish()
    return definition


VOLTAGE = "[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]"
CURRENT = "[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]"

OPER_CV, OPER_CC = 0x100, 0x400
"""STATus:OPERation bits of this supply (instrument-defined range 8-12): the output
regulates its voltage (CV) or is limited by its current setting (CC)."""
QUES_VOLTAGE, QUES_CURRENT = 0x01, 0x02
"""STATus:QUEStionable bits (SCPI-1999's VOLTage and CURRent): in current limit the
output voltage is below its setpoint and the current is at its limit."""


class PowerSimulation(DeviceSimulation):
    """The simulated supply: SCPI in, answers out, the output switching what it powers."""

    kind = "power"

    @classmethod
    def from_file(cls, path: Path, name: str) -> PowerSimulation:
        return cls(load_power(path), name)

    def wire(self, wiring: Wiring) -> None:
        """The output switches everything the bench supply powers."""
        powered = wiring.powered

        def supply(on: bool) -> None:
            for each in powered:
                if on:
                    each.power_on()
                else:
                    each.power_off()

        self.on_power(supply)

    def __init__(self, definition: PowerDefinition, name: str = "psu") -> None:
        super().__init__(name)
        self.definition = definition
        self.commands: list[str] = []
        self._listeners: list[PowerListener] = []
        self._line = bytearray()
        self._selected = 1
        self._generation = 0
        self._dut_lock = threading.Condition()
        self.dut_powered: bool | None = None
        """What the listeners were last told (None before the first)."""
        self._target: bool | None = None
        """What they will be told once the boot delay has passed."""
        self._scheduler = Scheduler(f"power {name}")
        self._reset()
        d = definition
        volts = Limits(0.0, d.max_voltage, d.voltage, "V")
        amps = Limits(0.0, d.max_current, d.current, "A")
        self.instrument = Instrument(
            idn=d.idn,
            reset=self._reset_and_apply,
            conditions=self._conditions,
            commands=[
                ("OUTPut[:STATe]?", _query(lambda: "1" if self.output_on else "0")),
                ("OUTPut[:STATe]", self._set_output),
                (VOLTAGE + "?", lambda args: self._level(args, self.voltage, volts)),
                (VOLTAGE, lambda args: self._set_level(args, self.voltage, volts)),
                (CURRENT + "?", lambda args: self._level(args, self.current, amps)),
                (CURRENT, lambda args: self._set_level(args, self.current, amps)),
                ("MEASure[:SCALar]:VOLTage[:DC]?", _query(lambda: f"{self.measured_voltage:.3f}")),
                ("MEASure[:SCALar]:CURRent[:DC]?", _query(lambda: f"{self.measured_current:.3f}")),
                ("INSTrument:NSELect?", _query(lambda: str(self._selected))),
                ("INSTrument:NSELect", self._select),
            ],
        )  # fmt: skip

    @property
    def errors(self) -> deque[tuple[int, str]]:
        """The SCPI error queue, oldest first."""
        return self.instrument.errors

    # -- state ----------------------------------------------------------------------

    def _reset(self) -> None:
        d = self.definition
        channels = range(1, d.channels + 1)
        self.output_on = d.output
        self.voltage = dict.fromkeys(channels, d.voltage)
        self.current = dict.fromkeys(channels, d.current)
        self._selected = 1

    def _reset_and_apply(self) -> None:
        self._reset()
        self._changed()

    @property
    def powers_dut(self) -> bool:
        """Whether the output is on at a voltage the DUT runs at (channel 1 feeds it)."""
        return self.output_on and self.voltage[1] >= self.definition.min_voltage

    @property
    def current_limited(self) -> bool:
        """Whether the running DUT draws more than channel 1's current setting (CC mode)."""
        return bool(
            self.output_on and self.dut_powered and self.definition.load_current > self.current[1]
        )

    @property
    def measured_voltage(self) -> float:
        if not self.output_on:
            return 0.0
        voltage = self.voltage[self._selected]
        if self._selected == 1 and self.current_limited:
            # the DUT as a resistive load: the voltage sinks with the current the limit allows
            return voltage * self.current[1] / self.definition.load_current
        return voltage

    @property
    def measured_current(self) -> float:
        if not (self.output_on and self._selected == 1 and self.dut_powered):
            return 0.0
        return min(self.definition.load_current, self.current[1])

    def _conditions(self) -> tuple[int, int]:
        """The OPERation and QUEStionable conditions of channel 1 (what the DUT sees)."""
        if not self.output_on:
            return 0, 0
        if self.current_limited:
            return OPER_CC, QUES_VOLTAGE | QUES_CURRENT
        return OPER_CV, 0

    def on_power(self, listener: PowerListener) -> None:
        """Call ``listener(True/False)`` whenever what the output powers starts or stops
        (on: once it has booted); called at once with the present state."""
        with self.lock, self._dut_lock:
            self._listeners.append(listener)
            if self.dut_powered is None:  # the first: what the output powers is now decided
                self._target = self.dut_powered = self.powers_dut
                for each in self._listeners:
                    each(self.dut_powered)
                self._dut_lock.notify_all()
            else:
                listener(self.dut_powered)

    def wait_dut(self, powered: bool, timeout: float) -> bool:
        """Wait until what the output powers is on (booted) or off; False on timeout."""
        with self._dut_lock:
            return self._dut_lock.wait_for(lambda: self.dut_powered == powered, timeout)

    def _changed(self) -> None:
        """The output or its voltage changed (called with ``self.lock`` held)."""
        powered = self.powers_dut
        if powered == self._target:
            return
        self._target = powered
        self._generation += 1
        generation = self._generation
        if powered and self.definition.boot_delay > 0:
            self._scheduler.call_later(
                self.definition.boot_delay, lambda: self._tell(generation, True)
            )
        else:
            self._tell(generation, powered)

    def _tell(self, generation: int, powered: bool) -> None:
        with self.lock, self._dut_lock:
            if generation != self._generation or powered == self.dut_powered:
                return
            self.dut_powered = powered
            for listener in self._listeners:
                listener(powered)
            self.instrument.refresh()  # the load came or went: CV/CC may change
            self._dut_lock.notify_all()

    def set_output(self, on: bool) -> None:
        """Switch the output as if from the front panel."""
        with self.lock:
            self.output_on = on
            self._changed()
            self.instrument.refresh()

    # -- SCPI -----------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        for byte in data:
            if byte == 0x0A:
                line = self._line.decode("latin-1").strip()
                self._line.clear()
                if line:
                    self.commands.append(line)
                    answer = self.instrument.message(line)
                    if answer is not None:
                        self.output(answer.encode() + b"\n")
            elif byte != 0x0D:
                self._line.append(byte)

    def _set_output(self, args: Arguments) -> None:
        on = args.boolean()
        args.finish()
        self.output_on = on
        self._changed()

    def _level(self, args: Arguments, levels: dict[int, float], limits: Limits) -> str:
        """A setpoint, or with MIN/MAX/DEF the limit it names."""
        value = args.limit(limits)
        args.finish()
        return f"{levels[self._selected] if value is None else value:.3f}"

    def _set_level(self, args: Arguments, levels: dict[int, float], limits: Limits) -> None:
        value = args.number(limits)
        args.finish()
        levels[self._selected] = value
        self._changed()

    def _select(self, args: Arguments) -> None:
        channel = args.integer(1, self.definition.channels)
        args.finish()
        self._selected = channel

    def close(self) -> None:
        self._scheduler.close()
        super().close()


def _query(answer: Callable[[], str]) -> Handler:
    """A query without parameters."""

    def handler(args: Arguments) -> str:
        args.finish()
        return answer()

    return handler

"""A simulated SCPI bench power supply, driven by a data file (``fixtures/devices/psu.toml``).

``[supply]``: ``idn``, ``channels``, ``max_voltage``, ``max_current``, and the
state at power-up (``output``, ``voltage``, ``current``); ``[load]``: what the DUT
draws (``current``), the lowest voltage it runs at (``min_voltage``) and how long it
takes to boot (``boot_ms``).

The SCPI subset: ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``OUTPut[:STATe] ON|OFF|1|0``
and ``?``, ``[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]`` and ``CURRent`` (set and
``?``), ``MEASure[:SCALar]:VOLTage[:DC]?`` and ``CURRent``, ``INSTrument:NSELect``,
``SYSTem:ERRor[:NEXT]?``; short and long forms, any case, several commands per line
separated by ``;``. Mistakes go to the error queue (``-113,"Undefined header"``...).

:meth:`PowerSimulation.on_power` registers what the output drives: the bench passes
the simulated DUT's ``power_on``/``power_off``, so switching the output off stops the
DUT's CAN traffic and services, and on starts them again ``boot_ms`` later.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.datafile import Table, read_toml
from harness.sim.device import DeviceSimulation, Wiring
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


def _nodes(pattern: str) -> list[tuple[str, str, bool]]:
    """``"[SOURce:]VOLTage[:LEVel]"`` -> [(short, long, optional), ...]."""
    nodes = []
    for optional, name in re.findall(r"(\[?):?([A-Za-z*]+):?\]?", pattern):
        short = "".join(c for c in name if c.isupper() or c == "*")
        nodes.append((short, name.upper(), bool(optional)))
    return nodes


def _matches(nodes: list[tuple[str, str, bool]], tokens: list[str]) -> bool:
    if not nodes:
        return not tokens
    short, long, optional = nodes[0]
    if tokens and tokens[0] in (short, long) and _matches(nodes[1:], tokens[1:]):
        return True
    return optional and _matches(nodes[1:], tokens)


VOLTAGE = "[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]"
CURRENT = "[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]"


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
        self.errors: deque[tuple[int, str]] = deque(maxlen=32)
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
        self._table: list[tuple[str, list[tuple[str, str, bool]], Callable[[str], str | None]]] = [
            (p, _nodes(p.rstrip("?")), handler)
            for p, handler in (
                ("*IDN?", lambda _: self.definition.idn),
                ("*RST", lambda _: self._reset_and_apply()),
                ("*CLS", lambda _: self.errors.clear()),
                ("*OPC?", lambda _: "1"),
                ("*OPC", lambda _: None),
                ("OUTPut[:STATe]?", lambda _: "1" if self.output_on else "0"),
                ("OUTPut[:STATe]", self._set_output),
                (VOLTAGE + "?", lambda _: f"{self.voltage[self._selected]:.3f}"),
                (VOLTAGE, lambda arg: self._set_level(arg, self.voltage, d.max_voltage)),
                (CURRENT + "?", lambda _: f"{self.current[self._selected]:.3f}"),
                (CURRENT, lambda arg: self._set_level(arg, self.current, d.max_current)),
                ("MEASure[:SCALar]:VOLTage[:DC]?", lambda _: f"{self.measured_voltage:.3f}"),
                ("MEASure[:SCALar]:CURRent[:DC]?", lambda _: f"{self.measured_current:.3f}"),
                ("INSTrument:NSELect?", lambda _: str(self._selected)),
                ("INSTrument:NSELect", self._select),
                ("SYSTem:ERRor[:NEXT]?", lambda _: self._next_error()),
            )
        ]  # fmt: skip

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
    def measured_voltage(self) -> float:
        return self.voltage[self._selected] if self.output_on else 0.0

    @property
    def measured_current(self) -> float:
        if not (self.output_on and self._selected == 1 and self.dut_powered):
            return 0.0
        return min(self.definition.load_current, self.current[1])

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
        with self._dut_lock:
            if generation != self._generation or powered == self.dut_powered:
                return
            self.dut_powered = powered
            for listener in self._listeners:
                listener(powered)
            self._dut_lock.notify_all()

    def set_output(self, on: bool) -> None:
        """Switch the output as if from the front panel."""
        with self.lock:
            self.output_on = on
            self._changed()

    # -- SCPI -----------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        for byte in data:
            if byte == 0x0A:
                line = self._line.decode("latin-1").strip()
                self._line.clear()
                if line:
                    self._message(line)
            elif byte != 0x0D:
                self._line.append(byte)

    def _message(self, line: str) -> None:
        self.commands.append(line)
        answers = []
        for part in line.split(";"):
            if not part.strip():
                continue
            header, _, argument = part.strip().partition(" ")
            answer = self._execute(header, argument.strip())
            if answer is not None:
                answers.append(answer)
        if answers:
            self.output(";".join(answers).encode() + b"\n")

    def _execute(self, header: str, argument: str) -> str | None:
        query = header.endswith("?")
        tokens = [re.sub(r"\d+$", "", t) for t in header.rstrip("?").lstrip(":").upper().split(":")]
        for pattern, nodes, handler in self._table:
            if pattern.endswith("?") == query and _matches(nodes, tokens):
                try:
                    return handler(argument)
                except _ScpiError as error:
                    self.errors.append((error.code, error.text))
                    return None
        self.errors.append((-113, "Undefined header"))
        return None

    def _next_error(self) -> str:
        if not self.errors:
            return '0,"No error"'
        code, text = self.errors.popleft()
        return f'{code},"{text}"'

    def _set_output(self, argument: str) -> None:
        value = argument.upper()
        if value not in ("ON", "OFF", "1", "0"):
            raise _ScpiError(-224, "Illegal parameter value")
        self.output_on = value in ("ON", "1")
        self._changed()

    def _set_level(self, argument: str, levels: dict[int, float], limit: float) -> None:
        if not argument:
            raise _ScpiError(-109, "Missing parameter")
        try:
            value = float(argument)
        except ValueError:
            raise _ScpiError(-104, "Data type error") from None
        if not 0 <= value <= limit:
            raise _ScpiError(-222, "Data out of range")
        levels[self._selected] = value
        self._changed()

    def _select(self, argument: str) -> None:
        if not argument.isdigit() or not 1 <= int(argument) <= self.definition.channels:
            raise _ScpiError(-222, "Data out of range")
        self._selected = int(argument)

    def close(self) -> None:
        self._scheduler.close()
        super().close()


class _ScpiError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code},{text}")
        self.code = code
        self.text = text

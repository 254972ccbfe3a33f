"""A simulated debug console, defined by a data file (``fixtures/devices/console.toml``).

``[console]``: ``name``, ``prompt``, ``echo``, ``banner`` (lines printed at boot);
``[commands]``: command -> lines printed before the next prompt. Unknown commands
print ``unknown command: X``.

It is a :class:`~harness.sim.ecu.Service`: attached to a simulated ECU it prints its
banner when the ECU powers on and goes silent (ignoring input) while it is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from harness.datafile import Table, read_toml
from harness.sim.device import DeviceSimulation, Wiring


@dataclass(frozen=True)
class ConsoleDefinition:
    name: str
    prompt: str
    echo: bool
    banner: tuple[str, ...]
    commands: Mapping[str, tuple[str, ...]]


def load_console(path: str | Path) -> ConsoleDefinition:
    """Read and validate a console file; mistakes are ConfigErrors naming file and key."""
    path = Path(path)
    doc = Table(read_toml(path, "console file"), str(path), "")
    head = doc.table("console")
    definition_name = head.optional_str("name") or path.stem
    prompt = head.optional_str("prompt", "> ") or ""
    echo = head.boolean("echo", True)
    banner = tuple(head.str_list("banner"))
    head.finish()
    commands_table = doc.table("commands")
    commands = {name: tuple(commands_table.str_list(name)) for name in list(commands_table.data)}
    commands_table.finish()
    doc.finish()
    return ConsoleDefinition(definition_name, prompt, echo, banner, MappingProxyType(commands))


class ConsoleSimulation(DeviceSimulation):
    """A line-editing console that answers commands from its definition while powered."""

    kind = "console"

    @classmethod
    def from_file(cls, path: Path, name: str) -> ConsoleSimulation:
        return cls(load_console(path), name)

    def wire(self, wiring: Wiring) -> None:
        """Follows the DUT's power (its banner comes when the DUT boots)."""
        if wiring.dut:
            wiring.dut[0].attach(self)
        else:
            self.start()

    def __init__(self, definition: ConsoleDefinition, name: str = "console") -> None:
        super().__init__(name)
        self.definition = definition
        self.powered = False
        self.boots = 0
        self.commands: list[str] = []
        """Every command line received while powered."""
        self._line = bytearray()
        self._last_cr = False

    # -- Service: follows the power of the ECU it is attached to ------------------

    def start(self) -> None:
        with self.lock:
            self.powered = True
            self.boots += 1
            self._line.clear()
            lines = "".join(f"{line}\r\n" for line in self.definition.banner)
            self.output(lines + self.definition.prompt)

    def stop(self) -> None:
        with self.lock:
            self.powered = False
            self._line.clear()

    # -- input --------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if not self.powered:
            return
        for byte in data:
            char = bytes([byte])
            if char in b"\r\n":
                if char == b"\n" and self._last_cr:
                    self._last_cr = False
                    continue
                self._last_cr = char == b"\r"
                if self.definition.echo:
                    self.output(b"\r\n")
                self._execute(self._line.decode("utf-8", "replace").strip())
                self._line.clear()
                continue
            self._last_cr = False
            if char in (b"\x7f", b"\x08"):
                if self._line:
                    self._line.pop()
                    if self.definition.echo:
                        self.output(b"\x08 \x08")
                continue
            self._line += char
            if self.definition.echo:
                self.output(char)

    def _execute(self, command: str) -> None:
        if command:
            self.commands.append(command)
            lines = self.definition.commands.get(command)
            if lines is None:
                lines = (f"unknown command: {command}",)
            self.output("".join(f"{line}\r\n" for line in lines))
        self.output(self.definition.prompt)

"""The bench file's serial devices (``[serial.NAME]``) and power supply (``[power]``).

:func:`harness.config.load_bench` hands each table to the parsers here, so every
mistake names the file and key (with "did you mean"); the names in ``faults`` are
checked there against the simulation's file:

.. code-block:: toml

    [serial.modem]
    kind = "modem"                   # console | modem | power
    port = "/dev/ttyUSB2"            # or url = "socket://10.0.0.7:4001", "rfc2217://...", "loop://"
    baudrate = 115200
    bytesize = 8                     # 5..8
    parity = "none"                  # none | even | odd | mark | space (or N/E/O/M/S)
    stopbits = 1                     # 1, 1.5 or 2
    line_ending = "CR"               # what send() appends: CR, LF, CRLF or the characters
    timeout = 5.0                    # default wait (expect, AT command, SCPI query), seconds
    command_timeouts = { "+COPS=?" = 180, "+CMGS" = 60 }   # modem only: per command
    urc_patterns = ['\\+STIN:']      # modem only: further URCs (regexes at a line's start)
    can = "body"                     # the ECU the device is built into: its CAN channel
    node = "TCU"                     # ... and its DBC node (a suite checks its CAN reports)

    [serial.psu]
    kind = "power"
    simulation = "../devices/psu.toml"   # virtual bench: a simulated device instead of a port
    transport = "pty"                    # how the simulation is reached: pty | socket
    faults = ["no_answer"]               # seeded faults of the simulation, on for the run

    [power]                          # the supply that powers the DUT
    serial = "psu"                   # a [serial.NAME] of kind power, or:
    # resource = "TCPIP::192.168.0.50::5025::SOCKET"   # any VISA resource
    channel = 1                      # output channel of a multi-channel supply
    voltage = 13.5                   # set when the bench opens
    current_limit = 5.0
    off_time = 1.0                   # how long power_cycle() keeps the output off
    switch_on = true                 # switch the output on when the bench opens
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.datafile import Table, suggest
from harness.devices import DRIVERS

TRANSPORTS = ("pty", "socket")
PARITIES = {"none": "N", "even": "E", "odd": "O", "mark": "M", "space": "S"}
STOPBITS = (1, 1.5, 2)
LINE_ENDINGS = {"CR": "\r", "LF": "\n", "CRLF": "\r\n"}
DEFAULT_LINE_ENDING = {"console": "\r\n", "modem": "\r", "power": "\n"}
"""What each kind appends to a line it sends: consoles take CRLF, AT commands end in CR
(S3), SCPI in LF."""
DEFAULT_TIMEOUT = {"console": 5.0, "modem": 5.0, "power": 2.0}
"""Default waits by kind, seconds (a kind not listed: CRLF and 5 s)."""


@dataclass(frozen=True)
class SerialDeviceConfig:
    """One ``[serial.NAME]`` table, validated."""

    name: str
    kind: str
    url: str | None
    """What ``serial.serial_for_url`` opens: a port (``/dev/ttyUSB0``, ``COM3``) or a URL.
    None for a simulated device until the simulation gives it one."""
    baudrate: int = 115200
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    rtscts: bool = False
    xonxoff: bool = False
    line_ending: str = "\r\n"
    encoding: str = "utf-8"
    timeout: float = 5.0
    write_timeout: float = 2.0
    simulation: Path | None = None
    """A simulation's data file (virtual bench), resolved against the bench file."""
    transport: str = "pty"
    command_timeouts: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    urc_patterns: tuple[str, ...] = ()
    """Regular expressions of a modem's further URCs (beyond the driver's own list)."""
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Extra keyword arguments for ``serial.serial_for_url``."""
    can: str | None = None
    """The bench CAN channel of the ECU the device is built into (``can``)."""
    node: str | None = None
    """That ECU's DBC node (``node``): on a virtual bench the simulated ECU playing it
    powers the device's simulation and reports it on CAN."""
    faults: tuple[str, ...] = ()
    """Seeded faults of the simulation switched on for the run (``faults``)."""
    source: str = ""
    """The bench file, for error messages."""

    def with_url(self, url: str) -> SerialDeviceConfig:
        """This device reached at ``url`` (a simulation's pty path or socket URL)."""
        return replace(self, url=url)

    def serial_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``serial.serial_for_url`` (besides the URL and timeouts)."""
        return {
            "baudrate": self.baudrate,
            "bytesize": self.bytesize,
            "parity": self.parity,
            "stopbits": self.stopbits,
            "rtscts": self.rtscts,
            "xonxoff": self.xonxoff,
            **self.options,
        }


@dataclass(frozen=True)
class PowerConfig:
    """The ``[power]`` table: which supply powers the DUT, and how."""

    serial: str | None = None
    """The ``[serial.NAME]`` (kind power) it is reached through, or None for ``resource``."""
    resource: str | None = None
    """A VISA resource name (``TCPIP::host::5025::SOCKET``, ``ASRL/dev/ttyUSB0::INSTR``)."""
    channel: int | None = None
    voltage: float | None = None
    current_limit: float | None = None
    off_time: float = 1.0
    switch_on: bool = True
    timeout: float = 2.0
    visa_library: str = "@py"
    """PyVISA backend: ``@py`` is pyvisa-py (no vendor VISA needed)."""


def parse_serial_device(table: Table, name: str, bench_path: Path) -> SerialDeviceConfig:
    """One ``[serial.NAME]`` table."""
    kind = _choice(table, "kind", tuple(DRIVERS.names()), required=True)
    simulation_text = table.optional_str("simulation")
    simulation = None
    if simulation_text is not None:
        simulation = (bench_path.parent / simulation_text).resolve()
        if not simulation.is_file():
            raise table.error("simulation", f"simulation file not found: {simulation}")
    url = table.optional_str("url")
    port = table.optional_str("port")
    if url is not None and port is not None:
        raise table.error("port", "give url or port, not both")
    address = url if url is not None else port
    if address is not None and not address.strip():
        raise table.error("url" if url is not None else "port", "must not be empty")
    if simulation is None and address is None:
        raise table.error(
            "", "give url (a pyserial URL) or port (a device such as /dev/ttyUSB0 or COM3)"
        )
    if simulation is not None and address is not None:
        raise table.error(
            "url" if url is not None else "port",
            "a simulated device gets its port from the simulation; remove this or simulation",
        )
    transport = _choice(table, "transport", TRANSPORTS, default="pty")
    if simulation is None and "transport" in table.data:
        raise table.error("transport", "only for simulated devices (set simulation)")
    baudrate = table.optional_int("baudrate") or 115200
    bytesize = table.optional_int("bytesize") or 8
    if bytesize not in (5, 6, 7, 8):
        raise table.error("bytesize", f"expected 5, 6, 7 or 8, got {bytesize}")
    parity = _parity(table)
    stopbits = table.number("stopbits", 1)
    if stopbits not in STOPBITS:
        raise table.error("stopbits", f"expected 1, 1.5 or 2, got {stopbits:g}")
    encoding = table.optional_str("encoding") or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise table.error("encoding", f"unknown encoding {encoding!r}") from None
    timeout = table.number("timeout", DEFAULT_TIMEOUT.get(kind, 5.0))
    if timeout <= 0:
        raise table.error("timeout", "must be more than 0 seconds")
    command_timeouts = table.table("command_timeouts")
    if kind != "modem" and command_timeouts.data:
        raise table.error("command_timeouts", "only for modems (kind = 'modem')")
    per_command = {
        command: command_timeouts.number(command, 0.0, minimum=0.001)
        for command in list(command_timeouts.data)
    }
    command_timeouts.finish()
    device = SerialDeviceConfig(
        name=name,
        kind=kind,
        url=address,
        baudrate=baudrate,
        bytesize=bytesize,
        parity=parity,
        stopbits=stopbits,
        rtscts=table.boolean("rtscts", False),
        xonxoff=table.boolean("xonxoff", False),
        line_ending=_line_ending(table, kind),
        encoding=encoding,
        timeout=timeout,
        write_timeout=table.number("write_timeout", 2.0, minimum=0.001),
        simulation=simulation,
        transport=transport,
        command_timeouts=MappingProxyType(per_command),
        urc_patterns=_urc_patterns(table, kind),
        options=table.free_form("options"),
        can=table.optional_str("can"),
        node=table.optional_str("node"),
        faults=tuple(dict.fromkeys(table.str_list("faults"))),
        source=table.source,
    )
    if (device.can is None) != (device.node is None):
        missing = "node" if device.node is None else "can"
        raise table.error(missing, "give can (a CAN channel) and node (a DBC node) together")
    table.finish()
    return device


def parse_power(table: Table, devices: Mapping[str, SerialDeviceConfig]) -> PowerConfig:
    """The ``[power]`` table; ``devices`` are the bench's serial devices it may name."""
    serial = table.optional_str("serial")
    resource = table.optional_str("resource")
    supplies = [d.name for d in devices.values() if d.kind == "power"]
    if serial is not None and resource is not None:
        raise table.error("resource", "give serial (a [serial.NAME]) or resource, not both")
    if serial is None and resource is None:
        if len(supplies) != 1:
            raise table.error(
                "serial",
                "name the supply: serial = a [serial.NAME] of kind 'power' "
                f"({', '.join(supplies) or 'the bench has none'}), or resource = a VISA resource",
            )
        serial = supplies[0]
    if serial is not None:
        if serial not in devices:
            known = ", ".join(devices) or "none"
            raise table.error(
                "serial",
                f"no [serial.{serial}] in this bench{suggest(serial, list(devices))}; "
                f"serial devices: {known}",
            )
        if devices[serial].kind != "power":
            raise table.error(
                "serial", f"[serial.{serial}] has kind {devices[serial].kind!r}, not 'power'"
            )
    if resource is not None and not resource.strip():
        raise table.error("resource", "must not be empty")
    voltage = table.number("voltage", -1.0, minimum=-1.0)
    current_limit = table.number("current_limit", -1.0, minimum=-1.0)
    if "voltage" in table.data and voltage < 0:
        raise table.error("voltage", f"expected a number >= 0, got {voltage:g}")
    if "current_limit" in table.data and current_limit < 0:
        raise table.error("current_limit", f"expected a number >= 0, got {current_limit:g}")
    timeout = table.number("timeout", 2.0)
    if timeout <= 0:
        raise table.error("timeout", "must be more than 0 seconds")
    power = PowerConfig(
        serial=serial,
        resource=resource,
        channel=table.optional_int("channel"),
        voltage=voltage if voltage >= 0 else None,
        current_limit=current_limit if current_limit >= 0 else None,
        off_time=table.number("off_time", 1.0),
        switch_on=table.boolean("switch_on", True),
        timeout=timeout,
        visa_library=table.optional_str("visa_library") or "@py",
    )
    table.finish()
    return power


def _choice(
    table: Table,
    key: str,
    choices: tuple[str, ...],
    *,
    required: bool = False,
    default: str = "",
) -> str:
    value = table.required_str(key) if required else table.optional_str(key)
    if value is None:
        return default
    if value not in choices:
        raise table.error(
            key,
            f"expected one of {', '.join(choices)}, got {value!r}{suggest(value, list(choices))}",
        )
    return value


def _parity(table: Table) -> str:
    value = table.optional_str("parity") or "none"
    letters = set(PARITIES.values())
    if value.upper() in letters:
        return value.upper()
    if value.lower() in PARITIES:
        return PARITIES[value.lower()]
    raise table.error(
        "parity",
        f"expected one of {', '.join(PARITIES)} (or N/E/O/M/S), got {value!r}"
        f"{suggest(value.lower(), list(PARITIES))}",
    )


def _urc_patterns(table: Table, kind: str) -> tuple[str, ...]:
    """A modem's ``urc_patterns``: regular expressions, each checked."""
    patterns = tuple(table.str_list("urc_patterns"))
    if kind != "modem" and patterns:
        raise table.error("urc_patterns", "only for modems (kind = 'modem')")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise table.error(
                "urc_patterns", f"{pattern!r} is not a regular expression: {exc}"
            ) from None
    return patterns


def _line_ending(table: Table, kind: str) -> str:
    value = table.optional_str("line_ending")
    if value is None:
        return DEFAULT_LINE_ENDING.get(kind, "\r\n")
    if value.upper() in LINE_ENDINGS:
        return LINE_ENDINGS[value.upper()]
    if value and not value.strip("\r\n"):
        return value
    raise table.error(
        "line_ending", f"expected CR, LF, CRLF or the characters themselves, got {value!r}"
    )

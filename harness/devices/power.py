"""A bench power supply over SCPI, through PyVISA (pyvisa-py backend by default).

>>> psu = PowerSupply.open("TCPIP::192.168.0.50::5025::SOCKET")   # doctest: +SKIP
>>> psu.identify()                                                # doctest: +SKIP
'RIGOL TECHNOLOGIES,DP832,DP8C0000000001,00.01.16'
>>> psu.set_voltage(13.5); psu.set_current_limit(5.0); psu.on()   # doctest: +SKIP
>>> cycle = psu.power_cycle(off_time=0.5)                          # doctest: +SKIP

Serial supplies are ``ASRL<port>::INSTR`` resources, which pyvisa-py opens with
pyserial's ``serial_for_url`` (so a pty path or ``loop://`` works); LAN supplies are
raw SCPI sockets, ``TCPIP::host::port::SOCKET``. :func:`resource_for` turns a bench
file's ``[serial.NAME]`` (kind ``power``) into one, ``socket://host:port`` becoming a
TCPIP SOCKET resource.

Every command and answer goes into the bench's serial log. Each setting is sent
with an error-queue query in the same message (``VOLT 13.5;:SYST:ERR?``: one round
trip), so a refused value fails where it was sent, naming the command. Note that
pyvisa-py notices a closed TCP socket only at the read timeout; a vanished serial port
fails at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyvisa
import pyvisa.constants

from harness import clock
from harness.closing import Closing
from harness.devices.config import PowerConfig
from harness.devices.log import SerialLog
from harness.exceptions import DeviceError, DeviceTimeoutError

if TYPE_CHECKING:
    from pyvisa.resources import MessageBasedResource

    from harness.devices.config import SerialDeviceConfig

_PARITY = {
    "N": pyvisa.constants.Parity.none,
    "E": pyvisa.constants.Parity.even,
    "O": pyvisa.constants.Parity.odd,
    "M": pyvisa.constants.Parity.mark,
    "S": pyvisa.constants.Parity.space,
}
_STOPBITS = {
    1: pyvisa.constants.StopBits.one,
    1.5: pyvisa.constants.StopBits.one_and_a_half,
    2: pyvisa.constants.StopBits.two,
}
MAX_ERRORS = 20
"""Entries read from the error queue at most (a supply repeating an error forever)."""


def resource_for(device: SerialDeviceConfig) -> tuple[str, dict[str, Any]]:
    """The VISA resource name and ``open_resource`` options for a ``[serial.NAME]`` supply."""
    url = device.url
    if url is None:
        raise DeviceError(f"power supply {device.name!r} has no port or URL to open")
    terminations = {"read_termination": "\n", "write_termination": device.line_ending}
    if url.startswith("socket://"):
        host, _, port = url[len("socket://") :].rstrip("/").rpartition(":")
        return f"TCPIP::{host}::{port}::SOCKET", terminations
    return f"ASRL{url}::INSTR", {
        **terminations,
        "baud_rate": device.baudrate,
        "data_bits": device.bytesize,
        "parity": _PARITY[device.parity],
        "stop_bits": _STOPBITS[device.stopbits],
    }


@dataclass(frozen=True)
class PowerCycle:
    """When a power cycle switched the output off and on again (harness clock)."""

    off_at: float
    on_at: float
    """When ``OUTP ON`` was sent: the DUT cannot start before this."""


class PowerSupply(Closing):
    """One output of an SCPI supply: on/off, set and measure voltage and current, cycle.

    Thread-safe: one command at a time. ``channel`` selects an output of a multi-channel
    supply (``INST:NSEL n`` before each command).
    """

    def __init__(
        self,
        resource: MessageBasedResource,
        *,
        name: str = "power",
        channel: int | None = None,
        off_time: float = 1.0,
        log: SerialLog | None = None,
    ) -> None:
        self.resource = resource
        self.name = name
        self.channel = channel
        self.off_time = off_time
        self.log = log if log is not None else SerialLog()
        self._lock = threading.Lock()
        self._pause = threading.Event()
        """Never set: ``power_cycle`` waits on it for the off-time (see there)."""
        self._closed = False

    @classmethod
    def open(
        cls,
        resource_name: str,
        *,
        name: str = "power",
        channel: int | None = None,
        timeout: float = 2.0,
        off_time: float = 1.0,
        options: dict[str, Any] | None = None,
        visa_library: str = "@py",
        log: SerialLog | None = None,
    ) -> PowerSupply:
        """Open a VISA resource; any failure is a DeviceError naming it."""
        kwargs = {"read_termination": "\n", "write_termination": "\n", **(options or {})}
        try:
            manager = pyvisa.ResourceManager(visa_library)
            resource = manager.open_resource(resource_name, timeout=int(timeout * 1000), **kwargs)
        except Exception as exc:  # PyVISA and its backends raise many kinds
            raise DeviceError(
                f"cannot open power supply {name!r} at {resource_name!r}: {exc}"
            ) from exc
        if not isinstance(resource, pyvisa.resources.MessageBasedResource):
            resource.close()
            raise DeviceError(f"{resource_name!r} is not a message-based (SCPI) instrument")
        supply = cls(resource, name=name, channel=channel, off_time=off_time, log=log)
        supply.log.event(name, f"opened {resource_name}")
        return supply

    @classmethod
    def from_config(
        cls,
        power: PowerConfig,
        device: SerialDeviceConfig | None,
        log: SerialLog | None = None,
    ) -> PowerSupply:
        """The supply a bench file's ``[power]`` names (through ``device`` or a resource)."""
        if device is not None:
            resource_name, options = resource_for(device)
            timeout = device.timeout
            name = device.name
        else:
            assert power.resource is not None, "parse_power requires serial or resource"
            resource_name, options, timeout, name = power.resource, {}, power.timeout, "power"
        return cls.open(
            resource_name,
            name=name,
            channel=power.channel,
            timeout=timeout,
            off_time=power.off_time,
            options=options,
            visa_library=power.visa_library,
            log=log,
        )

    @property
    def describe(self) -> str:
        return f"{self.name} ({self.resource.resource_name})"

    # -- SCPI -----------------------------------------------------------------------

    def write(self, command: str, *, check: bool = True) -> None:
        """Send a command; with ``check``, read the error queue in the same message
        (``VOLT 12;:SYST:ERR?``) and raise DeviceError if the supply refused it."""
        with self._lock:
            if not check:
                self._write(self._on_channel(command))
                return
            first = self._query(f"{self._on_channel(command)};:SYST:ERR?")
            self._check_errors(command, first)

    def query(self, command: str) -> str:
        """Send a query and return its answer (stripped)."""
        with self._lock:
            return self._query(self._on_channel(command))

    def _on_channel(self, command: str) -> str:
        if self.channel is None or command.startswith("*"):
            return command
        return f"INST:NSEL {self.channel};:{command.lstrip(':')}"

    def _write(self, command: str) -> None:
        self._ensure_open()
        self.log.record(self.name, "tx", command.encode() + b"\n")
        try:
            self.resource.write(command)
        except Exception as exc:
            raise self._failed(command, exc) from exc

    def _query(self, command: str) -> str:
        self._write(command)
        try:
            answer = self.resource.read()
        except Exception as exc:
            raise self._failed(command, exc) from exc
        self.log.record(self.name, "rx", answer.encode() + b"\n")
        return answer.strip()

    def _ensure_open(self) -> None:
        if self._closed:
            raise DeviceError(f"{self.describe}: closed")

    def _failed(self, command: str, exc: Exception) -> DeviceError:
        if isinstance(exc, pyvisa.errors.VisaIOError) and (
            exc.error_code == pyvisa.constants.StatusCode.error_timeout
        ):
            return DeviceTimeoutError(
                f"{self.describe}: no answer to {command!r} within "
                f"{self.resource.timeout / 1000:g} s"
            )
        self.log.event(self.name, f"failed: {exc}")
        return DeviceError(f"{self.describe}: {command!r} failed: {exc}")

    def _check_errors(self, command: str, entry: str) -> None:
        errors = []
        for _ in range(MAX_ERRORS):
            code, _, text = entry.partition(",")
            if code.strip().lstrip("+") in ("0", ""):
                break
            errors.append(f"{code.strip()} {text.strip().strip(chr(34))}")
            entry = self._query("SYST:ERR?")
        if errors:
            raise DeviceError(f"{self.describe}: {command!r} was refused: {'; '.join(errors)}")

    # -- the supply ------------------------------------------------------------------

    def identify(self) -> str:
        """``*IDN?``: manufacturer, model, serial number, firmware."""
        return self.query("*IDN?")

    def on(self) -> None:
        self.write("OUTP ON")

    def off(self) -> None:
        self.write("OUTP OFF")

    @property
    def output(self) -> bool:
        """Whether the output is on (``OUTP?``)."""
        return self.query("OUTP?") in ("1", "ON")

    def set_voltage(self, volts: float) -> None:
        self.write(f"VOLT {volts:g}")

    def set_current_limit(self, amps: float) -> None:
        self.write(f"CURR {amps:g}")

    @property
    def voltage(self) -> float:
        """The voltage setpoint (``VOLT?``)."""
        return self._number("VOLT?")

    @property
    def current_limit(self) -> float:
        return self._number("CURR?")

    def measure_voltage(self) -> float:
        return self._number("MEAS:VOLT?")

    def measure_current(self) -> float:
        return self._number("MEAS:CURR?")

    def _number(self, query: str) -> float:
        answer = self.query(query)
        try:
            return float(answer)
        except ValueError:
            raise DeviceError(
                f"{self.describe}: {query} answered {answer!r}, not a number"
            ) from None

    def power_cycle(self, off_time: float | None = None) -> PowerCycle:
        """Output off, wait ``off_time`` (default: the bench's), output on again."""
        wait = self.off_time if off_time is None else off_time
        self.off()
        off_at = clock.now()
        # The off-time is the protocol here (the DUT must drain and reset), not waiting
        # for an event: nothing will set this Event, the wait is exactly `wait` seconds.
        self._pause.wait(wait)
        on_at = clock.now()
        self.on()
        return PowerCycle(off_at, on_at)

    def apply(self, power: PowerConfig) -> None:
        """Set the voltage and current limit a bench's ``[power]`` gives, and switch the
        output on if it says ``switch_on``."""
        if power.voltage is not None:
            self.set_voltage(power.voltage)
        if power.current_limit is not None:
            self.set_current_limit(power.current_limit)
        if power.switch_on:
            self.on()

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.resource.close()
        except Exception as exc:  # noqa: BLE001 - a port that vanished may fail to close
            self.log.event(self.name, f"close failed: {exc}")
        self.log.event(self.name, "closed")

    def __repr__(self) -> str:
        return f"<PowerSupply {self.describe}>"


def open_for_bench(
    device: SerialDeviceConfig, log: SerialLog, power: PowerConfig | None
) -> PowerSupply:
    """The ``power`` row of :data:`harness.devices.DRIVERS`: with the ``[power]`` settings
    when ``[power]`` names this device."""
    settings = power if power is not None and power.serial == device.name else PowerConfig()
    return PowerSupply.from_config(settings, device, log)

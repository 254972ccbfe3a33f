"""Helpers of the telematics suite: time bounds, the TCU on CAN, AT probing, number checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cantools.database.can import Message

from harness import clock
from harness.canbus.channel import Channel
from harness.devices.modem import Modem
from harness.exceptions import DeviceError, ModemError

REGISTRATION_TIMEOUT = 30.0
"""Seconds a modem may take to register after power-up, a reset or ``AT+COPS=0``. TS
27.007 sets no bound; a network search takes seconds on a real bench (tenths on the
virtual one), so the bound is generous and the waits are event-driven."""
RESPONSIVE_TIMEOUT = 15.0
"""Seconds from power-on or a reset until the modem answers ``AT``."""
PROBE = 0.25
"""Seconds one ``AT`` probe waits while the modem starts (V.250: ``AT`` until ``OK``)."""
MAX_RESTARTS = 3
"""Probes in a row cut short by a restart before the modem counts as restarting on AT."""
STATUS_SIGNALS = ("RegistrationState", "SignalQuality")


@dataclass(frozen=True)
class TcuOnCan:
    """Where the TCU reports its modem: bench channel, DBC node and messages."""

    channel: Channel
    node: str
    status: Message
    """The message carrying ``RegistrationState`` and ``SignalQuality``."""
    telemetry: tuple[Message, ...]
    """The node's other cyclic messages."""

    @property
    def status_cycle(self) -> float:
        """GenMsgCycleTime of the status message in seconds (1 s if the DBC has none)."""
        return (self.status.cycle_time or 1000) / 1000

    def report_timeout(self) -> float:
        """How long a changed modem state may take to show on CAN: the frame being built
        may still carry the old state, so two cycles, plus a margin for a loaded host."""
        return 2 * self.status_cycle + 0.5


def wait_responsive(modem: Modem, timeout: float = RESPONSIVE_TIMEOUT) -> float:
    """Probe with ``AT`` until the modem answers ``OK`` (it may be starting, and nothing
    else says when it is ready on every modem); returns the time it answered. A modem that
    restarts on every probe fails at once rather than at the deadline."""
    deadline = clock.Deadline(timeout)
    last: DeviceError | None = None
    restarts = 0
    while deadline.remaining() > 0:
        try:
            modem.sync(timeout=min(PROBE, deadline.remaining()))
        except ModemError as exc:
            restarts = restarts + 1 if exc.kind == "reboot" else 0
            if restarts >= MAX_RESTARTS:
                raise AssertionError(f"the modem restarts on every AT: {exc}") from exc
            last = exc
            continue
        except DeviceError as exc:  # a timeout while it is off or starting
            last = exc
            continue
        return clock.now()
    raise AssertionError(f"the modem did not answer AT within {timeout:g} s: {last}")


def luhn_valid(digits: str) -> bool:
    """The Luhn check (ISO/IEC 7812-1) that the IMEI's last digit satisfies (TS 23.003 B.2).

    >>> luhn_valid("356938035643809"), luhn_valid("356938035643808")
    (True, False)
    """
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            value = value - 9 if value > 9 else value
        total += value
    return total % 10 == 0


def raw(value: Any) -> Any:
    """A decoded signal as its number (``NamedSignalValue`` -> its value)."""
    return getattr(value, "value", value)

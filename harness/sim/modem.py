"""A simulated AT-command modem, driven by a data file (``fixtures/devices/modem.toml``).

The file says who the modem is (``[modem]``: manufacturer, model, revision, IMEI,
IMSI, echo, boot URCs), what the network does (``[network]``: operator, cell,
signal, the registration sequence after power-up), which SMS arrive
(``[[sms.incoming]]``), fixed answers for other commands (``[commands]``) and
named faults (``[faults.NAME]``: ``kind`` one of :data:`FAULT_KINDS`, optionally
limited to ``commands``).

Built in: ``AT``, ``ATE0/1``, ``ATZ``, ``AT+CMEE``, identity (``+CGMI``/``+GMI``,
``+CGMM``, ``+CGMR``, ``+CGSN``, ``+CIMI``), ``+CREG``/``+CGREG``/``+CEREG`` (query,
URC modes 0-2), ``+COPS``, ``+CSQ``, ``+CPIN`` (with ``[modem] pin`` the SIM waits for
it and registration starts once it is entered), ``+CLAC``, ``+CLIP``, ``+CRC``,
``+CVHU``, ``+CNUM``, ``+CSCS``, and for SMS (TS 27.005) ``+CMGF``, ``+CSCA``,
``+CSMP``, ``+CPMS`` (SIM and modem memory), ``+CNMI``, ``+CMGS`` (text and PDU mode,
with the ``> `` prompt and Ctrl-Z/ESC), ``+CMGR``, ``+CMGL``, ``+CMGD``; every one
answers its ``=?`` test form (:data:`TEST_FORMS`). Errors follow ``+CMEE`` (``ERROR``,
numeric or verbose ``+CME ERROR``/``+CMS ERROR``). Unknown commands answer ``ERROR``.
``[[modem.urc]]`` adds vendor URCs the modem repeats (Huawei's ``^RSSI``), held while a
command is unanswered and written after its final result. SMS the
harness sends are kept in :attr:`ModemSimulation.sent`; one sent to the SIM's own number
(``[modem] number``, ``AT+CNUM``) comes back as ``+CMTI``.
``AT+COPS=2`` deregisters and ``AT+COPS=0`` registers again (TS 27.007 7.3);
``AT+CFUN=1,1`` restarts the modem.

:class:`ModemReport` is the modem's link to the simulated ECU it is built into (the
bench's ``[serial.NAME] can``/``node``): that ECU's status message (``TCU_Status``)
carries the modem's registration state and signal quality, updated the moment they
change, so a suite can check what the TCU says on CAN against what the modem answers.
Its seeded faults (:data:`harness.sim.ecu.MODEM_FAULTS`, ``modem = [...]`` in the ECU
file) break that report the way real TCU firmware does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gsmmodem.pdu import (  # type: ignore[import-untyped]
    _encodeAddressField,
    _encodeTimestamp,
    decodeSmsPdu,
    encodeGsm7,
    packSeptets,
)

from harness import clock
from harness.datafile import Table, read_toml, suggest
from harness.sim.device import DeviceFault, DeviceSimulation, Wiring
from harness.sim.scheduler import Scheduler

if TYPE_CHECKING:
    from harness.sim.ecu import SimulatedEcu

FAULT_KINDS = (
    "no_answer",
    "garbage",
    "reboot",
    "cme_error",
    "cms_error",
    "no_final_ok",
    "double_cr",
    "urc_in_response",
)
GARBAGE = b"\x00\xff\xfe\x13#\x8f\x1b[?25h\x07"
"""What the garbage fault sends in front of an answer: bytes a noisy line produces."""
CTRL_Z = 0x1A
ESC = 0x1B
LOOPBACK_DELAY = 0.05
"""Seconds before an SMS sent to the SIM's own number comes back (``+CMTI``)."""
CME_TEXT = {3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
            11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure",
            16: "incorrect password", 30: "no network service", 100: "unknown"}  # fmt: skip
"""TS 27.007 9.2.1: the verbose ``+CME ERROR`` texts (``AT+CMEE=2``)."""
CMS_TEXT = {300: "ME failure", 302: "operation not allowed", 303: "operation not supported",
            304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
            311: "SIM PIN required", 321: "invalid memory index", 322: "memory full",
            330: "SMSC address unknown", 331: "no network service",
            500: "unknown error"}  # fmt: skip
"""TS 27.005 3.2.5: ``+CMS ERROR`` codes; the verbose form under ``AT+CMEE=2`` is what
most modems do (the standard names only the codes)."""
MEMORIES = ("SM", "ME")
"""Message storages (``+CPMS``): the SIM and the modem's own memory."""
CAPACITY = {"SM": 30, "ME": 100}
TEST_FORMS: Mapping[str, str | None] = MappingProxyType({
    "+CGMI": None, "+CGMM": None, "+CGMR": None, "+CGSN": None, "+CIMI": None,
    "+GMI": None, "+GMM": None, "+GMR": None, "+GSN": None,
    "+CMEE": "+CMEE: (0-2)", "+CMGF": "+CMGF: (0,1)", "+CSCS": '+CSCS: ("GSM","IRA","UCS2")',
    "+CREG": "+CREG: (0-2)", "+CGREG": "+CGREG: (0-2)", "+CEREG": "+CEREG: (0-2)",
    "+CSQ": "+CSQ: (0-31,99),(0-7,99)", "+COPS": None, "+CNUM": None, "+CPIN": None,
    "+CFUN": "+CFUN: (0,1,4),(0,1)", "+CSCA": None, "+CSMP": None,
    "+CPMS": '+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")',
    "+CNMI": "+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)",
    "+CMGS": None, "+CMGR": None, "+CMGL": None, "+CMGD": "+CMGD: (1-100),(0-4)",
    "+CLIP": "+CLIP: (0,1)", "+CRC": "+CRC: (0,1)", "+CVHU": "+CVHU: (0,1)", "+CLAC": None,
})  # fmt: skip
"""Every extended command the simulation implements, with its ``=?`` answer line (None:
just ``OK``); ``AT+CLAC`` lists these and the file's ``[commands]``."""
PIN_FREE = ("+CPIN", "+CMEE", "+CGMI", "+GMI", "+CGMM", "+GMM", "+CGMR", "+GMR", "+CGSN",
            "+GSN", "+CFUN", "+CLAC", "+CSCS", "+CMGF", "+CREG", "+CGREG", "+CEREG", "+CSQ",
            "+CLIP", "+CRC", "+CVHU", "+CNMI", "+COPS")  # fmt: skip
"""Commands a modem answers while its SIM waits for the PIN; the others (the SIM's
data, SMS) fail with ``+CME ERROR: 11``."""
TEXT_STATUS = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT")


@dataclass(frozen=True)
class ModemFault:
    name: str
    kind: str
    description: str = ""
    commands: tuple[str, ...] = ()
    code: int = 0
    quirk: bool = False
    """A quirk real modems have (a robust driver tolerates it), not a bug to catch."""

    def hits(self, command: str) -> bool:
        return not self.commands or any(
            command.upper().startswith(c.upper()) for c in self.commands
        )


@dataclass(frozen=True)
class IncomingSms:
    sender: str
    text: str
    after: float


@dataclass(frozen=True)
class PeriodicUrc:
    """A vendor URC the modem repeats while powered (``[[modem.urc]]``), e.g. Huawei's
    ``^RSSI: {rssi}``; ``{rssi}`` and ``{stat}`` are filled in when it is sent."""

    line: str
    every: float


@dataclass(frozen=True)
class ModemDefinition:
    path: Path
    manufacturer: str
    model: str
    revision: str
    imei: str
    imsi: str
    number: str | None
    """The SIM's own number (``AT+CNUM``); an SMS sent to it comes back."""
    echo: bool
    boot_urcs: tuple[str, ...]
    smsc: str | None
    """The service centre on the SIM (``AT+CSCA?``)."""
    pin: str | None
    """The SIM's PIN: with one, the SIM waits for ``AT+CPIN="PIN"`` after power-up."""
    urcs: tuple[PeriodicUrc, ...]
    cnmi: str
    """The ``+CNMI`` setting after power-up (firmware default): ``2,1,...`` announces each
    stored SMS with ``+CMTI``; ``0,0,...`` stores silently."""
    line_ending: str
    reboot_delay: float
    operator: str
    lac: str
    ci: str
    act: int
    rssi: int
    ber: int
    registration: tuple[tuple[float, int], ...]
    incoming: tuple[IncomingSms, ...]
    commands: Mapping[str, tuple[str, ...]]
    faults: Mapping[str, ModemFault]


def load_modem(path: str | Path) -> ModemDefinition:
    """Read and validate a modem file; mistakes are ConfigErrors naming file and key."""
    path = Path(path)
    doc = Table(read_toml(path, "modem file"), str(path), "")
    head = doc.table("modem")
    manufacturer = head.optional_str("manufacturer") or "ecu-harness"
    model = head.optional_str("model") or "SIM-MODEM"
    revision = head.optional_str("revision") or "R01"
    imei = head.optional_str("imei") or "356938035643809"
    imsi = head.optional_str("imsi") or "001010123456789"
    for key, value in (("imei", imei), ("imsi", imsi)):
        if not value.isdigit():
            raise head.error(key, f"expected digits, got {value!r}")
    number = head.optional_str("number")
    if number is not None and not number.removeprefix("+").isdigit():
        raise head.error("number", f"expected digits after an optional '+', got {number!r}")
    echo = head.boolean("echo", True)
    boot_urcs = tuple(head.str_list("boot_urcs") or ["RDY"])
    line_ending = head.optional_str("line_ending") or "\r\n"
    cnmi = head.optional_str("cnmi", "2,1,0,0,0") or "2,1,0,0,0"
    reboot_delay = head.number("reboot_ms", 30.0) / 1000
    smsc = head.optional_str("smsc")
    pin = head.optional_str("pin")
    for key, digits in (("smsc", smsc), ("pin", pin)):
        if digits is not None and not digits.removeprefix("+").isdigit():
            raise head.error(key, f"expected digits, got {digits!r}")
    urcs = _periodic_urcs(head)
    head.finish()

    net = doc.table("network")
    operator = net.optional_str("operator") or "SIM Mobile"
    lac = net.optional_str("lac") or "00C3"
    ci = net.optional_str("ci") or "0000A13F"
    act = net.optional_int("act", minimum=0) or 0
    rssi = net.optional_int("rssi", minimum=0)
    ber = net.optional_int("ber", minimum=0)
    steps = []
    for step in net.tables("registration"):
        stat = step.optional_int("stat", minimum=0)
        if stat is None or stat > 5:
            raise step.error(
                "stat", "expected 0..5 (0 idle, 1 home, 2 searching, 3 denied, 5 roaming)"
            )
        steps.append((step.number("after_ms", 0.0) / 1000, stat))
        step.finish()
    net.finish()

    sms = doc.table("sms")
    incoming = []
    for entry in sms.tables("incoming"):
        incoming.append(
            IncomingSms(
                entry.required_str("sender"),
                entry.required_str("text"),
                entry.number("after_ms", 0.0) / 1000,
            )
        )
        entry.finish()
    sms.finish()

    commands_table = doc.table("commands")
    commands = {
        name.upper(): tuple(commands_table.str_list(name)) for name in list(commands_table.data)
    }
    commands_table.finish()

    faults = _faults(doc.table("faults"))
    doc.finish()
    return ModemDefinition(
        path=path,
        manufacturer=manufacturer,
        model=model,
        revision=revision,
        imei=imei,
        imsi=imsi,
        number=number,
        echo=echo,
        boot_urcs=boot_urcs,
        smsc=smsc,
        pin=pin,
        urcs=tuple(urcs),
        cnmi=cnmi,
        line_ending=line_ending,
        reboot_delay=reboot_delay,
        operator=operator,
        lac=lac,
        ci=ci,
        act=act,
        rssi=21 if rssi is None else rssi,
        ber=99 if ber is None else ber,
        registration=tuple(steps) or ((0.0, 1),),
        incoming=tuple(incoming),
        commands=MappingProxyType(commands),
        faults=MappingProxyType(faults),
    )


def _periodic_urcs(head: Table) -> list[PeriodicUrc]:
    """``[[modem.urc]]``: line (``{rssi}``/``{stat}`` filled in) and every_ms."""
    urcs = []
    for urc in head.tables("urc"):
        line = urc.required_str("line")
        try:
            line.format(rssi=0, stat=0)
        except (KeyError, IndexError, ValueError):
            raise urc.error(
                "line", f"only {{rssi}} and {{stat}} may be filled in: {line!r}"
            ) from None
        every = urc.number("every_ms", 0.0) / 1000
        if every <= 0:
            raise urc.error("every_ms", "expected milliseconds > 0")
        urcs.append(PeriodicUrc(line, every))
        urc.finish()
    return urcs


def _faults(faults_table: Table) -> dict[str, ModemFault]:
    """``[faults.NAME]``: kind, description, commands, code, quirk."""
    faults = {}
    for name in list(faults_table.data):
        table = faults_table.table(name)
        kind = table.required_str("kind")
        if kind not in FAULT_KINDS:
            raise table.error("kind", f"unknown fault kind{suggest(kind, list(FAULT_KINDS))}; "
                              f"kinds: {', '.join(FAULT_KINDS)}")  # fmt: skip
        faults[name] = ModemFault(
            name,
            kind,
            table.optional_str("description", "") or "",
            tuple(table.str_list("commands")),
            table.optional_int("code", minimum=0) or (100 if kind == "cme_error" else 500),
            table.boolean("quirk", False),
        )
        table.finish()
    faults_table.finish()
    return faults


@dataclass(frozen=True)
class SentSms:
    """An SMS the harness sent through the simulated modem."""

    number: str
    text: str
    reference: int
    pdu: str | None = None


@dataclass
class _StoredSms:
    sender: str
    text: str
    time: datetime
    read: bool = False

    @property
    def status(self) -> int:
        """TS 27.005 <stat>: 0 received unread, 1 received read."""
        return 1 if self.read else 0


@dataclass
class _State:
    """What a reset returns to its defaults."""

    echo: bool
    cnmi: str
    cmee: int = 0
    cmgf: int = 0
    reg_modes: dict[str, int] = field(default_factory=lambda: {"CREG": 0, "CGREG": 0, "CEREG": 0})
    cscs: str = "GSM"
    memories: list[str] = field(default_factory=lambda: ["SM", "SM", "SM"])
    """``+CPMS``: where messages are read/deleted, written, and received into."""
    csmp: str = "17,167,0,0"
    clip: int = 0
    crc: int = 0
    cvhu: int = 1
    cops_format: int = 0


class ModemSimulation(DeviceSimulation):
    """The simulated modem. ``start()`` powers it up (boot URCs, then the registration
    sequence); ``fault_on(name)`` switches a fault of its file on."""

    kind = "modem"

    @classmethod
    def from_file(cls, path: Path, name: str) -> ModemSimulation:
        return cls(load_modem(path), name)

    @classmethod
    def faults_in(cls, path: Path) -> Mapping[str, DeviceFault]:
        return load_modem(path).faults

    def wire(self, wiring: Wiring) -> None:
        """Powered with the ECU it is built into (which reports it on CAN), else on its own;
        returns once the driver has read the first boot URC (a command sent while it boots
        would be cut short)."""
        if wiring.ecu is not None:
            wiring.ecu.attach(self)
            link_report(self, wiring.ecu)
        else:
            self.start()
        boot = self.definition.boot_urcs
        if boot and self.powered:
            wiring.driver.wait_urc(boot[0], since=0)

    def __init__(self, definition: ModemDefinition, name: str = "modem") -> None:
        super().__init__(name)
        self.definition = definition
        self.state = self._defaults()
        self.stat = 0
        self.rssi = definition.rssi
        """The network's signal (``+CSQ`` says 99 while not registered)."""
        self.ber = definition.ber
        self.deregistered = False
        """``AT+COPS=2``: off the network until ``AT+COPS=0``."""
        self.powered = False
        self.boots = 0
        self.booted_at = 0.0
        """``clock.now()`` just before the last boot's URCs were written."""
        self.sent: list[SentSms] = []
        self.commands: list[str] = []
        """Every command line received (without AT), for tests."""
        self.storage: dict[str, dict[int, _StoredSms]] = {memory: {} for memory in MEMORIES}
        """Stored messages by memory (``+CPMS``) and index."""
        self.smsc = definition.smsc
        self.sim_locked = definition.pin is not None
        """Waiting for ``AT+CPIN="PIN"``: registration starts once it is entered."""
        self._reference = 0
        self._line = bytearray()
        self._entry: tuple[str, bytearray] | None = None
        """While taking an SMS body after ``> ``: (the CMGS argument, the body so far)."""
        self._rebooting = False
        self._scheduler: Scheduler | None = None
        self._attempt = 0
        """Numbers registration attempts: steps of an abandoned one do nothing."""
        self._watchers: list[Callable[[], None]] = []
        self._after_answer: list[Callable[[], None]] = []
        """What the running command does once its answer is out (before the next command)."""
        self._held: dict[PeriodicUrc, str] = {}
        """Periodic URCs that fell due while a command was unanswered: written after its
        final result (the latest line of each), so clients never see one mid-command."""

    @property
    def fault_table(self) -> Mapping[str, ModemFault]:
        return self.definition.faults

    def _defaults(self) -> _State:
        return _State(self.definition.echo, self.definition.cnmi)

    def watch(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (with ``self.lock`` held) whenever power, registration or
        signal change: what a TCU built around this modem reports follows it."""
        with self.lock:
            self._watchers.append(listener)

    def _changed(self) -> None:
        for listener in self._watchers:
            listener()

    # -- power ----------------------------------------------------------------------

    def start(self) -> None:
        """Power up: boot URCs, then the registration sequence."""
        with self.lock:
            if self.powered:
                return
            self.powered = True
            self._boot()

    def stop(self) -> None:
        """Power down: silent and deaf until ``start()``."""
        with self.lock:
            was_powered, self.powered = self.powered, False
            scheduler, self._scheduler = self._scheduler, None
            if was_powered:
                self._changed()
        if scheduler is not None:
            scheduler.close()

    def close(self) -> None:
        self.stop()
        super().close()

    def _boot(self) -> None:
        self.boots += 1
        self.booted_at = clock.now()
        self.state = self._defaults()
        self.stat = 0
        self.deregistered = False
        self.sim_locked = self.definition.pin is not None
        self._line.clear()
        self._entry = None
        self._held.clear()
        self._rebooting = False
        if self._scheduler is None:
            self._scheduler = Scheduler(f"modem {self.name}")
        else:
            self._scheduler.cancel_all()
        for urc in self.definition.boot_urcs:
            self._urc(urc)
        self._changed()
        for periodic in self.definition.urcs:
            self._later(periodic.every, functools.partial(self._repeat, periodic))
        if not self.sim_locked:
            self._attach()

    def _repeat(self, periodic: PeriodicUrc) -> None:
        """A periodic URC is due: out now, or held while a command is unanswered (its line
        partly received, or its SMS body being typed). A real modem may interleave; the
        simulation does not, so client tests do not race (a URC can still cross a command
        the client has written and the modem not yet read)."""
        line = periodic.line.format(rssi=self.reported_rssi, stat=self.stat)
        if self._line or self._entry is not None:
            self._held[periodic] = line
        else:
            self._urc(line)
        self._later(periodic.every, functools.partial(self._repeat, periodic))

    def _release(self) -> None:
        """Write the periodic URCs held during the command just answered."""
        held, self._held = self._held, {}
        for line in held.values():
            self._urc(line)

    def _attach(self) -> None:
        """Go through the registration sequence (after boot, or ``AT+COPS=0``)."""
        self._attempt += 1
        for after, stat in self.definition.registration:
            self._later(after, functools.partial(self._step, self._attempt, stat))

    def _step(self, attempt: int, stat: int) -> None:
        if attempt == self._attempt and not self.deregistered:
            self._register(stat)

    def reboot(self) -> None:
        """Restart now: input is ignored until the boot URCs come out ``reboot_ms`` later."""
        with self.lock:
            self._rebooting = True
            self._entry = None
            self._line.clear()
            if self._scheduler is not None:
                self._scheduler.cancel_all()
            self._later(self.definition.reboot_delay, self._boot)

    def _later(self, delay: float, action: Callable[[], object]) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return

        def run() -> None:
            with self.lock:
                if self.powered and scheduler is self._scheduler:
                    action()

        scheduler.call_later(delay, run)

    # -- network --------------------------------------------------------------------

    def _register(self, stat: int) -> None:
        was_registered = self.registered
        changed = stat != self.stat
        self.stat = stat
        for tech in ("CREG", "CGREG", "CEREG"):
            mode = self.state.reg_modes[tech]
            if mode:
                self._urc(f"+{tech}: {self._registration_fields(mode, urc=True)}")
        if self.registered and not was_registered:
            for sms in self.definition.incoming:
                self._later(sms.after, functools.partial(self._deliver, sms.sender, sms.text))
        if changed:
            self._changed()

    @property
    def registered(self) -> bool:
        return self.stat in (1, 5)

    def set_registration(self, stat: int) -> None:
        """Change the registration state now (URCs follow the modes the harness set)."""
        with self.lock:
            self._attempt += 1  # the network decided: pending steps are moot
            self._register(stat)

    def set_signal(self, rssi: int, ber: int | None = None) -> None:
        """The network's signal changes (``+CSQ`` rssi 0..31, 99 unknown; ber 0..7, 99)."""
        if not (0 <= rssi <= 31 or rssi == 99):
            raise ValueError(f"rssi must be 0..31 or 99, got {rssi}")
        with self.lock:
            changed = rssi != self.rssi
            self.rssi = rssi
            if ber is not None:
                self.ber = ber
            if changed:
                self._changed()

    @property
    def reported_rssi(self) -> int:
        """What ``+CSQ`` answers now: the signal once registered, else 99 (not known)."""
        return self.rssi if self.powered and self.registered else 99

    def deliver_sms(self, sender: str, text: str) -> int:
        """An SMS arrives from the network: stored, then ``+CMTI: "SM",<index>``."""
        with self.lock:
            return self._deliver(sender, text)

    def _deliver(self, sender: str, text: str) -> int:
        """Store in the receive memory (``+CPMS`` mem3); ``+CMTI`` if ``+CNMI`` asks."""
        memory = self.state.memories[2]
        stored = self.storage[memory]
        index = next(i for i in range(1, CAPACITY[memory] + 1) if i not in stored)
        stored[index] = _StoredSms(sender, text, datetime.now(timezone(timedelta(hours=2))))
        if self.state.cnmi.split(",")[1:2] == ["1"]:
            self._urc(f'+CMTI: "{memory}",{index}')
        return index

    def _registration_fields(self, mode: int, *, urc: bool) -> str:
        fields = [str(self.stat)]
        if mode == 2 and self.registered:
            d = self.definition
            fields += [f'"{d.lac}"', f'"{d.ci}"', str(d.act)]
        return ",".join(fields) if urc else ",".join([str(mode), *fields])

    # -- faults ---------------------------------------------------------------------

    def _active(self, kind: str, command: str) -> ModemFault | None:
        for name in sorted(self.active_faults):
            fault = self.definition.faults[name]
            if fault.kind == kind and fault.hits(command):
                return fault
        return None

    # -- output ---------------------------------------------------------------------

    @property
    def _eol(self) -> str:
        return "\r\r\n" if self._active("double_cr", "") else self.definition.line_ending

    def _urc(self, line: str) -> None:
        self.output(f"{self._eol}{line}{self._eol}")

    def _answer(self, command: str, lines: list[str], final: str | None) -> None:
        eol = self._eol
        if self._active("garbage", command):
            self.output(GARBAGE)
        text = "".join(f"{eol}{line}{eol}" for line in lines)
        if lines and self._active("urc_in_response", command):
            first = f"{eol}{lines[0]}{eol}"
            text = first + f"{eol}+CREG: {self.stat}{eol}{eol}RING{eol}" + text[len(first) :]
        if final is not None and not self._active("no_final_ok", command):
            text += f"{eol}{final}{eol}"
        self.output(text)
        if final is not None:
            self._release()

    def _error(self, code: int, *, sms: bool = False) -> str:
        """The final result of a failed command as ``+CMEE`` asks: 0 plain ``ERROR`` (an
        SMS command's ``+CMS ERROR`` stays numeric, TS 27.005 3.2.5), 1 numeric, 2 verbose."""
        if sms:
            if self.state.cmee == 2:
                return f"+CMS ERROR: {CMS_TEXT.get(code, 'unknown error')}"
            return f"+CMS ERROR: {code}"
        if self.state.cmee == 1:
            return f"+CME ERROR: {code}"
        if self.state.cmee == 2:
            return f"+CME ERROR: {CME_TEXT.get(code, 'unknown')}"
        return "ERROR"

    # -- input ----------------------------------------------------------------------

    def _deaf(self) -> bool:
        """Off, or restarting: input is lost."""
        return not self.powered or self._rebooting

    def feed(self, data: bytes) -> None:
        for byte in data:
            if self._deaf():
                return
            if self._entry is not None:
                self._take_body(byte)
                continue
            if self.state.echo:
                self.output(bytes([byte]))
            if byte == 0x0D:  # S3: the command line ends
                line = self._line.decode("latin-1").strip()
                self._line.clear()
                if line:
                    self._command_line(line)
            elif byte == 0x0A:
                continue
            elif byte in (0x08, 0x7F):
                if self._line:
                    self._line.pop()
            else:
                self._line.append(byte)

    def _command_line(self, line: str) -> None:
        if line[:2].upper() != "AT":
            self._release()
            return  # not a command: a modem ignores it
        command = line[2:]
        self.commands.append(command)
        if self._active("no_answer", command):
            self._release()  # swallowed: nothing more will end it
            return
        if self._active("reboot", command) and not command.upper().startswith("+CMGS"):
            prefix = re.match(r"[+^][A-Z]+", command.upper())
            self.output(f"{self._eol}{prefix.group(0) if prefix else ''}: ")  # a partial line
            self.reboot()
            return
        error = self._active("cme_error", command)
        if error is not None:
            self._answer(command, [], self._error(error.code))
            return
        try:
            lines, final = self._execute(command)
        except _Refused as refused:
            lines, final = [], refused.result
            self._after_answer.clear()
        if final is not None or lines:
            self._answer(command, lines, final)
        after, self._after_answer = self._after_answer, []
        for action in after:  # e.g. the +CREG URC of a deregistration, after its OK
            action()

    def _execute(self, command: str) -> tuple[list[str], str | None]:
        """(answer lines, final result); final None means the command answers later."""
        upper = command.upper()
        d = self.definition
        if upper == "":
            return [], "OK"
        if upper in ("E0", "E1"):
            self.state.echo = upper == "E1"
            return [], "OK"
        if upper in ("Z", "&F"):
            self.state = self._defaults()
            return [], "OK"
        name = re.match(r"[+^][A-Z]+|", upper).group(0)  # type: ignore[union-attr]
        if upper.endswith("=?") and name in TEST_FORMS and upper == f"{name}=?":
            line = TEST_FORMS[name]
            if name == "+CMGL":
                line = (
                    "+CMGL: (0-4)"
                    if self.state.cmgf == 0
                    else ("+CMGL: (" + ",".join(f'"{s}"' for s in (*TEXT_STATUS, "ALL")) + ")")
                )
            return ([] if line is None else [line]), "OK"
        if self.sim_locked and name and name not in PIN_FREE:
            raise _Refused(self._error(11, sms=False))
        if name == "+CPIN":
            return self._pin(command.partition("=")[2].strip().strip('"'), upper)
        if name == "+CLAC":
            extra = {c.split("=")[0].rstrip("?") for c in d.commands}
            return [f"AT{c}" for c in sorted({*TEST_FORMS, *extra})], "OK"  # 27.007 8.37
        settings = self._settings(name, upper, command)
        if settings is not None:
            return settings
        identity = {
            "+CGMI": d.manufacturer, "+GMI": d.manufacturer, "+CGMM": d.model, "+GMM": d.model,
            "+CGMR": d.revision, "+GMR": d.revision, "+CGSN": d.imei, "+GSN": d.imei,
            "+CIMI": d.imsi,
        }  # fmt: skip
        if upper in identity:
            return [identity[upper]], "OK"
        if upper.startswith("+CMEE"):
            return self._setting(upper, "+CMEE", "cmee", 2)
        if upper.startswith("+CMGF"):
            return self._setting(upper, "+CMGF", "cmgf", 1)
        for tech in ("CREG", "CGREG", "CEREG"):
            if upper == f"+{tech}?":
                return [
                    f"+{tech}: {self._registration_fields(self.state.reg_modes[tech], urc=False)}"
                ], "OK"
            if upper.startswith(f"+{tech}="):
                mode = upper.partition("=")[2]
                if mode == "?":
                    return [f"+{tech}: (0-2)"], "OK"
                if mode not in ("0", "1", "2"):
                    raise _Refused(self._error(4))
                self.state.reg_modes[tech] = int(mode)
                return [], "OK"
        if upper == "+CSQ":
            return [f"+CSQ: {self.reported_rssi},{self.ber}"], "OK"
        if upper == "+COPS?":
            selection = 2 if self.deregistered else 0
            if not self.registered:
                return [f"+COPS: {selection}"], "OK"
            return [f'+COPS: {selection},0,"{d.operator}",{d.act}'], "OK"
        if upper.startswith("+COPS=3,"):  # only the operator's name format
            self.state.cops_format = int(upper[-1]) if upper[-1] in "012" else 0
            return [], "OK"
        if upper.startswith("+COPS="):
            return self._operator_selection(upper.partition("=")[2])
        if upper == "+CNUM":
            if d.number is None:
                return [], "OK"
            kind = 145 if d.number.startswith("+") else 129
            return [f'+CNUM: "","{d.number}",{kind}'], "OK"
        if upper in ("+CFUN=1,1", "+CFUN=1"):
            if upper.endswith(",1"):  # TS 27.007 8.2: reset the MT before full functionality
                self._after_answer.append(self.reboot)
            return [], "OK"
        if upper.startswith("+CMGS="):
            self._entry = (command.partition("=")[2], bytearray())
            self.output(f"{self._eol}> ")
            return [], None
        if upper.startswith("+CMGR="):
            return self._read(upper.partition("=")[2])
        if upper.startswith("+CMGD="):
            return self._delete(upper.partition("=")[2])
        if upper in d.commands:
            return list(d.commands[upper]), "OK"
        return [], "ERROR"

    def _settings(self, name: str, upper: str, command: str) -> tuple[list[str], str] | None:
        """The settings commands and SMS storage (None: not one of them)."""
        if name == "+CSCS":
            return self._quoted_setting(upper, "+CSCS", "cscs", ("GSM", "IRA", "UCS2"))
        if name in ("+CLIP", "+CRC", "+CVHU"):
            return self._setting(upper, name, name[1:].lower(), 1)
        if name == "+CSMP":
            if upper == "+CSMP?":
                return [f"+CSMP: {self.state.csmp}"], "OK"
            self.state.csmp = upper.partition("=")[2]
            return [], "OK"
        if name == "+CNMI":
            return self._notifications(upper)
        if name == "+CSCA":
            return self._service_centre(command.partition("=")[2])
        if name == "+CPMS":
            return self._memories(upper)
        if name == "+CMGL":
            return self._list(upper.partition("=")[2])
        return None

    def _operator_selection(self, argument: str) -> tuple[list[str], str]:
        """``AT+COPS=0`` (automatic: register again) and ``=2`` (deregister), TS 27.007 7.3."""
        mode = argument.partition(",")[0].strip()
        if mode == "2":
            self.deregistered = True
            self._attempt += 1
            if self.stat != 0:
                self._after_answer.append(functools.partial(self._register, 0))
            return [], "OK"
        if mode == "0":
            if self.deregistered or not self.registered:
                self.deregistered = False
                self._after_answer.append(self._attach)
            return [], "OK"
        if argument == "?":
            return [
                f'+COPS: (2,"{self.definition.operator}","","00101",{self.definition.act})'
            ], "OK"
        raise _Refused(self._error(4))

    def _setting(self, upper: str, name: str, attribute: str, top: int) -> tuple[list[str], str]:
        if upper == f"{name}?":
            return [f"{name}: {getattr(self.state, attribute)}"], "OK"
        if upper == f"{name}=?":
            return [f"{name}: (0-{top})"], "OK"
        value = upper.partition("=")[2]
        if not value.isdigit() or int(value) > top:
            raise _Refused(self._error(4))
        setattr(self.state, attribute, int(value))
        return [], "OK"

    def _read(self, argument: str) -> tuple[list[str], str]:
        stored = self.storage[self.state.memories[0]]
        if not argument.isdigit() or int(argument) not in stored:
            raise _Refused(self._error(321, sms=True))
        sms = stored[int(argument)]
        lines = self._message_lines("+CMGR: ", sms)
        sms.read = True
        return lines, "OK"

    def _message_lines(self, head: str, sms: _StoredSms) -> list[str]:
        """A stored message as ``+CMGR``/``+CMGL`` show it (TS 27.005 3.4.1, 4.1, 4.2)."""
        if self.state.cmgf == 1:
            stamp = sms.time.strftime("%y/%m/%d,%H:%M:%S") + "+08"
            return [f'{head}"{TEXT_STATUS[sms.status]}","{sms.sender}",,"{stamp}"', sms.text]
        pdu = deliver_pdu(sms.sender, sms.text, sms.time)
        return [f"{head}{sms.status},,{len(pdu) // 2 - 1}", pdu]

    def _list(self, argument: str) -> tuple[list[str], str]:
        """``+CMGL``: the messages of read memory with a status (``ALL``/4 for every one)."""
        wanted = argument.strip().strip('"')
        names = (*TEXT_STATUS, "ALL") if self.state.cmgf == 1 else ("0", "1", "2", "3", "4")
        if wanted == "":
            wanted = names[0]
        if wanted not in names:
            raise _Refused(self._error(305 if self.state.cmgf == 1 else 304, sms=True))
        status = names.index(wanted)
        lines = []
        for index, sms in sorted(self.storage[self.state.memories[0]].items()):
            if status in (4, sms.status):
                lines += self._message_lines(f"+CMGL: {index},", sms)
                sms.read = True
        return lines, "OK"

    def _delete(self, argument: str) -> tuple[list[str], str]:
        """``+CMGD=index[,delflag]``: flag 0 that one, 1 read, 2 read and sent, 3 and unsent,
        4 all (TS 27.005 3.5.4; this SIM stores only received messages)."""
        stored = self.storage[self.state.memories[0]]
        index, _, flag = argument.partition(",")
        if not index.strip().isdigit() or flag.strip() not in ("", "0", "1", "2", "3", "4"):
            raise _Refused(self._error(302, sms=True))
        if flag.strip() in ("", "0"):
            if int(index) not in stored:
                raise _Refused(self._error(321, sms=True))
            del stored[int(index)]
            return [], "OK"
        for number in [i for i, sms in stored.items() if flag.strip() == "4" or sms.read]:
            del stored[number]
        return [], "OK"

    def _memories(self, upper: str) -> tuple[list[str], str]:
        """``+CPMS``: choose the read/delete, write and receive memories (TS 27.005 3.2.2)."""

        def usage(memory: str) -> str:
            return f"{len(self.storage[memory])},{CAPACITY[memory]}"

        if upper == "+CPMS?":
            return ["+CPMS: " + ",".join(f'"{m}",{usage(m)}' for m in self.state.memories)], "OK"
        chosen = [m.strip().strip('"') for m in upper.partition("=")[2].split(",")]
        if not 1 <= len(chosen) <= 3 or any(m not in MEMORIES for m in chosen):
            raise _Refused(self._error(302, sms=True))
        self.state.memories[: len(chosen)] = chosen
        return ["+CPMS: " + ",".join(usage(m) for m in self.state.memories)], "OK"

    def _notifications(self, upper: str) -> tuple[list[str], str]:
        """``+CNMI=mode,mt,bm,ds,bfr``: mt 1 announces stored messages with ``+CMTI``; mt 2
        and 3 (route to the terminal as ``+CMT``) are not simulated and refused."""
        if upper == "+CNMI?":
            return [f"+CNMI: {self.state.cnmi}"], "OK"
        fields = upper.partition("=")[2].split(",")
        if not all(f.strip().isdigit() for f in fields) or len(fields) > 5:
            raise _Refused(self._error(302, sms=True))
        if len(fields) > 1 and fields[1].strip() not in ("0", "1"):
            raise _Refused(self._error(303, sms=True))
        old = self.state.cnmi.split(",")
        self.state.cnmi = ",".join(f.strip() for f in fields + old[len(fields) :])
        return [], "OK"

    def _service_centre(self, argument: str) -> tuple[list[str], str]:
        """``+CSCA?`` and ``+CSCA="number"[,type]`` (TS 27.005 3.3.1)."""
        if argument == "":  # the query: AT+CSCA?
            if self.smsc is None:
                raise _Refused(self._error(330, sms=True))
            kind = 145 if self.smsc.startswith("+") else 129
            return [f'+CSCA: "{self.smsc}",{kind}'], "OK"
        number = argument.split(",", maxsplit=1)[0].strip().strip('"')
        if not number.removeprefix("+").isdigit():
            raise _Refused(self._error(304, sms=True))
        self.smsc = number
        return [], "OK"

    def _pin(self, argument: str, upper: str) -> tuple[list[str], str]:
        """``+CPIN?`` (READY or SIM PIN) and ``+CPIN="PIN"`` (TS 27.007 8.3)."""
        if upper == "+CPIN?":
            return ["+CPIN: SIM PIN" if self.sim_locked else "+CPIN: READY"], "OK"
        if not self.sim_locked:
            raise _Refused(self._error(3))  # nothing to enter
        if argument != self.definition.pin:
            raise _Refused(self._error(16))
        self.sim_locked = False
        self._after_answer.append(self._attach)
        return [], "OK"

    def _quoted_setting(
        self, upper: str, name: str, attribute: str, values: tuple[str, ...]
    ) -> tuple[list[str], str]:
        if upper == f"{name}?":
            return [f'{name}: "{getattr(self.state, attribute)}"'], "OK"
        value = upper.partition("=")[2].strip().strip('"')
        if value not in values:
            raise _Refused(self._error(4))
        setattr(self.state, attribute, value)
        return [], "OK"

    def _take_body(self, byte: int) -> None:
        assert self._entry is not None
        argument, body = self._entry
        if byte == ESC:
            self._entry = None
            self._answer("+CMGS", [], "OK")  # cancelled: nothing sent
            return
        if byte != CTRL_Z:
            body.append(byte)
            if self.state.echo:
                self.output(bytes([byte]))
            return
        self._entry = None
        command = f"+CMGS={argument}"
        if self._active("reboot", command):
            self.reboot()
            return
        refused = self._active("cms_error", command)
        if refused is not None:
            self._answer(command, [], self._error(refused.code, sms=True))
            return
        if not self.registered:
            self._answer(command, [], self._error(331, sms=True))
            return
        try:
            sent = self._message(argument, body.decode("latin-1"))
        except _Refused as error:
            self._answer(command, [], error.result)
            return
        self.sent.append(sent)
        self._answer(command, [f"+CMGS: {sent.reference}"], "OK")
        own = self.definition.number
        if own is not None and _same_number(sent.number, own):
            self._later(LOOPBACK_DELAY, functools.partial(self._deliver, own, sent.text))

    def _message(self, argument: str, body: str) -> SentSms:
        self._reference = (self._reference + 1) % 256
        if self.state.cmgf == 1:
            number = argument.split(",", 1)[0].strip().strip('"')
            return SentSms(number, body, self._reference)
        text = body.strip()
        try:
            decoded = decodeSmsPdu(text)
        except Exception:  # noqa: BLE001 - python-gsmmodem raises anything on a bad PDU
            raise _Refused(self._error(304, sms=True)) from None
        if not argument.strip().isdigit() or decoded.get("tpdu_length") != int(argument):
            raise _Refused(self._error(304, sms=True))
        return SentSms(str(decoded.get("number")), str(decoded.get("text")), self._reference, text)


def _same_number(a: str, b: str) -> bool:
    return a.lstrip("+") == b.lstrip("+")


class _Refused(Exception):  # noqa: N818 - control flow inside the simulation, never escapes
    def __init__(self, result: str) -> None:
        super().__init__(result)
        self.result = result


def deliver_pdu(sender: str, text: str, when: datetime) -> str:
    """An SMS-DELIVER PDU (hex, no SMSC) in the GSM 7-bit alphabet, built with
    python-gsmmodem's field encoders (it has no SMS-DELIVER encoder of its own)."""
    pdu = bytearray([0x00, 0x04])  # no SMSC; SMS-DELIVER, no more messages to send
    pdu += _encodeAddressField(sender)
    pdu += bytes([0x00, 0x00])  # protocol identifier, data coding: GSM 7-bit
    pdu += _encodeTimestamp(when)
    septets = encodeGsm7(text)
    pdu.append(len(septets))
    pdu += packSeptets(septets)
    return pdu.hex().upper()


@dataclass(frozen=True)
class ReportLayout:
    """Where a TCU reports its modem on CAN: the message, its two signals and the fixed
    values that select them (a multiplexer)."""

    message: str = "TCU_Status"
    registration: str = "RegistrationState"
    """Carries the ``+CREG`` stat (0..5) as the DBC's value table names it."""
    signal: str = "SignalQuality"
    """Carries the ``+CSQ`` rssi (0..31, 99 not known)."""
    fixed: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({"InfoType": 0}))


def signal_bars(rssi: int) -> int:
    """The 0..5 bars a phone shows for ``+CSQ`` rssi 0..31 (what the ``signal_in_bars``
    fault reports instead of the rssi)."""
    return rssi if rssi == 99 else min(5, rssi // 6)


class ModemReport:
    """The simulated ECU's report of its modem: a service of the ECU (runs while it is
    powered) that writes the modem's registration and signal into the ECU's status
    message whenever the modem's state changes, and again after the ECU's messages are
    reset. Build it with :func:`link_report`."""

    def __init__(self, modem: ModemSimulation, ecu: SimulatedEcu, layout: ReportLayout) -> None:
        self.modem = modem
        self.ecu = ecu
        self.layout = layout
        self.running = False
        self._last_registered: int | None = None
        modem.watch(self._update)

    def start(self) -> None:
        with self.modem.lock:
            self.running = True
            self._last_registered = None  # a restarted ECU remembers nothing
            self._update()

    def stop(self) -> None:
        with self.modem.lock:
            self.running = False

    def refresh(self) -> None:
        """Write the modem's state again (after the ECU's messages were reset)."""
        with self.modem.lock:
            self._update()

    def values(self) -> dict[str, Any]:
        """The signals the report sends now, the ECU's seeded faults applied."""
        modem = self.modem
        primitives = {
            primitive
            for name in self.ecu.active_faults
            for primitive in self.ecu.definition.faults[name].modem
        }
        stat = modem.stat if modem.powered else 0
        if stat in (1, 5):
            self._last_registered = stat
        elif "registration_stuck" in primitives and self._last_registered is not None:
            stat = self._last_registered
        rssi = modem.reported_rssi
        if "signal_in_bars" in primitives:
            rssi = signal_bars(rssi)
        if "unknown_signal_as_zero" in primitives and rssi == 99:
            rssi = 0
        layout = self.layout
        return {**layout.fixed, layout.registration: stat, layout.signal: rssi}

    def _update(self) -> None:
        """Called with the modem's lock held (see :meth:`ModemSimulation.watch`)."""
        residual = self.ecu.residual
        if self.running and residual is not None:
            residual.set(self.layout.message, self.values())


def link_report(
    modem: ModemSimulation, ecu: SimulatedEcu, layout: ReportLayout | None = None
) -> ModemReport | None:
    """Make ``ecu`` report ``modem`` on CAN, if it sends the layout's message with its
    signals (None otherwise: an ECU that says nothing about its modem)."""
    layout = layout or ReportLayout()
    db = ecu.definition.db
    own = {m.name for m in db.messages if ecu.definition.node in m.senders}
    if layout.message not in own:
        return None
    names = {s.name for s in db.message(layout.message).signals}
    if not {layout.registration, layout.signal, *layout.fixed} <= names:
        return None
    report = ModemReport(modem, ecu, layout)
    ecu.reset_hooks.append(report.refresh)
    ecu.attach(report)
    return report

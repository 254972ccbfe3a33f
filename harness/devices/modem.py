"""An AT-command modem (3GPP TS 27.007 / 27.005) over serial.

>>> modem = Modem.open(config)                           # doctest: +SKIP
>>> modem.command("AT+CSQ").fields("+CSQ:")              # doctest: +SKIP
['21', '99']
>>> modem.wait_registered(timeout=30).registered         # doctest: +SKIP
True
>>> modem.send_sms("+491701234567", "hello")             # doctest: +SKIP
7

The port's reader thread parses every line as it arrives:

- the echo of the running command is dropped (echo on or off, learnt as it goes);
- final result codes (``OK``, ``ERROR``, ``+CME ERROR: n``, ``+CMS ERROR: n``,
  ``NO CARRIER``...) complete the running command, the lines before them are its
  intermediate response;
- unsolicited result codes (``RING``, ``+CMTI:``, ``+CREG:``..., vendors' ``^RSSI:``,
  ``^BOOT:``, ``+QIND:``, ``Call Ready`` and whatever ``urc_patterns`` adds) go to their
  own numbered list, never into an answer, whether a command is running or not, and
  :meth:`Modem.wait_urc` waits on them. ``+CREG: 1,"00C3",...`` during ``AT+CREG?`` is
  told apart from the answer ``+CREG: 2,1,"00C3",...`` by its shape; ``+CMT:`` takes its
  next line as its body;
- empty lines are skipped, so ``\\r\\r\\n`` and missing blank lines do no harm; lines of
  line noise (control characters, undecodable bytes) are set aside as ``noise``;
- a boot URC (``RDY``, ``^SYSSTART``) while a command runs fails it with a
  :class:`~harness.exceptions.ModemError` of kind ``"reboot"`` instead of a timeout.

A command that gets no final result within its timeout raises
:class:`~harness.exceptions.DeviceTimeoutError` showing what did arrive; one whose
modem never sends the final ``OK`` can be run with ``final_optional=True``, and
``send_sms`` keeps the reference of a ``+CMGS:`` whose ``OK`` never comes, with a
:class:`MissingFinalResult` warning.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gsmmodem.pdu import decodeSmsPdu, encodeSmsSubmitPdu  # type: ignore[import-untyped]

from harness import clock
from harness.closing import Closing
from harness.devices.port import SerialPort, _show
from harness.exceptions import DeviceError, DeviceTimeoutError, ModemError

if TYPE_CHECKING:
    from harness.devices.config import PowerConfig, SerialDeviceConfig
    from harness.devices.log import SerialLog

FINAL_OK = ("OK", "CONNECT")
FINAL_ERROR = (
    "ERROR",
    "+CME ERROR:",
    "+CMS ERROR:",
    "NO CARRIER",
    "BUSY",
    "NO ANSWER",
    "NO DIALTONE",
    "COMMAND NOT SUPPORT",
)
URC_PREFIXES = (
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CCWA:",
    "+CMTI:",
    "+CMT:",
    "+CDSI:",
    "+CDS:",
    "+CBM:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+C5GREG:",
    "+CUSD:",
    "+CGEV:",
    "+CIEV:",
    "+CPIN:",
    "+CFUN:",
    "+QIND:",
    "+QUSIM:",
    "+UUSTS:",
    "+WIND:",
    "CALL READY",
    "SMS READY",
    "RDY",
    "^SYSSTART",
    "+SYSSTART",
    "POWERED DOWN",
)
"""Lines a modem sends unasked. One that the running command asked for (``+CPIN:``
during ``AT+CPIN?``) is its response instead. Vendor URCs: Quectel ``+QIND:``/``+QUSIM:``,
u-blox ``+UUSTS:``, Sierra Wireless (Wavecom) ``+WIND:``, SIMCom ``Call Ready``/``SMS
Ready``, Cinterion ``^SYSSTART``; any ``^NAME:`` line (Huawei ``^RSSI:``, ``^BOOT:``,
``^MODE:``...) unless the running command is ``AT^NAME``. A bare ``^NAME`` is an answer
line: Huawei E1752's recorded ``AT+CLAC`` lists its ``^`` commands so."""
VENDOR_URC = re.compile(r"\^[A-Z][A-Z0-9]*:", re.IGNORECASE)
URC_WITH_BODY = ("+CMT:", "+CDS:", "+CBM:")
"""URCs whose next line belongs to them (the message text or PDU)."""
BOOT_URCS = ("RDY", "^SYSSTART", "+SYSSTART")
"""URCs a modem sends when it (re)starts."""
REGISTRATION_URCS = ("+CREG:", "+CGREG:", "+CEREG:", "+C5GREG:")
CTRL_Z = "\x1a"
ESC = "\x1b"
URC_HISTORY = 10_000
DEFAULT_COMMAND_TIMEOUTS = MappingProxyType(
    {"+COPS=?": 180.0, "+CMGS": 60.0, "+COPS=": 120.0, "+CFUN=": 15.0, "D": 60.0}
)
"""Commands that take longer than the device's default (TS 27.007 allows minutes for
a network scan); overridden per bench by ``command_timeouts``."""
FINAL_GRACE = 0.3
"""Seconds a ``final_optional`` command waits for a final result after its last line."""
POLL_INTERVAL = 1.0
"""Seconds between ``AT+CREG?`` queries when a modem cannot report registration by URC."""
NOT_SUPPORTED_CME = (3, 4)
"""``+CME ERROR`` codes that say a command is not there (operation not allowed/supported)."""


class MissingFinalResult(UserWarning):
    """A command's result line came but its final ``OK`` did not: the result is kept."""


CME_ERRORS = {
    0: "phone failure",
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    16: "incorrect password",
    30: "no network service",
    31: "network timeout",
    100: "unknown",
}
CMS_ERRORS = {
    300: "ME failure",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    321: "invalid memory index",
    322: "SIM memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    500: "unknown error",
}
REGISTRATION_STATES = {
    0: "not registered, not searching",
    1: "registered, home network",
    2: "not registered, searching",
    3: "registration denied",
    4: "unknown",
    5: "registered, roaming",
}


def parse_fields(text: str) -> list[str]:
    """Split an AT response's parameters: ``1,"00C3","A1 3F",7`` -> ``['1', '00C3', 'A1 3F', '7']``.

    >>> parse_fields('"REC UNREAD","+4917",,"24/05/01,12:00:00+08"')
    ['REC UNREAD', '+4917', '', '24/05/01,12:00:00+08']
    """
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    fields.append("".join(current).strip())
    return fields


def _payload(line: str, prefix: str | None) -> str:
    if prefix and line.upper().startswith(prefix.upper()):
        return line[len(prefix) :].strip()
    return line


@dataclass(frozen=True)
class AtResponse:
    """A completed command: its intermediate lines and final result code."""

    command: str
    lines: tuple[str, ...]
    final: str | None
    """``OK`` (or ``CONNECT``); None when ``final_optional`` and the modem sent none."""
    started: float
    finished: float

    @property
    def elapsed(self) -> float:
        return self.finished - self.started

    def value(self, prefix: str | None = None) -> str:
        """The first line carrying ``prefix`` (removed), else the first line (modems that
        answer ``AT+CGSN`` without ``+CGSN:``); a DeviceError when there is no line."""
        for line in self.lines:
            if prefix is None or line.upper().startswith(prefix.upper()):
                return _payload(line, prefix)
        if self.lines:
            return self.lines[0]
        raise DeviceError(f"{self.command}: the answer has no {prefix or 'response'} line")

    def fields(self, prefix: str | None = None) -> list[str]:
        """The first line's parameters (see :func:`parse_fields`)."""
        return parse_fields(self.value(prefix))


@dataclass(frozen=True)
class Urc:
    """An unsolicited result code, numbered in arrival order."""

    seq: int
    line: str
    timestamp: float
    body: str | None = None
    """The following line for ``+CMT:``/``+CDS:``/``+CBM:`` (the message)."""

    @property
    def prefix(self) -> str:
        head, colon, _ = self.line.partition(":")
        return head + colon if colon else self.line

    @property
    def fields(self) -> list[str]:
        return parse_fields(_payload(self.line, self.prefix)) if ":" in self.line else []


IDENTITY_COMMANDS = MappingProxyType(
    {
        "imsi": "AT+CIMI",
        "manufacturer": "AT+CGMI",
        "model": "AT+CGMM",
        "revision": "AT+CGMR",
        "imei": "AT+CGSN",
    }
)


@dataclass(frozen=True)
class ModemIdentity:
    """What :meth:`Modem.identity` could read; a field it could not read is None and
    :attr:`errors` says why (``"not supported: AT+CGMR answered COMMAND NOT SUPPORT"``)."""

    manufacturer: str | None
    model: str | None
    revision: str | None
    imei: str | None
    imsi: str | None
    """None when the SIM cannot be read (no SIM, PIN required)."""
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Registration:
    """Network registration (``+CREG``/``+CGREG``/``+CEREG``)."""

    stat: int
    lac: str | None = None
    """Location / tracking area code (hex), when the modem reports it."""
    ci: str | None = None
    act: int | None = None
    """Access technology (0 GSM, 2 UTRAN, 7 E-UTRAN...)."""
    technology: str = "CREG"

    @property
    def registered(self) -> bool:
        return self.stat in (1, 5)

    @property
    def roaming(self) -> bool:
        return self.stat == 5

    def __str__(self) -> str:
        state = REGISTRATION_STATES.get(self.stat, f"state {self.stat}")
        where = f" (lac {self.lac}, ci {self.ci}, act {self.act})" if self.lac else ""
        return f"{self.technology} {self.stat}: {state}{where}"


@dataclass(frozen=True)
class SignalQuality:
    """``+CSQ``: ``rssi`` 0..31 (99 unknown), ``ber`` 0..7 (99 unknown)."""

    rssi: int
    ber: int

    @property
    def dbm(self) -> int | None:
        """Received signal strength in dBm (-113 + 2 * rssi), None when unknown."""
        return None if self.rssi == 99 else -113 + 2 * self.rssi


@dataclass(frozen=True)
class Sms:
    """A received short message."""

    index: int
    status: str
    sender: str
    text: str
    timestamp: str | None = None


@dataclass
class _Pending:
    command: str
    prefix: str | None
    started: float
    lines: list[str] = field(default_factory=list)
    final: str | None = None
    error: DeviceError | None = None
    echo_seen: bool = False
    wants_prompt: bool = False
    prompted: bool = False
    raw: list[str] = field(default_factory=list)
    last_line_at: float = 0.0


def response_prefix(command: str) -> str | None:
    """The prefix the answer lines of ``command`` carry: ``AT+CREG?`` -> ``+CREG:``."""
    match = re.match(r"AT([+^$%&][A-Z0-9]+)", command.strip(), re.IGNORECASE)
    return f"{match.group(1).upper()}:" if match else None


def registration_urc_shaped(line: str) -> bool:
    """``+CREG: 1`` or ``+CREG: 1,"00C3","A13F",7`` (unsolicited) rather than the answer to
    ``AT+CREG?`` (``+CREG: 2,1,...``), whose second field is an unquoted number."""
    fields = line.partition(":")[2].split(",")
    return len(fields) == 1 or fields[1].strip().startswith('"')


def is_noise(line: str) -> bool:
    """Undecodable bytes or control characters: line noise, not an answer."""
    return any(
        char == "\ufffd" or (ord(char) < 32 and char != "\t") or ord(char) == 127 for char in line
    )


class Modem(Closing):
    """AT-command driver; one command at a time, URCs collected all the time."""

    def __init__(
        self,
        port: SerialPort,
        *,
        line_ending: str = "\r",
        timeout: float = 5.0,
        command_timeouts: Mapping[str, float] | None = None,
        urc_patterns: Iterable[str] = (),
    ) -> None:
        self.line_ending = line_ending
        self.urc_patterns = [re.compile(pattern, re.IGNORECASE) for pattern in urc_patterns]
        """Regular expressions of further URCs this modem sends (matched at a line's start)."""
        self.timeout = timeout
        self.command_timeouts = {**DEFAULT_COMMAND_TIMEOUTS, **(command_timeouts or {})}
        self.echo: bool | None = None
        """Whether the modem echoes commands: learnt from what it sends, set by set_echo."""
        self.urcs: deque[Urc] = deque(maxlen=URC_HISTORY)
        self.noise: deque[str] = deque(maxlen=200)
        self.stray: deque[str] = deque(maxlen=200)
        """Lines that arrived with no command running and are not URCs (late answers)."""
        self.failure: DeviceError | None = None
        self._cond = threading.Condition()
        self._command_lock = threading.Lock()
        self._partial = ""
        self._pending: _Pending | None = None
        self._urc_seq = 0
        self._body_for: str | None = None
        self.port = port

    @classmethod
    def open(cls, config: SerialDeviceConfig, log: SerialLog | None = None) -> Modem:
        """Open the modem a ``[serial.NAME]`` table describes."""
        receiver = _Forward()
        port = SerialPort.open(config, receiver, log)
        modem = cls(
            port,
            line_ending=config.line_ending,
            timeout=config.timeout,
            command_timeouts=config.command_timeouts,
            urc_patterns=config.urc_patterns,
        )
        receiver.attach(modem)
        return modem

    @property
    def name(self) -> str:
        return self.port.name

    # -- the parser (reader thread) -----------------------------------------------

    def feed(self, text: str) -> None:
        with self._cond:
            pending = self._pending
            if pending is not None:
                pending.raw.append(text)
            self._partial += text
            while True:
                cut = _line_end(self._partial)
                if cut < 0:
                    break
                line, self._partial = self._partial[:cut], self._partial[cut + 1 :]
                self._line(line)
            pending = self._pending
            if (
                pending is not None
                and pending.wants_prompt
                and not pending.prompted
                and self._partial.lstrip().startswith(">")
            ):
                pending.prompted = True
                self._partial = ""
            self._cond.notify_all()

    def fail(self, error: DeviceError) -> None:
        with self._cond:
            self.failure = error
            self._cond.notify_all()

    def _line(self, raw: str) -> None:
        line = raw.strip()
        if not line:
            return
        if self._body_for is not None:
            self._add_urc(self._body_for, body=line)
            self._body_for = None
            return
        if is_noise(line):
            cleaned = re.sub(r"^[^\x20-\x7e]+", "", line).strip()  # noise in front of a line
            self.noise.append(line)
            if not cleaned or is_noise(cleaned):
                return
            line = cleaned
        pending = self._pending
        if pending is not None and pending.final is None and pending.error is None:
            if not pending.echo_seen and not pending.lines and _same_command(line, pending):
                pending.echo_seen = True
                self.echo = True
                return
            if self._is_urc(line, pending):
                self._urc(line, pending)
                return
            if self.echo is True and not pending.echo_seen:
                self.stray.append(line)  # an answer to an earlier command, before our echo
                return
            if line.upper().startswith(FINAL_OK) and _is_final(line):
                pending.final = line
            elif _is_final(line):
                pending.error = self._error(pending, line)
            else:
                pending.lines.append(line)
                pending.last_line_at = clock.now()
            return
        if self._is_urc(line, None):
            self._urc(line, None)
        else:
            self.stray.append(line)

    def _is_urc(self, line: str, pending: _Pending | None) -> bool:
        upper = line.upper()
        prefix = next((p for p in URC_PREFIXES if upper.startswith(p)), None)
        if prefix is None:
            vendor = VENDOR_URC.match(line) or next(
                (m for m in (p.match(line) for p in self.urc_patterns) if m), None
            )
            if vendor is None:
                return False
            asked = pending.prefix if pending is not None else None
            return asked is None or not upper.startswith(asked.rstrip(":"))
        if not prefix.endswith(":") and upper != prefix:
            return False  # "RINGING" is not RING
        if pending is not None and pending.prefix == prefix:
            if prefix in REGISTRATION_URCS:
                return registration_urc_shaped(line)
            return False
        return True

    def _urc(self, line: str, pending: _Pending | None) -> None:
        upper = line.upper()
        if upper.startswith(URC_WITH_BODY):
            self._body_for = line
            return
        self._add_urc(line)
        if upper.startswith(BOOT_URCS):
            self.echo = None  # a restarted modem is back to its defaults
            if pending is not None:
                pending.error = ModemError(
                    f"{self.port.describe}: the modem restarted ({line}) while "
                    f"{pending.command} was running; it answered {pending.lines}",
                    command=pending.command,
                    kind="reboot",
                )

    def _add_urc(self, line: str, body: str | None = None) -> None:
        self.urcs.append(Urc(self._urc_seq, line, clock.now(), body))
        self._urc_seq += 1

    def _error(self, pending: _Pending, line: str) -> ModemError:
        kind, code, meaning = "ERROR", None, ""
        for prefix, name, table in (
            ("+CME ERROR:", "CME", CME_ERRORS),
            ("+CMS ERROR:", "CMS", CMS_ERRORS),
        ):
            if line.upper().startswith(prefix):
                kind = name
                detail = line[len(prefix) :].strip()
                if detail.isdigit():
                    code = int(detail)
                    meaning = f" ({table.get(code, 'see TS 27.007 / 27.005')})"
        answered = f"; before it: {pending.lines}" if pending.lines else ""
        return ModemError(
            f"{self.port.describe}: {pending.command} failed: {line}{meaning}{answered}",
            command=pending.command,
            kind=kind,
            code=code,
            result=line,
        )

    # -- commands -----------------------------------------------------------------

    def command(
        self,
        command: str,
        *,
        timeout: float | None = None,
        final_optional: bool = False,
    ) -> AtResponse:
        """Send an AT command (``"AT+CSQ"`` or ``"+CSQ"``) and wait for its final result.

        ``timeout`` defaults to the bench's ``command_timeouts`` entry for the command,
        else the device's timeout. ``final_optional`` accepts an answer whose final
        ``OK`` never comes (some modems omit it for some commands). An error result
        raises ModemError (with the CME/CMS code), a restart during the command too.
        """
        __tracebackhide__ = True
        text = _normalise(command)
        wait = timeout if timeout is not None else self.timeout_for(text)
        with self._command_lock:
            pending = self._start(text)
            self.port.write(text + self.line_ending)
            return self._finish(pending, wait, final_optional=final_optional)

    def timeout_for(self, command: str) -> float:
        """The timeout a command gets: the longest-matching ``command_timeouts`` entry."""
        body = _normalise(command)[2:].upper()
        matches = [key for key in self.command_timeouts if body.startswith(key.upper())]
        if not matches:
            return self.timeout
        return self.command_timeouts[max(matches, key=len)]

    def _start(self, text: str, *, wants_prompt: bool = False) -> _Pending:
        with self._cond:
            if self.failure is not None:
                raise DeviceError(f"{self.failure}; cannot send {text}") from self.failure
            pending = _Pending(text, response_prefix(text), clock.now(), wants_prompt=wants_prompt)
            self._pending = pending
            return pending

    def _finish(
        self,
        pending: _Pending,
        timeout: float,
        *,
        final_optional: bool,
        result_prefix: str | None = None,
    ) -> AtResponse:
        """Wait for the final result; with ``final_optional``, end ``FINAL_GRACE`` after the
        last line once there is one (one starting with ``result_prefix``, if given)."""
        deadline = clock.Deadline(timeout)
        try:
            with self._cond:
                while pending.final is None and pending.error is None:
                    if self.failure is not None:
                        raise DeviceError(
                            f"{self.failure}\nwhile {pending.command} was running; "
                            f"{self._evidence(pending)}"
                        ) from self.failure
                    remaining = deadline.remaining()
                    if final_optional and any(
                        result_prefix is None or line.upper().startswith(result_prefix)
                        for line in pending.lines
                    ):
                        grace = pending.last_line_at + FINAL_GRACE - clock.now()
                        if grace <= 0:
                            break
                        remaining = min(remaining, grace)
                    if remaining <= 0:
                        raise DeviceTimeoutError(
                            f"{self.port.describe}: {pending.command}: no final result within "
                            f"{timeout:g} s; {self._evidence(pending)}"
                        )
                    self._cond.wait(remaining)
                if pending.echo_seen is False and pending.final is not None and self.echo is None:
                    self.echo = False
        finally:
            with self._cond:
                self._pending = None
        if pending.error is not None:
            raise pending.error
        return AtResponse(
            pending.command, tuple(pending.lines), pending.final, pending.started, clock.now()
        )

    def _evidence(self, pending: _Pending) -> str:
        raw = "".join(pending.raw)
        lines = f"answer lines so far: {pending.lines}" if pending.lines else "no answer lines"
        if not raw:
            return f"{lines}; received nothing since sending it"
        return f"{lines}; received since sending it:\n{_show(raw[-600:])}"

    def _prompted_command(self, command: str, body: str, timeout: float) -> AtResponse:
        """A command that asks for ``> `` and then takes ``body`` ended by Ctrl-Z."""
        deadline = clock.Deadline(timeout)
        with self._command_lock:
            pending = self._start(command, wants_prompt=True)
            self.port.write(command + self.line_ending)
            with self._cond:
                while not pending.prompted and pending.final is None and pending.error is None:
                    if self.failure is not None:
                        self._pending = None
                        raise DeviceError(f"{self.failure}; while {command} was running")
                    remaining = deadline.remaining()
                    if remaining <= 0:
                        self._pending = None
                        raise DeviceTimeoutError(
                            f"{self.port.describe}: {command}: no '> ' prompt within "
                            f"{timeout:g} s; {self._evidence(pending)}"
                        )
                    self._cond.wait(remaining)
            if pending.prompted:
                self.port.write(body + CTRL_Z)
            # the +CMGS: line is the result; an OK that never follows does not lose it
            return self._finish(
                pending,
                deadline.remaining(),
                final_optional=pending.prompted,
                result_prefix=pending.prefix,
            )

    # -- URCs ---------------------------------------------------------------------

    def urc_mark(self) -> int:
        """The number the next URC gets: ``wait_urc(..., since=mark)`` sees it and later ones."""
        with self._cond:
            return self._urc_seq

    def urcs_since(self, mark: int = 0, prefix: str | None = None) -> list[Urc]:
        with self._cond:
            return [
                u
                for u in self.urcs
                if u.seq >= mark and (prefix is None or u.line.upper().startswith(prefix.upper()))
            ]

    def wait_urc(
        self,
        prefix: str,
        timeout: float | None = None,
        *,
        since: int | None = None,
        where: Callable[[Urc], bool] | None = None,
    ) -> Urc:
        """The first URC starting with ``prefix`` (and satisfying ``where``) numbered from
        ``since`` on (default: from now). Event-driven; DeviceTimeoutError with the URCs
        that did arrive."""
        __tracebackhide__ = True
        wait = self.timeout if timeout is None else timeout
        deadline = clock.Deadline(wait)
        with self._cond:
            start = self._urc_seq if since is None else since
            while True:
                for urc in self.urcs:
                    if (
                        urc.seq >= start
                        and urc.line.upper().startswith(prefix.upper())
                        and (where is None or where(urc))
                    ):
                        return urc
                if self.failure is not None:
                    raise DeviceError(
                        f"{self.failure}; while waiting for {prefix}"
                    ) from self.failure
                remaining = deadline.remaining()
                if remaining <= 0:
                    seen = [u.line for u in self.urcs if u.seq >= start]
                    raise DeviceTimeoutError(
                        f"{self.port.describe}: no URC {prefix!r} within {wait:g} s; "
                        f"URCs that arrived: {seen or 'none'}"
                    )
                self._cond.wait(remaining)

    # -- helpers ------------------------------------------------------------------

    def sync(self, timeout: float | None = None) -> None:
        """``AT`` until ``OK``: the modem is there and listening."""
        self.command("AT", timeout=timeout)

    def set_echo(self, on: bool) -> None:
        self.command("ATE1" if on else "ATE0")
        self.echo = on

    def enable_error_codes(self, verbose: bool = False) -> None:
        """``AT+CMEE=1`` (numeric ``+CME ERROR: n``) or ``=2`` (text)."""
        self.command(f"AT+CMEE={2 if verbose else 1}")

    def identity(self) -> ModemIdentity:
        """Manufacturer, model, revision, IMEI and IMSI: what the modem answers, with a
        per-field error in ``errors`` for each command it refused (one unsupported command
        does not cost the others). A modem that does not answer at all still times out.

        Each answer is taken without waiting for a final ``OK`` that some firmware never
        sends after these queries (``final_optional``); an ``OK`` that comes ends the wait
        at once. A ``+CGMR``-style prefix (``+CGMR:``, SIMCom's ``Revision:``) is removed."""
        values: dict[str, str | None] = {}
        errors: dict[str, str] = {}
        for key, command in IDENTITY_COMMANDS.items():
            try:
                answer = self.command(command, final_optional=True)
                values[key] = _identity_value(answer.value(f"{command[2:]}:"))
            except ModemError as exc:
                values[key] = None
                errors[key] = f"{_refusal(exc)}: {command} answered {exc.result}"
            except DeviceError as exc:  # no answer line: an OK alone
                values[key] = None
                errors[key] = f"no value: {exc}"
        return ModemIdentity(**values, errors=MappingProxyType(errors))

    def enter_pin(self, pin: str) -> None:
        """Unlock the SIM: ``AT+CPIN?``; with ``SIM PIN`` pending, ``AT+CPIN="PIN"`` and
        ``AT+CPIN?`` again, which must then say ``READY``. A wrong PIN is a ModemError
        (``+CME ERROR: 16``); a SIM asking for its PUK is one of kind ``"PUK"``, since
        another PIN would not help."""
        state = self.command("AT+CPIN?", final_optional=True).value("+CPIN:")
        if state.upper() == "READY":
            return
        if state.upper() != "SIM PIN":
            raise ModemError(
                f"{self.port.describe}: the SIM asks for {state!r}, not its PIN",
                command="AT+CPIN?",
                kind="PUK" if "PUK" in state.upper() else "PIN",
            )
        self.command(f'AT+CPIN="{pin}"')
        after = self.command("AT+CPIN?", final_optional=True).value("+CPIN:")
        if after.upper() != "READY":
            raise ModemError(
                f"{self.port.describe}: the PIN was accepted but the SIM says {after!r}",
                command="AT+CPIN?",
                kind="PIN",
            )

    def registration(self, technology: str = "CREG") -> Registration:
        """Ask the registration state (``AT+CREG?``, ``AT+CEREG?``, ``AT+CGREG?``)."""
        tech = technology.upper().lstrip("+")
        fields = self.command(f"AT+{tech}?").fields(f"+{tech}:")
        return _registration(fields[1:], tech)

    def wait_registered(
        self,
        timeout: float = 60.0,
        technology: str = "CREG",
        *,
        roaming: bool = True,
        poll_interval: float = POLL_INTERVAL,
    ) -> Registration:
        """Switch registration URCs on and return once the modem is registered (home, or
        roaming if ``roaming``); event-driven on the ``+CREG:`` URCs. A modem that refuses
        ``AT+CREG=2`` is asked ``AT+CREG?`` every ``poll_interval`` instead (any URC wakes
        the wait early)."""
        __tracebackhide__ = True
        tech = technology.upper().lstrip("+")
        deadline = clock.Deadline(timeout)
        wanted = (1, 5) if roaming else (1,)
        try:
            self.command(f"AT+{tech}=2")
        except ModemError:
            return self._poll_registered(tech, wanted, deadline, timeout, poll_interval)
        since = self.urc_mark()
        state = self.registration(tech)

        def registered(urc: Urc) -> bool:
            fields = urc.fields
            return bool(fields) and fields[0].isdigit() and int(fields[0]) in wanted

        if state.stat in wanted:
            return state
        try:
            urc = self.wait_urc(f"+{tech}:", deadline.remaining(), since=since, where=registered)
        except DeviceTimeoutError as exc:
            raise DeviceTimeoutError(
                f"{self.port.describe}: not registered within {timeout:g} s; last state: "
                f"{self.registration(tech)}; {exc}"
            ) from exc
        return _registration(urc.fields, tech)

    def _poll_registered(
        self,
        tech: str,
        wanted: tuple[int, ...],
        deadline: clock.Deadline,
        timeout: float,
        interval: float,
    ) -> Registration:
        """``AT+CREG?`` until registered: for modems with no registration URCs."""
        while True:
            state = self.registration(tech)
            if state.stat in wanted:
                return state
            remaining = deadline.remaining()
            if remaining <= 0:
                raise DeviceTimeoutError(
                    f"{self.port.describe}: not registered within {timeout:g} s "
                    f"(AT+{tech}=2 refused, polled AT+{tech}?); last state: {state}"
                )
            with self._cond:  # polling is the protocol here; a URC or failure wakes it
                self._cond.wait(min(interval, remaining))

    def signal(self) -> SignalQuality:
        """``AT+CSQ``."""
        fields = self.command("AT+CSQ").fields("+CSQ:")
        try:
            return SignalQuality(int(fields[0]), int(fields[1]))
        except (IndexError, ValueError):
            raise DeviceError(f"{self.port.describe}: cannot read +CSQ: {fields}") from None

    def send_sms(self, number: str, text: str, timeout: float | None = None) -> int:
        """Send a text-mode SMS (``AT+CMGF=1``, ``AT+CMGS``); returns the message reference."""
        self.command("AT+CMGF=1")
        command = f'AT+CMGS="{number}"'
        answer = self._prompted_command(command, text, timeout or self.timeout_for(command))
        return self._reference(answer)

    def send_sms_pdu(self, number: str, text: str, timeout: float | None = None) -> list[int]:
        """Send an SMS in PDU mode (``AT+CMGF=0``), split into parts as needed; returns the
        message references. The PDUs come from python-gsmmodem's encoder."""
        self.command("AT+CMGF=0")
        references = []
        for pdu in encodeSmsSubmitPdu(number, text, requestStatusReport=False):
            command = f"AT+CMGS={pdu.tpduLength}"
            answer = self._prompted_command(command, str(pdu), timeout or self.timeout_for(command))
            references.append(self._reference(answer))
        return references

    def _reference(self, answer: AtResponse) -> int:
        """The message reference of a ``+CMGS:`` answer; its missing ``OK`` is warned of."""
        try:
            reference = int(answer.fields("+CMGS:")[0])
        except ValueError:
            raise DeviceError(
                f"{self.port.describe}: {answer.command}: no message reference in {answer.lines}"
            ) from None
        if answer.final is None:
            message = (
                f"{self.port.describe}: {answer.command}: +CMGS: {reference} came but no final "
                f"OK within {FINAL_GRACE:g} s after it; the message was sent (reference kept)"
            )
            self.port.log.event(self.name, message)
            warnings.warn(message, MissingFinalResult, stacklevel=3)
        return reference

    def read_sms(self, index: int, *, pdu: bool = False) -> Sms:
        """Read a stored message (``AT+CMGR``) in text mode, or in PDU mode (decoded)."""
        self.command(f"AT+CMGF={0 if pdu else 1}")
        answer = self.command(f"AT+CMGR={index}")
        head = answer.fields("+CMGR:")
        rest = [line for line in answer.lines if not line.upper().startswith("+CMGR:")]
        if pdu:
            if not rest:
                raise DeviceError(f"{self.port.describe}: AT+CMGR={index} returned no PDU")
            try:
                decoded: dict[str, Any] = decodeSmsPdu(rest[0])
            except Exception as exc:  # python-gsmmodem raises its own and built-in errors
                raise DeviceError(
                    f"{self.port.describe}: cannot decode the PDU of message {index}: {exc}"
                ) from exc
            stamp = decoded.get("time")
            return Sms(
                index,
                _PDU_STATUS.get(head[0], head[0]),
                str(decoded.get("number", "")),
                str(decoded.get("text", "")),
                stamp.isoformat() if stamp is not None else None,
            )
        return Sms(
            index,
            head[0],
            head[1] if len(head) > 1 else "",
            "\n".join(rest),
            head[3] if len(head) > 3 else None,
        )

    def wait_sms(self, timeout: float | None = None, *, since: int | None = None) -> Sms:
        """Wait for ``+CMTI`` (a message arrived and was stored) and read that message."""
        __tracebackhide__ = True
        urc = self.wait_urc("+CMTI:", timeout, since=since)
        return self.read_sms(int(urc.fields[1]))

    def delete_sms(self, index: int) -> None:
        self.command(f"AT+CMGD={index}")

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        self.port.close()

    def __repr__(self) -> str:
        return f"<Modem {self.port.describe}>"


_PDU_STATUS = {"0": "REC UNREAD", "1": "REC READ", "2": "STO UNSENT", "3": "STO SENT"}


class _Forward:
    """Receiver that holds what arrives until the modem exists (the port reads from the
    moment it opens), then hands it over and forwards the rest."""

    def __init__(self) -> None:
        self._target: Modem | None = None
        self._early: list[str] = []
        self._failure: DeviceError | None = None
        self._lock = threading.Lock()

    def attach(self, target: Modem) -> None:
        with self._lock:
            self._target = target
            for text in self._early:
                target.feed(text)
            self._early.clear()
            if self._failure is not None:
                target.fail(self._failure)

    def feed(self, text: str) -> None:
        with self._lock:
            if self._target is None:
                self._early.append(text)
                return
        self._target.feed(text)

    def fail(self, error: DeviceError) -> None:
        with self._lock:
            if self._target is None:
                self._failure = error
                return
        self._target.fail(error)


def _line_end(text: str) -> int:
    cr, lf = text.find("\r"), text.find("\n")
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)


def _normalise(command: str) -> str:
    text = command.strip()
    return text if text[:2].upper() == "AT" else "AT" + text


def _same_command(line: str, pending: _Pending) -> bool:
    return line.replace(" ", "").upper() == pending.command.replace(" ", "").upper()


def _is_final(line: str) -> bool:
    upper = line.upper()
    for final in FINAL_OK + FINAL_ERROR:
        if final.endswith(":"):
            if upper.startswith(final):
                return True
        elif upper == final or (final == "CONNECT" and upper.startswith("CONNECT ")):
            return True
    return False


def _identity_value(value: str) -> str:
    """SIMCom answers ``AT+CGMR`` with ``Revision:1418B04SIM800L24``: the value only."""
    head, colon, rest = value.partition(":")
    return rest.strip() if colon and head.strip().upper() == "REVISION" else value


def _refusal(error: ModemError) -> str:
    """``not supported`` for a command the modem does not have, else ``refused``."""
    unsupported = error.kind == "ERROR" or (error.kind == "CME" and error.code in NOT_SUPPORTED_CME)
    if "NOT SUPPORT" in error.result.upper():  # COMMAND NOT SUPPORT, verbose CME 4
        unsupported = True
    return "not supported" if unsupported else "refused"


def _registration(fields: list[str], technology: str) -> Registration:
    """Registration from ``stat[,lac,ci[,act]]`` fields."""
    try:
        stat = int(fields[0])
    except (IndexError, ValueError):
        raise DeviceError(f"cannot read +{technology}: {fields}") from None
    act = fields[3] if len(fields) > 3 else ""
    return Registration(
        stat=stat,
        lac=fields[1] or None if len(fields) > 1 else None,
        ci=fields[2] or None if len(fields) > 2 else None,
        act=int(act) if act.isdigit() else None,
        technology=technology,
    )


def open_for_bench(device: SerialDeviceConfig, log: SerialLog, power: PowerConfig | None) -> Modem:
    """The ``modem`` row of :data:`harness.devices.DRIVERS`."""
    return Modem.open(device, log)

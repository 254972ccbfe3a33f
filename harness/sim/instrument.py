"""What every simulated SCPI instrument shares: IEEE 488.2 and SCPI-1999 behaviour.

An :class:`Instrument` parses program messages and answers them; a device simulation
(the power supply) gives it the commands of its own subsystems. What it brings:

- **Headers** (SCPI-1999 vol. 1, ch. 6): short and long forms in any case, optional
  ``[nodes]``, numeric header suffixes (``OUTP1``), and the *path rule* of compound
  messages: after ``MEAS:VOLT?`` a following ``CURR?`` is ``MEAS:CURR?``; a leading
  ``:`` goes back to the root and common commands (``*...``) leave the path alone.
- **Parameters** (IEEE 488.2, 7.7): decimal numbers with exponents, units with
  multipliers (``500mV``, ``2.5 A``, ``1.2E1``), ``MINimum``/``MAXimum``/``DEFault``,
  booleans (``ON``/``OFF``/numbers); a wrong one is queued as its standard error.
- **Status** (IEEE 488.2, 11; SCPI-1999 vol. 1, 9): the standard event status register
  and its enable (``*ESR?``, ``*ESE``), the status byte and service request enable
  (``*STB?``, ``*SRE``; bit 2 error queue not empty, 3 QUES summary, 4 message
  available, 5 ESB, 6 MSS, 7 OPER summary), ``STATus:OPERation`` and
  ``STATus:QUEStionable`` (condition, transition filters, event, enable) and
  ``STATus:PRESet``; errors set their class's bit in the ESR (command -1xx: CME,
  execution -2xx: EXE, device -3xx: DDE, query -4xx: QYE).
- **The error queue** (``SYSTem:ERRor[:NEXT]?``, ``:COUNt?``), first in first out; when
  full its last entry becomes ``-350,"Queue overflow"``.
- The mandatory common commands ``*CLS *ESE *ESE? *ESR? *IDN? *OPC *OPC? *RST *SRE
  *SRE? *STB? *TST? *WAI``, and ``SYSTem:VERSion?`` (``1999.0``).

The instrument executes each command before it reads the next, so nothing is ever
pending: ``*OPC`` sets the operation-complete bit at once and ``*WAI`` returns.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

SCPI_VERSION = "1999.0"
ERROR_QUEUE = 20
"""Entries the error queue holds, the overflow marker included (SCPI asks for >= 2)."""

# standard event status register bits (IEEE 488.2, 11.5.1)
OPC, QYE, DDE, EXE, CME, PON = 0x01, 0x04, 0x08, 0x10, 0x20, 0x80
# status byte bits (IEEE 488.2, 11.2; SCPI-1999 9.1 for bits 2, 3 and 7)
EAV, QUES_SUMMARY, MAV, ESB, MSS, OPER_SUMMARY = 0x04, 0x08, 0x10, 0x20, 0x40, 0x80

MULTIPLIERS = {
    "EX": 1e18, "PE": 1e15, "T": 1e12, "G": 1e9, "MA": 1e6, "K": 1e3, "": 1.0,
    "M": 1e-3, "U": 1e-6, "N": 1e-9, "P": 1e-12, "F": 1e-15,
}  # fmt: skip
"""IEEE 488.2 suffix multipliers (7.7.3.3); ``M`` is milli, ``MA`` mega."""

_NUMBER = re.compile(
    r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:\s*E\s*[+-]?\d+)?)\s*([A-Z]*)", re.IGNORECASE
)
_SPLIT = re.compile(r"""((?:"[^"]*"|'[^']*'|[^;"'])*)(?:;|$)""")


class ScpiError(Exception):
    """A command failed with a standard error; the instrument queues it."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code},{text}")
        self.code = code
        self.text = text


def _esr_bit(code: int) -> int:
    """The ESR bit an error of this code sets (its hundreds say its class)."""
    return {1: CME, 2: EXE, 3: DDE, 4: QYE}.get(-code // 100, DDE)


@dataclass(frozen=True)
class Limits:
    """What ``MINimum``, ``MAXimum`` and ``DEFault`` mean for one numeric parameter."""

    minimum: float
    maximum: float
    default: float
    unit: str = ""


_LIMIT_NAMES = {"MIN": "minimum", "MINIMUM": "minimum", "MAX": "maximum", "MAXIMUM": "maximum"}
_LIMIT_NAMES |= {"DEF": "default", "DEFAULT": "default"}


class Arguments:
    """The parameters of one command, read in order by its handler."""

    def __init__(self, text: str) -> None:
        self._items = [item.strip() for item in text.split(",")] if text.strip() else []
        self._next = 0

    def _take(self) -> str:
        if self._next >= len(self._items):
            raise ScpiError(-109, "Missing parameter")
        item = self._items[self._next]
        self._next += 1
        if not item:
            raise ScpiError(-102, "Syntax error")
        return item

    def number(self, limits: Limits) -> float:
        """A decimal number in ``limits.unit`` (with a multiplier) or MIN/MAX/DEF;
        -222 outside the limits."""
        item = self._take()
        name = _LIMIT_NAMES.get(item.upper())
        value = getattr(limits, name) if name else _decimal(item, limits.unit)
        if not limits.minimum <= value <= limits.maximum:
            raise ScpiError(-222, "Data out of range")
        return float(value)

    def integer(self, minimum: int, maximum: int) -> int:
        """A number rounded to an integer (IEEE 488.2 7.7.2.5), unitless."""
        value = round(_decimal(self._take(), ""))
        if not minimum <= value <= maximum:
            raise ScpiError(-222, "Data out of range")
        return value

    def boolean(self) -> bool:
        """``ON``/``OFF`` or a number (non-zero after rounding is true)."""
        item = self._take()
        if item.upper() in ("ON", "OFF"):
            return item.upper() == "ON"
        if not _NUMBER.fullmatch(item):
            raise ScpiError(-224, "Illegal parameter value")
        return round(_decimal(item, "")) != 0

    def limit(self, limits: Limits) -> float | None:
        """For a query: the value MIN/MAX/DEF asks for, or None without a parameter."""
        if self._next >= len(self._items):
            return None
        name = _LIMIT_NAMES.get(self._take().upper())
        if name is None:
            raise ScpiError(-224, "Illegal parameter value")
        return float(getattr(limits, name))

    def finish(self) -> None:
        """-108 for parameters the command does not take."""
        if self._next < len(self._items):
            raise ScpiError(-108, "Parameter not allowed")


def _decimal(item: str, unit: str) -> float:
    match = _NUMBER.fullmatch(item.strip())
    if match is None:
        raise ScpiError(-104, "Data type error")
    value = float(re.sub(r"\s", "", match.group(1)))
    suffix = match.group(2).upper()
    if not suffix:
        return value
    if not unit:
        raise ScpiError(-138, "Suffix not allowed")
    if not suffix.endswith(unit) or suffix[: -len(unit)] not in MULTIPLIERS:
        raise ScpiError(-131, "Invalid suffix")
    # to 12 digits, as a device rounds to its resolution: 30000 mV is 30 V, not above it
    return float(f"{value * MULTIPLIERS[suffix[: -len(unit)]]:.12g}")


Handler = Callable[[Arguments], str | None]
Node = tuple[str, str, bool]


def nodes(pattern: str) -> list[Node]:
    """``"[SOURce:]VOLTage[:LEVel]"`` -> [(short, long, optional), ...]."""
    found = []
    for optional, name in re.findall(r"(\[?):?([A-Za-z*]+):?\]?", pattern):
        short = "".join(c for c in name if c.isupper() or c == "*")
        found.append((short, name.upper(), bool(optional)))
    return found


def matches(pattern: Sequence[Node], tokens: Sequence[str]) -> bool:
    """Whether a header's tokens (upper case, suffixes removed) spell the pattern."""
    if not pattern:
        return not tokens
    short, long, optional = pattern[0]
    if tokens and tokens[0] in (short, long) and matches(pattern[1:], tokens[1:]):
        return True
    return optional and matches(pattern[1:], tokens)


@dataclass
class StatusRegister:
    """A SCPI status structure: condition -> transition filters -> event -> enable."""

    condition: int = 0
    event: int = 0
    enable: int = 0
    positive: int = 0x7FFF
    negative: int = 0

    def set_condition(self, value: int) -> None:
        rising = value & ~self.condition
        falling = self.condition & ~value
        self.event |= (rising & self.positive) | (falling & self.negative)
        self.condition = value

    def read_event(self) -> int:
        event, self.event = self.event, 0
        return event

    @property
    def summary(self) -> bool:
        return bool(self.event & self.enable)

    def preset(self) -> None:
        """``STATus:PRESet``: enable none, report rising edges only (SCPI-1999 20.7)."""
        self.enable, self.positive, self.negative = 0, 0x7FFF, 0


@dataclass
class _Command:
    pattern: str
    nodes: list[Node]
    query: bool
    handler: Handler


@dataclass
class Instrument:
    """The message parser, status model and error queue of a simulated SCPI device.

    ``commands`` are the device's own ``(pattern, handler)`` pairs (a pattern ending in
    ``?`` is a query); ``reset`` restores its settings (``*RST``); ``conditions`` returns
    the present OPERation and QUEStionable condition bits, read after every command.
    """

    idn: str
    commands: Sequence[tuple[str, Handler]]
    reset: Callable[[], None]
    conditions: Callable[[], tuple[int, int]]
    queue_size: int = ERROR_QUEUE
    esr: int = PON
    ese: int = 0
    sre: int = 0
    operation: StatusRegister = field(default_factory=StatusRegister)
    questionable: StatusRegister = field(default_factory=StatusRegister)
    errors: deque[tuple[int, str]] = field(default_factory=deque)
    _table: list[_Command] = field(default_factory=list)
    _pending: int = 0
    """Response units of the message being executed (what MAV sees)."""

    def __post_init__(self) -> None:
        builtin: list[tuple[str, Handler]] = [
            ("*IDN?", self._no_args(lambda: self.idn)),
            ("*RST", self._no_args(self.reset)),
            ("*CLS", self._no_args(self.clear)),
            ("*ESE", lambda args: self._set("ese", args.integer(0, 255), args)),
            ("*ESE?", self._no_args(lambda: str(self.ese))),
            ("*ESR?", self._no_args(lambda: str(self._read_esr()))),
            ("*SRE", lambda args: self._set("sre", args.integer(0, 255) & ~MSS, args)),
            ("*SRE?", self._no_args(lambda: str(self.sre))),
            ("*STB?", self._no_args(lambda: str(self.status_byte))),
            ("*OPC", self._no_args(self._operation_complete)),
            ("*OPC?", self._no_args(lambda: "1")),
            ("*WAI", self._no_args(lambda: None)),
            ("*TST?", self._no_args(lambda: "0")),
            ("SYSTem:ERRor[:NEXT]?", self._no_args(self.next_error)),
            ("SYSTem:ERRor:COUNt?", self._no_args(lambda: str(len(self.errors)))),
            ("SYSTem:VERSion?", self._no_args(lambda: SCPI_VERSION)),
            ("STATus:PRESet", self._no_args(self._preset)),
        ]
        for name, register in (("OPERation", self.operation), ("QUEStionable", self.questionable)):
            builtin += _register_commands(f"STATus:{name}", register)
        for pattern, handler in [*builtin, *self.commands]:
            self._table.append(
                _Command(pattern, nodes(pattern.rstrip("?")), pattern.endswith("?"), handler)
            )

    @staticmethod
    def _no_args(action: Callable[[], str | None]) -> Handler:
        def handler(args: Arguments) -> str | None:
            args.finish()
            return action()

        return handler

    def _set(self, name: str, value: int, args: Arguments) -> None:
        args.finish()
        setattr(self, name, value)

    # -- status -------------------------------------------------------------------

    @property
    def status_byte(self) -> int:
        """The status byte as ``*STB?`` reads it (MSS computed, nothing cleared)."""
        stb = (EAV if self.errors else 0) | (MAV if self._pending else 0)
        stb |= (QUES_SUMMARY if self.questionable.summary else 0) | (
            OPER_SUMMARY if self.operation.summary else 0
        )
        stb |= ESB if self.esr & self.ese else 0
        return stb | (MSS if stb & self.sre else 0)

    def _read_esr(self) -> int:
        esr, self.esr = self.esr, 0
        return esr

    def _operation_complete(self) -> None:
        self.esr |= OPC

    def clear(self) -> None:
        """``*CLS``: event registers and the error queue emptied, enables kept."""
        self.esr = 0
        self.errors.clear()
        self.operation.read_event()
        self.questionable.read_event()

    def _preset(self) -> None:
        self.operation.preset()
        self.questionable.preset()

    def refresh(self) -> None:
        """Read the device's conditions into the status registers (after a change)."""
        operation, questionable = self.conditions()
        self.operation.set_condition(operation)
        self.questionable.set_condition(questionable)

    # -- errors -------------------------------------------------------------------

    def error(self, code: int, text: str) -> None:
        """Queue an error and set its class's ESR bit; a full queue ends in -350."""
        self.esr |= _esr_bit(code)
        if len(self.errors) < self.queue_size - 1:
            self.errors.append((code, text))
        elif len(self.errors) == self.queue_size - 1:
            self.errors.append((-350, "Queue overflow"))

    def next_error(self) -> str:
        if not self.errors:
            return '0,"No error"'
        code, text = self.errors.popleft()
        return f'{code},"{text}"'

    # -- messages -----------------------------------------------------------------

    def message(self, line: str) -> str | None:
        """Execute one program message; the response message, or None if it asked nothing."""
        answers: list[str] = []
        path: list[str] = []
        units = [unit.strip() for unit in _SPLIT.findall(line)]
        for unit in units[:-1] if units and not units[-1] else units:
            if not unit:
                self.error(-102, "Syntax error")
                continue
            header, _, argument = unit.partition(" ")
            if header.startswith("*"):
                tokens = [header.rstrip("?").upper()]
            else:
                written = [_suffixless(t) for t in header.rstrip("?").upper().split(":")]
                tokens = written[1:] if header.startswith(":") else path + written
                path = tokens[:-1]
            self._pending = len(answers)
            answer = self._execute(tokens, header.endswith("?"), argument)
            if answer is not None:
                answers.append(answer)
        self._pending = 0
        return ";".join(answers) if answers else None

    def _execute(self, tokens: list[str], query: bool, argument: str) -> str | None:
        try:
            if not all(tokens):
                raise ScpiError(-102, "Syntax error")
            for command in self._table:
                if command.query == query and matches(command.nodes, tokens):
                    return command.handler(Arguments(argument))
            raise ScpiError(-113, "Undefined header")
        except ScpiError as error:
            self.error(error.code, error.text)
            return None
        finally:
            self.refresh()


def _suffixless(token: str) -> str:
    """``OUTP1`` -> ``OUTP`` (numeric header suffixes select nothing here)."""
    return re.sub(r"\d+$", "", token)


def _register_commands(prefix: str, register: StatusRegister) -> list[tuple[str, Handler]]:
    def setter(attribute: str) -> Handler:
        def handler(args: Arguments) -> None:
            value = args.integer(0, 0x7FFF)
            args.finish()
            setattr(register, attribute, value)

        return handler

    def getter(read: Callable[[], int]) -> Handler:
        return Instrument._no_args(lambda: str(read()))

    return [
        (f"{prefix}[:EVENt]?", getter(register.read_event)),
        (f"{prefix}:CONDition?", getter(lambda: register.condition)),
        (f"{prefix}:ENABle", setter("enable")),
        (f"{prefix}:ENABle?", getter(lambda: register.enable)),
        (f"{prefix}:PTRansition", setter("positive")),
        (f"{prefix}:PTRansition?", getter(lambda: register.positive)),
        (f"{prefix}:NTRansition", setter("negative")),
        (f"{prefix}:NTRansition?", getter(lambda: register.negative)),
    ]

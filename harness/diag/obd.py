"""OBD-II (SAE J1979 over ISO 15765-4): the tester (:class:`ObdClient`, over udsoncan
connections: :func:`harness.diag.transport.on_can.obd_on_channel` opens them on a CAN
channel) and the PID table it shares with the simulated ECUs' responder
(:mod:`harness.sim.obd`).

A request goes out functionally on 0x7DF as one single frame; every emission-related
ECU answers from its own ID in 0x7E8..0x7EF (multi-frame answers, e.g. the VIN, get
their flow control on ID - 8). Values are decoded to units:

>>> obd.read("rpm")                 # doctest: +SKIP
ObdValue(name='rpm', value=812.5, unit='rpm', ecu=2024)
>>> obd.vin()                       # doctest: +SKIP
'WDEMX000000000001'

Mode 01 PIDs are listed in :data:`PIDS`; mode 03/07 read stored/pending DTCs, mode
04 clears them, mode 09 reads the VIN (0x02), calibration IDs (0x04) and ECU name (0x0A).
:data:`PID_LENGTHS` and :func:`split_pid_answer` check answers byte by byte, as the
conformance suite (``testsuites/obd``) does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness import clock
from harness.datafile import suggest
from harness.exceptions import DiagnosticError, DiagnosticTimeoutError, UnknownNameError

if TYPE_CHECKING:
    from udsoncan.connections import BaseConnection


@dataclass(frozen=True)
class Pid:
    """One mode 01 parameter: its number, size, unit and the formula both ways."""

    pid: int
    name: str
    length: int
    unit: str
    decode: Callable[[bytes], float]
    encode: Callable[[float], bytes]
    description: str = ""


def _u8(scale: float = 1.0, offset: float = 0.0) -> tuple[Callable[[bytes], float], Any]:
    def decode(data: bytes) -> float:
        return data[0] * scale + offset

    def encode(value: float) -> bytes:
        return bytes([max(0, min(0xFF, round((value - offset) / scale)))])

    return decode, encode


def _u16(scale: float = 1.0, offset: float = 0.0) -> tuple[Callable[[bytes], float], Any]:
    def decode(data: bytes) -> float:
        return int.from_bytes(data[:2], "big") * scale + offset

    def encode(value: float) -> bytes:
        return max(0, min(0xFFFF, round((value - offset) / scale))).to_bytes(2, "big")

    return decode, encode


def _pid(pid: int, name: str, length: int, unit: str, codec: Any, *, about: str) -> Pid:
    return Pid(pid, name, length, unit, codec[0], codec[1], about)


PIDS: dict[str, Pid] = {
    p.name: p
    for p in (
        _pid(0x04, "engine_load", 1, "%", _u8(100 / 255), about="Calculated engine load"),
        _pid(0x05, "coolant_temp", 1, "degC", _u8(1, -40), about="Engine coolant temperature"),
        _pid(0x0C, "rpm", 2, "rpm", _u16(0.25), about="Engine speed"),
        _pid(0x0D, "speed", 1, "km/h", _u8(), about="Vehicle speed"),
        _pid(0x0F, "intake_temp", 1, "degC", _u8(1, -40), about="Intake air temperature"),
        _pid(0x11, "throttle", 1, "%", _u8(100 / 255), about="Throttle position"),
        _pid(0x1F, "run_time", 2, "s", _u16(), about="Run time since engine start"),
        _pid(0x2F, "fuel_level", 1, "%", _u8(100 / 255), about="Fuel tank level input"),
        _pid(0x42, "module_voltage", 2, "V", _u16(0.001), about="Control module voltage"),
        _pid(0x46, "ambient_temp", 1, "degC", _u8(1, -40), about="Ambient air temperature"),
    )
}
"""Mode 01 PIDs by name (the names ECU files and :meth:`ObdClient.read` use)."""

PIDS_BY_NUMBER: dict[int, Pid] = {p.pid: p for p in PIDS.values()}
SUPPORT_PIDS = (0x00, 0x20, 0x40, 0x60, 0x80, 0xA0, 0xC0, 0xE0)
"""PIDs whose answer is a bitmap of the next 32 PIDs supported (mode 01 and 09)."""
MONITOR_STATUS = 0x01
_P2_STAR = 5.0
VIN_INFOTYPE = 0x02
CALID_INFOTYPE = 0x04
ECU_NAME_INFOTYPE = 0x0A
_DTC_LETTERS = "PCBU"
_OBD_DTC = re.compile(r"^([PCBU])([0-3])([0-9A-F]{3})$")
P2_CAN_MAX = 0.050
"""ISO 15765-4: an ECU starts its answer to a functional request within 50 ms (P2CAN)."""
MAX_PIDS_PER_REQUEST = 6
"""J1979 on ISO 15765-4: one mode 01 request names up to six PIDs."""
VIN_LENGTH = 17
CALID_LENGTH = 16
ECU_NAME_LENGTH = 20
VIN_CHARACTERS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
"""ISO 3779: digits and capital letters except I, O and Q."""


def _lengths() -> dict[int, int]:
    """Data bytes of the mode 01 PIDs J1979 gives a fixed size (0x00..0x65)."""
    sizes: dict[int, int] = {}
    ranges = (
        (0x00, 0x01, 4), (0x02, 0x03, 2), (0x04, 0x0B, 1), (0x0C, 0x0C, 2), (0x0D, 0x0F, 1),
        (0x10, 0x10, 2), (0x11, 0x13, 1), (0x14, 0x1B, 2), (0x1C, 0x1E, 1), (0x1F, 0x1F, 2),
        (0x20, 0x20, 4), (0x21, 0x23, 2), (0x24, 0x2B, 4), (0x2C, 0x30, 1), (0x31, 0x32, 2),
        (0x33, 0x33, 1), (0x34, 0x3B, 4), (0x3C, 0x3F, 2), (0x40, 0x41, 4), (0x42, 0x44, 2),
        (0x45, 0x4C, 1), (0x4D, 0x4E, 2), (0x4F, 0x50, 4), (0x51, 0x52, 1), (0x53, 0x59, 2),
        (0x5A, 0x5C, 1), (0x5D, 0x5E, 2), (0x5F, 0x5F, 1), (0x60, 0x60, 4), (0x61, 0x62, 1),
        (0x63, 0x63, 2), (0x64, 0x64, 5), (0x65, 0x65, 2),
    )  # fmt: skip
    for first, last, size in ranges:
        sizes.update(dict.fromkeys(range(first, last + 1), size))
    sizes.update(dict.fromkeys(SUPPORT_PIDS, 4))
    return sizes


PID_LENGTHS: dict[int, int] = _lengths()
"""Mode 01 PID -> data bytes in its answer (J1979 Appendix A / ISO 15031-5 Annex B);
PIDs of variable or manufacturer-defined size are not listed."""


def pid(ref: str | int) -> Pid:
    """A mode 01 PID by name (``"rpm"``) or number (``0x0C``)."""
    if isinstance(ref, int):
        if ref in PIDS_BY_NUMBER:
            return PIDS_BY_NUMBER[ref]
        raise UnknownNameError(f"no mode 01 PID 0x{ref:02X} in the harness's table")
    if ref in PIDS:
        return PIDS[ref]
    raise UnknownNameError(
        f"no OBD-II PID {ref!r}{suggest(ref, list(PIDS))}; PIDs: {', '.join(PIDS)}"
    )


def support_bitmap(supported: Sequence[int], base: int) -> bytes:
    """The 4-byte answer to a support PID: bit 31 is PID base+1 ... bit 0 is base+32."""
    bits = 0
    for number in supported:
        if base < number <= base + 32:
            bits |= 1 << (32 - (number - base))
    return bits.to_bytes(4, "big")


def pid_length(number: int) -> int | None:
    """Data bytes of mode 01 PID ``number`` (None: J1979 gives it no fixed size here)."""
    return PID_LENGTHS.get(number)


def split_pid_answer(answer: bytes) -> dict[int, bytes]:
    """A positive mode 01 answer (``41 pid data [pid data]...``) split into PID -> data.

    Every PID in it must have a size in :data:`PID_LENGTHS` unless it is the last one,
    which takes the rest. A DiagnosticError names the answer when it does not parse.

    >>> split_pid_answer(bytes.fromhex("41 0d 2f 42 35 e8"))
    {13: b'/', 66: b'5\\xe8'}
    """
    if answer[:1] != b"\x41" or len(answer) < 3:
        raise DiagnosticError(f"not a positive mode 01 answer with data: {answer.hex(' ')}")
    result: dict[int, bytes] = {}
    at = 1
    while at < len(answer):
        number = answer[at]
        size = PID_LENGTHS.get(number)
        if size is None:
            if number in result or at + 1 >= len(answer):
                raise DiagnosticError(
                    f"mode 01 answer {answer.hex(' ')}: PID 0x{number:02X} at byte {at} "
                    "is repeated or has no data"
                )
            size = len(answer) - at - 1  # unknown size: the last PID takes the rest
        data = answer[at + 1 : at + 1 + size]
        if len(data) < size or number in result:
            raise DiagnosticError(
                f"mode 01 answer {answer.hex(' ')}: PID 0x{number:02X} at byte {at} "
                f"{'is repeated' if number in result else f'has {len(data)} of {size} bytes'}"
            )
        result[number] = data
        at += 1 + size
    return result


def vin_problems(item: bytes) -> list[str]:
    """What is wrong with a mode 09 VIN data item (J1979: 17 ASCII bytes, ISO 3779 set).

    >>> vin_problems(b"1M8GDM9AXKP042788"), vin_problems(b"1M8GDM9AIKP04278")
    ([], ['16 bytes, not 17', "character 'I' at position 9 is not in ISO 3779's set"])
    """
    problems = []
    if len(item) != VIN_LENGTH:
        problems.append(f"{len(item)} bytes, not {VIN_LENGTH}")
    for position, byte in enumerate(item, start=1):
        if chr(byte) not in VIN_CHARACTERS:
            problems.append(
                f"character {chr(byte) if 0x20 <= byte < 0x7F else f'0x{byte:02X}'!r} "
                f"at position {position} is not in ISO 3779's set"
            )
    return problems


def parse_support_bitmap(data: bytes, base: int) -> set[int]:
    bits = int.from_bytes(data[:4], "big")
    return {base + i for i in range(1, 33) if bits & (1 << (32 - i))}


def encode_obd_dtc(text: str) -> bytes:
    """``"P0301"`` -> ``b"\\x03\\x01"`` (SAE J2012 two-byte form)."""
    match = _OBD_DTC.match(text.strip().upper())
    if match is None:
        raise ValueError(f"{text!r} is not an OBD-II DTC like 'P0301'")
    letter, first, rest = match.groups()
    value = (_DTC_LETTERS.index(letter) << 14) | (int(first) << 12) | int(rest, 16)
    return value.to_bytes(2, "big")


def decode_obd_dtc(data: bytes) -> str:
    value = int.from_bytes(data[:2], "big")
    return f"{_DTC_LETTERS[value >> 14]}{(value >> 12) & 0x3}{value & 0xFFF:03X}"


@dataclass(frozen=True)
class ObdValue:
    """A decoded mode 01 value and the ECU (response ID) that sent it."""

    name: str
    value: float
    unit: str
    ecu: int

    def __str__(self) -> str:
        return f"{self.name} = {self.value:g} {self.unit} (ECU 0x{self.ecu:X})"


# -- the tester ---------------------------------------------------------------------


class ObdClient:
    """OBD-II requests on the functional ID, answers collected from every responding ECU.

    The first request waits the whole response window (``obd.window_ms``) to learn
    which ECUs answer; later ones return as soon as all of those have answered.
    """

    def __init__(
        self,
        connections: Mapping[int, BaseConnection],
        *,
        functional: BaseConnection,
        window: float,
    ) -> None:
        self.connections = dict(connections)
        """An open udsoncan connection per response ID, for its answers."""
        self.functional = functional
        """The connection requests go out on, to every ECU at once."""
        self.window = window
        self.responders: set[int] | None = None
        self._lock = threading.Lock()

    def request(self, payload: bytes) -> dict[int, bytes]:
        """Send ``payload`` functionally; the answers by response ID (positive or not)."""
        with self._lock:
            self._send(payload)
            deadline = clock.Deadline(self.window)
            known = self.responders
            answers: dict[int, bytes] = {}
            for response_id in sorted(self.connections):
                waits = known is None or response_id in known
                data = _answer(self.connections[response_id], deadline if waits else None)
                if data is not None:
                    answers[response_id] = data
            if known is None and answers:
                self.responders = set(answers)
            return answers

    def answer_of(self, payload: bytes, ecu: int, *, wait: float | None = None) -> bytes | None:
        """Send ``payload`` functionally; ``ecu``'s raw answer (None: it stayed silent).

        ``wait``: seconds to wait for that answer (default: the response window). Give
        more where an answer is expected and its timing is judged elsewhere, so that a
        loaded tester does not turn a late answer into a missing one; it returns as soon
        as the answer is in."""
        if ecu not in self.connections:
            known = ", ".join(f"0x{i:X}" for i in sorted(self.connections))
            raise UnknownNameError(f"0x{ecu:X} is not an OBD-II response ID here ({known})")
        with self._lock:
            self._send(payload)
            wait = self.window if wait is None else wait
            return _answer(self.connections[ecu], clock.Deadline(wait))

    def _send(self, payload: bytes) -> None:
        """Send ``payload`` functionally, dropping what earlier requests left unread."""
        for connection in self.connections.values():
            connection.empty_rxqueue()
        self.functional.send(payload)

    def _positive(self, payload: bytes, what: str) -> dict[int, bytes]:
        answers = self.request(payload)
        positive = {i: d for i, d in answers.items() if d[:1] == bytes([payload[0] + 0x40])}
        if not positive:
            if answers:
                detail = "; ".join(f"0x{i:X}: {d.hex(' ')}" for i, d in answers.items())
                raise DiagnosticError(f"OBD-II {what}: no positive answer ({detail})")
            raise DiagnosticTimeoutError(
                f"OBD-II {what}: no ECU answered within {self.window * 1000:.0f} ms "
                f"(request {payload.hex(' ')} on the functional ID)"
            )
        return positive

    def supported_pids(self) -> dict[int, set[int]]:
        """Mode 01 PIDs each ECU supports, following the 0x00/0x20/... chain."""
        return self._supported(0x01)

    def supported_infotypes(self) -> dict[int, set[int]]:
        """Mode 09 info types each ECU supports, following the 0x00/0x20/... chain."""
        return self._supported(0x09)

    def _supported(self, mode: int) -> dict[int, set[int]]:
        result: dict[int, set[int]] = {}
        base = 0x00
        while base in SUPPORT_PIDS:
            answers = self.request(bytes([mode, base]))
            positive = {
                i: d
                for i, d in answers.items()
                if d[:2] == bytes([mode + 0x40, base]) and len(d) >= 6
            }
            if not positive:
                break
            more = False
            for ecu, data in positive.items():
                supported = parse_support_bitmap(data[2:6], base)
                result.setdefault(ecu, set()).update(supported)
                more = more or (base + 0x20) in supported
            if not more:
                break
            base += 0x20
        return result

    def read_all(self, ref: str | int) -> dict[int, ObdValue]:
        """A mode 01 PID from every ECU that answers, decoded."""
        definition = pid(ref)
        answers = self._positive(bytes([0x01, definition.pid]), f"PID {definition.name}")
        values = {}
        for ecu, data in answers.items():
            body = data[2 : 2 + definition.length]
            if data[1] != definition.pid or len(body) < definition.length:
                raise DiagnosticError(
                    f"OBD-II PID {definition.name}: malformed answer from 0x{ecu:X}: "
                    f"{data.hex(' ')}"
                )
            value = definition.decode(body)
            values[ecu] = ObdValue(definition.name, value, definition.unit, ecu)
        return values

    def read(self, ref: str | int) -> ObdValue:
        """A mode 01 PID from the first ECU (lowest response ID) that answers."""
        values = self.read_all(ref)
        return values[min(values)]

    def dtcs(self, *, pending: bool = False) -> dict[int, list[str]]:
        """Stored (mode 03) or pending (mode 07) DTCs per ECU, as ``"P0301"``."""
        mode = 0x07 if pending else 0x03
        answers = self._positive(bytes([mode]), "pending DTCs" if pending else "stored DTCs")
        result = {}
        for ecu, data in answers.items():
            count = data[1] if len(data) > 1 else 0
            body = data[2 : 2 + 2 * count]
            result[ecu] = [decode_obd_dtc(body[i : i + 2]) for i in range(0, len(body) - 1, 2)]
        return result

    def clear_dtcs(self) -> set[int]:
        """Mode 04: clear emission DTCs; the ECUs that confirmed."""
        return set(self._positive(bytes([0x04]), "clear DTCs"))

    def vehicle_info(self, infotype: int) -> dict[int, list[bytes]]:
        """Mode 09 ``infotype``: each ECU's data items (count byte stripped)."""
        answers = self._positive(bytes([0x09, infotype]), f"vehicle information 0x{infotype:02X}")
        result = {}
        for ecu, data in answers.items():
            if len(data) < 3 or data[1] != infotype:
                raise DiagnosticError(f"OBD-II mode 09: malformed answer from 0x{ecu:X}")
            count, body = data[2], data[3:]
            size = len(body) // count if count else 0
            result[ecu] = [body[i * size : (i + 1) * size] for i in range(count)]
        return result

    def vin(self) -> str:
        """The VIN (mode 09, info type 0x02) from the first ECU that reports it."""
        answers = self.vehicle_info(VIN_INFOTYPE)
        items = answers[min(answers)]
        return items[0].rstrip(b"\x00").decode("ascii", errors="replace") if items else ""

    def calibration_ids(self) -> dict[int, list[str]]:
        """Calibration IDs (mode 09, info type 0x04) per ECU."""
        return {
            ecu: [item.rstrip(b"\x00").decode("ascii", errors="replace") for item in items]
            for ecu, items in self.vehicle_info(CALID_INFOTYPE).items()
        }

    def ecu_names(self) -> dict[int, str]:
        """ECU names (mode 09, info type 0x0A)."""
        return {
            ecu: items[0].rstrip(b"\x00").decode("ascii", errors="replace") if items else ""
            for ecu, items in self.vehicle_info(ECU_NAME_INFOTYPE).items()
        }


def _answer(connection: BaseConnection, deadline: clock.Deadline | None) -> bytes | None:
    """The connection's next complete answer, waiting until ``deadline`` (None: only if
    there already).

    A responsePending (0x78) answer extends the wait by P2* (5 s), as J1979 allows.
    """
    while True:
        wait = 0.0 if deadline is None else deadline.remaining()
        data = connection.wait_frame(timeout=wait, exception=False)
        if data is None:
            return None
        if not _pending(data):
            return bytes(data)
        deadline = clock.Deadline(_P2_STAR)


def _pending(data: bytes | bytearray) -> bool:
    return len(data) >= 3 and data[0] == 0x7F and data[2] == 0x78

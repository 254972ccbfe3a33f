"""The UDS conversation in a recording: ISO-TP reassembled, services and NRCs named.

A failed diagnostic test can be read from its trace::

    $ harness decode run.blf --uds 7E0:7E8
        0.000000  ->  ReadDataByIdentifier VIN (0xF190)
        0.001480  <-  ReadDataByIdentifier positive: VIN (0xF190) = 'WDEMX000000000001'
        0.004310  ->  SecurityAccess requestSeed level 0x01
        0.005012  <-  SecurityAccess positive: seed 3f 0a 91 c2
        0.006100  ->  SecurityAccess sendKey level 0x01: key 4 bytes (redacted)
        0.006920  <-  SecurityAccess negative response 0x35 invalidKey

``->`` is a physical request, ``=>`` a functional one (``TX:RX:FUNC``), ``<-`` a
response. Reassembly uses can-isotp's own state machine in listen mode, fed
frame by frame; ISO-TP errors in the recording (wrong sequence numbers, a
first frame never completed) appear as ``!!`` lines where they happened.
Answers from other ECUs to the same tester are shown with ``[ECU 0x7E9]``.
SecurityAccess keys are never printed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import can
import isotp

from harness.diag import obd
from harness.diag.names import (
    NEGATIVE_RESPONSE,
    RESPONSE_PENDING,
    nrc_name,
    response_service_name,
    service_name,
    session_name,
)
from harness.diag.profile import format_dtc

if TYPE_CHECKING:
    from harness.diag.profile import DutProfile

_LOGGER = "harness.diag.tracedecode.isotp"
logging.getLogger(_LOGGER).setLevel(logging.ERROR)  # errors become "!!" lines instead
ARROWS = {"request": "->", "functional": "=>", "response": "<-", "error": "!!"}
_HEX_SHOWN = 16
_RESETS = {1: "hard", 2: "keyOffOn", 3: "soft", 4: "enableRapidPowerShutDown"}
_CONTROL = {
    0: "enableRxAndTx",
    1: "enableRxAndDisableTx",
    2: "disableRxAndEnableTx",
    3: "disableRxAndTx",
}
_DTC_REPORTS = {
    0x01: "reportNumberOfDTCByStatusMask",
    0x02: "reportDTCByStatusMask",
    0x0A: "reportSupportedDTC",
}
_ROUTINE = {1: "start", 2: "stop", 3: "results"}


@dataclass(frozen=True)
class UdsMessage:
    """One reassembled message of the conversation (or an ISO-TP error)."""

    timestamp: float
    kind: str
    """``request``, ``functional``, ``response`` or ``error``."""
    payload: bytes
    text: str
    arbitration_id: int = 0
    """The CAN ID it came on (for a reassembled message, that of its last frame)."""
    other_ecu: bool = False
    """A response from an ECU other than the one named (e.g. to a functional request)."""

    def line(self, origin: float = 0.0) -> str:
        sender = f"[ECU 0x{self.arbitration_id:X}] " if self.other_ecu else ""
        return f"{self.timestamp - origin:12.6f}  {ARROWS[self.kind]}  {sender}{self.text}"

    def record(self, origin: float = 0.0) -> dict[str, object]:
        """The message as a JSON object; a SecurityAccess key is left out of ``data``."""
        payload = self.payload
        if payload[:1] == b"\x27" and len(payload) > 1 and not payload[1] & 0x01:
            payload = payload[:2]  # sendKey: the key is never shown
        return {
            "timestamp": round(self.timestamp - origin, 9),
            "kind": self.kind,
            "id": self.arbitration_id,
            "other_ecu": self.other_ecu,
            "data": payload.hex(),
            "text": self.text,
        }


def parse_uds_spec(spec: str) -> tuple[int, int, int | None]:
    """``"7E0:7E8"`` or ``"7E0:7E8:7DF"`` (hex, ``0x`` optional) -> (request, response, functional).

    >>> parse_uds_spec("7E0:7E8:7DF")
    (2016, 2024, 2015)
    """
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"{spec!r}: expected TX:RX or TX:RX:FUNCTIONAL, CAN IDs in hex (7E0:7E8)")
    try:
        ids = [int(part, 16) for part in parts]
    except ValueError:
        raise ValueError(f"{spec!r}: CAN IDs must be hexadecimal, like 7E0:7E8") from None
    if any(not 0 <= i <= 0x1FFFFFFF for i in ids) or ids[0] == ids[1]:
        raise ValueError(f"{spec!r}: two different CAN IDs up to 0x1FFFFFFF are needed")
    return ids[0], ids[1], ids[2] if len(ids) == 3 else None


class _Listener:
    """can-isotp's receive state machine for one direction, fed frames from a recording."""

    def __init__(self, rxid: int, txid: int, kind: str) -> None:
        self.kind = kind
        self.pending: deque[isotp.CanMessage] = deque()
        self.errors: list[str] = []
        mode = (
            isotp.AddressingMode.Normal_29bits
            if max(rxid, txid) > 0x7FF
            else (isotp.AddressingMode.Normal_11bits)
        )
        self.layer = isotp.TransportLayerLogic(
            rxfn=self._next,
            txfn=lambda msg: None,
            address=isotp.Address(mode, rxid=rxid, txid=txid),
            error_handler=self._error,
            params={
                "listen_mode": True,
                "max_frame_size": 0xFFFFFFFF,
                "rx_consecutive_frame_timeout": 3_600_000,  # offline: the recording's gaps rule
                "rx_flowcontrol_timeout": 3_600_000,
                "logger_name": _LOGGER,
            },
        )

    def _next(self, timeout: float) -> isotp.CanMessage | None:
        return self.pending.popleft() if self.pending else None

    def _error(self, error: Exception) -> None:
        self.errors.append(f"ISO-TP ({self.kind}): {type(error).__name__}: {error}")

    def feed(self, msg: can.Message) -> tuple[list[bytes], list[str]]:
        """Payloads completed by this frame, and errors it caused."""
        self.pending.append(
            isotp.CanMessage(
                arbitration_id=msg.arbitration_id,
                data=bytes(msg.data),
                extended_id=msg.is_extended_id,
                is_fd=msg.is_fd,
            )
        )
        self.layer.process()
        payloads = []
        while self.layer.available():
            data = self.layer.recv()
            if data is not None:
                payloads.append(bytes(data))
        errors, self.errors = self.errors, []
        return payloads, errors


def conversation(
    messages: Iterable[can.Message],
    request_id: int,
    response_id: int,
    *,
    functional_id: int | None = None,
    profile: DutProfile | None = None,
) -> Iterator[UdsMessage]:
    """The UDS messages between a tester (``request_id``) and an ECU (``response_id``).

    Responses from other ECUs to the same tester (0x7E8-0x7EF with 11-bit IDs,
    0x18DA<tester>xx with 29-bit ones) come too, marked ``other_ecu``: a
    functional request is answered by every ECU it reaches.
    """
    listeners = {
        request_id: _Listener(request_id, response_id, "request"),
        response_id: _Listener(response_id, request_id, "response"),
    }
    if functional_id is not None:
        listeners[functional_id] = _Listener(functional_id, response_id, "functional")
    for msg in messages:
        if msg.is_error_frame or msg.is_remote_frame:
            continue
        can_id = msg.arbitration_id
        listener = listeners.get(can_id)
        if listener is None:
            if not _answers_the_same_tester(can_id, response_id):
                continue
            listener = listeners[can_id] = _Listener(can_id, request_id, "response")
        other = can_id not in (request_id, response_id, functional_id)
        payloads, errors = listener.feed(msg)
        for error in errors:
            yield UdsMessage(msg.timestamp, "error", b"", error, can_id, other)
        for payload in payloads:
            if listener.kind == "response":
                text = describe_response(payload, profile)
            else:
                text = describe_request(payload, profile)
            yield UdsMessage(msg.timestamp, listener.kind, payload, text, can_id, other)


def _answers_the_same_tester(can_id: int, response_id: int) -> bool:
    """Whether ``can_id`` is another ECU's response ID beside ``response_id`` (ISO 15765-4)."""
    if response_id <= 0x7FF:
        return 0x7E8 <= can_id <= 0x7EF and 0x7E8 <= response_id <= 0x7EF
    return can_id >> 8 == response_id >> 8 and (response_id >> 16) == 0x18DA


def conversation_lines(
    messages: Iterable[can.Message],
    spec: str,
    *,
    profile: DutProfile | None = None,
    absolute: bool = False,
) -> Iterator[str]:
    """Printable lines for ``harness decode TRACE --uds TX:RX[:FUNC]``.

    Times count from the trace's first frame (as ``harness decode`` shows frames),
    unless ``absolute``.
    """
    for origin, message in timed_conversation(messages, spec, profile=profile, absolute=absolute):
        yield message.line(origin)


def timed_conversation(
    messages: Iterable[can.Message],
    spec: str,
    *,
    profile: DutProfile | None = None,
    absolute: bool = False,
) -> Iterator[tuple[float, UdsMessage]]:
    """(time origin, message): the origin is the first frame's time, or 0 when ``absolute``."""
    request_id, response_id, functional_id = parse_uds_spec(spec)
    first: list[float] = []

    def noting_the_first(source: Iterable[can.Message]) -> Iterator[can.Message]:
        for msg in source:
            if not first:
                first.append(msg.timestamp)
            yield msg

    for message in conversation(
        noting_the_first(messages),
        request_id,
        response_id,
        functional_id=functional_id,
        profile=profile,
    ):
        yield (0.0 if absolute else first[0]), message


# -- describing payloads ----------------------------------------------------------------


def _hex(data: bytes) -> str:
    shown = data[:_HEX_SHOWN].hex(" ")
    return shown + (f" ... ({len(data)} bytes)" if len(data) > _HEX_SHOWN else "")


def _did_label(did: int, profile: DutProfile | None) -> str:
    definition = profile.did_by_id(did) if profile is not None else None
    return definition.label if definition is not None else f"0x{did:04X}"


def _spr(sub: int) -> str:
    return " (suppress positive response)" if sub & 0x80 else ""


def describe_request(payload: bytes, profile: DutProfile | None = None) -> str:
    """A request in words: service, sub-function, DIDs by name. Keys are redacted."""
    sid = payload[0]
    name = service_name(sid)
    body = payload[1:]
    if sid in _SUBFUNCTION_SERVICES and not body:
        return f"{name} (no sub-function)"
    describe = _REQUESTS.get(sid)
    if describe is not None:
        try:
            return f"{name} {describe(body, profile)}".rstrip()
        except IndexError:
            pass  # too short for its service: shown raw below
    return f"{name}  [{_hex(payload)}]" if len(payload) > 1 else name


_SUBFUNCTION_SERVICES = frozenset({0x10, 0x11, 0x19, 0x27, 0x28, 0x31, 0x3E, 0x85})


def _session(body: bytes, profile: DutProfile | None) -> str:
    return f"{session_name(body[0] & 0x7F)}{_spr(body[0])}"


def _reset(body: bytes, profile: DutProfile | None) -> str:
    return f"{_RESETS.get(body[0] & 0x7F, hex(body[0] & 0x7F))}{_spr(body[0])}"


def _security(body: bytes, profile: DutProfile | None) -> str:
    level = body[0] & 0x7F
    if level % 2:
        return f"requestSeed level 0x{level:02X}{_spr(body[0])}"
    return f"sendKey level 0x{level - 1:02X}: key {len(body) - 1} bytes (redacted)"


def _read(body: bytes, profile: DutProfile | None) -> str:
    dids = [int.from_bytes(body[i : i + 2], "big") for i in range(0, len(body) - 1, 2)]
    text = ", ".join(_did_label(d, profile) for d in dids)
    return text + (" + 1 stray byte" if len(body) % 2 else "")


def _write(body: bytes, profile: DutProfile | None) -> str:
    did = int.from_bytes(body[:2], "big")
    if len(body) < 2:
        raise IndexError(did)
    return f"{_did_label(did, profile)} = {_value(did, body[2:], profile)}"


def _dtc_request(body: bytes, profile: DutProfile | None) -> str:
    text = _DTC_REPORTS.get(body[0], f"0x{body[0]:02X}")
    return text + (f" mask 0x{body[1]:02X}" if len(body) > 1 else "")


def _clear(body: bytes, profile: DutProfile | None) -> str:
    if len(body) < 3:
        raise IndexError(len(body))
    group = int.from_bytes(body[:3], "big")
    dtc = profile.dtc_by_code(group) if profile is not None else None
    what = "all DTCs" if group == 0xFFFFFF else (dtc.name if dtc else format_dtc(group))
    return f"{what} (0x{group:06X})"


def _routine(body: bytes, profile: DutProfile | None) -> str:
    if len(body) < 3:
        raise IndexError(len(body))
    rid = int.from_bytes(body[1:3], "big")
    routine = profile.routine_by_id(rid) if profile is not None else None
    label = f"{routine.name} (0x{rid:04X})" if routine else f"0x{rid:04X}"
    text = f"{_ROUTINE.get(body[0] & 0x7F, hex(body[0] & 0x7F))} {label}{_spr(body[0])}"
    return text + (f" data {_hex(body[3:])}" if body[3:] else "")


def _communication(body: bytes, profile: DutProfile | None) -> str:
    return f"{_CONTROL.get(body[0] & 0x7F, hex(body[0] & 0x7F))}{_spr(body[0])}"


def _dtc_setting(body: bytes, profile: DutProfile | None) -> str:
    return f"{({1: 'on', 2: 'off'}).get(body[0] & 0x7F, hex(body[0] & 0x7F))}{_spr(body[0])}"


def _tester_present(body: bytes, profile: DutProfile | None) -> str:
    return _spr(body[0]).strip()


def _download(body: bytes, profile: DutProfile | None) -> str:
    address_length, size_length = body[1] & 0x0F, body[1] >> 4
    address = int.from_bytes(body[2 : 2 + address_length], "big")
    size = int.from_bytes(body[2 + address_length : 2 + address_length + size_length], "big")
    return f"address 0x{address:X} size {size}"


def _transfer(body: bytes, profile: DutProfile | None) -> str:
    return f"block 0x{body[0]:02X} ({len(body) - 1} bytes)"


def _obd_pids(body: bytes, profile: DutProfile | None) -> str:
    if not body:
        raise IndexError(0)
    return ", ".join(_pid_name(p) for p in body)


def _obd_info(body: bytes, profile: DutProfile | None) -> str:
    return f"info type 0x{body[0]:02X}"


_REQUESTS: dict[int, Callable[[bytes, DutProfile | None], str]] = {
    0x10: _session,
    0x11: _reset,
    0x14: _clear,
    0x19: _dtc_request,
    0x22: _read,
    0x27: _security,
    0x28: _communication,
    0x2E: _write,
    0x31: _routine,
    0x34: _download,
    0x36: _transfer,
    0x3E: _tester_present,
    0x85: _dtc_setting,
    0x01: _obd_pids,
    0x09: _obd_info,
}


def _pid_name(number: int) -> str:
    definition = obd.PIDS_BY_NUMBER.get(number)
    return f"PID 0x{number:02X}" + (f" {definition.name}" if definition else "")


def _value(did: int, data: bytes, profile: DutProfile | None) -> str:
    definition = profile.did_by_id(did) if profile is not None else None
    if definition is not None and len(data) == definition.length:
        try:
            value = definition.decode(data)
        except (ValueError, UnicodeDecodeError):
            return _hex(data)
        if isinstance(value, bytes):
            return _hex(value)
        unit = f" {definition.unit}" if definition.unit else ""
        return f"{value!r}{unit}"
    return _hex(data)


def describe_response(payload: bytes, profile: DutProfile | None = None) -> str:
    """A response in words: positive with decoded data, or the NRC by name."""
    sid = payload[0]
    if sid == NEGATIVE_RESPONSE:
        if len(payload) < 3:
            return f"malformed negative response [{_hex(payload)}]"
        name = service_name(payload[1])
        if payload[2] == RESPONSE_PENDING:
            return f"{name} responsePending (0x78)"
        return f"{name} negative response 0x{payload[2]:02X} {nrc_name(payload[2])}"
    name = response_service_name(sid)
    body = payload[1:]
    text = f"{name} positive"
    if sid == 0x62:
        return text + ": " + _read_values(body, profile)
    if sid == 0x67 and body:
        level = body[0] & 0x7F
        if level % 2:
            return text + f": seed {_hex(body[1:])}"
        return text + f": level 0x{level - 1:02X} unlocked"
    if sid == 0x50 and len(body) >= 5:
        p2 = int.from_bytes(body[1:3], "big")
        p2_star = int.from_bytes(body[3:5], "big") * 10
        return text + f": {session_name(body[0])} session, P2 {p2} ms, P2* {p2_star} ms"
    if sid == 0x59 and len(body) >= 2:
        return text + ": " + _dtc_report(body, profile)
    if sid == 0x74 and len(body) >= 2:
        length = body[0] >> 4
        return text + f": maxNumberOfBlockLength {int.from_bytes(body[1 : 1 + length], 'big')}"
    if sid == 0x76 and body:
        return text + f": block 0x{body[0]:02X}"
    if sid == 0x71 and len(body) >= 3:
        record = body[3:]
        return text + (f": status {_hex(record)}" if record else "")
    if sid == 0x41:
        return text + ": " + _obd_values(body)
    if sid == 0x49 and len(body) >= 2:
        data = body[2:].rstrip(b"\x00")
        shown = data.decode("ascii", errors="replace") if data.isascii() else _hex(data)
        return text + f": info type 0x{body[0]:02X} = {shown!r}"
    return text + (f": {_hex(body)}" if body else "")


def _read_values(body: bytes, profile: DutProfile | None) -> str:
    parts = []
    offset = 0
    while offset + 2 <= len(body):
        did = int.from_bytes(body[offset : offset + 2], "big")
        definition = profile.did_by_id(did) if profile is not None else None
        length = definition.length if definition is not None else len(body) - offset - 2
        data = body[offset + 2 : offset + 2 + length]
        parts.append(f"{_did_label(did, profile)} = {_value(did, data, profile)}")
        offset += 2 + length
    return ", ".join(parts) or _hex(body)


def _dtc_report(body: bytes, profile: DutProfile | None) -> str:
    sub = body[0]
    if sub == 0x01 and len(body) >= 5:
        return f"{int.from_bytes(body[3:5], 'big')} DTC(s) match"
    records = body[2:]
    items = []
    for i in range(0, len(records) - 3, 4):
        code = int.from_bytes(records[i : i + 3], "big")
        dtc = profile.dtc_by_code(code) if profile is not None else None
        label = f"{format_dtc(code)} {dtc.name}" if dtc is not None else format_dtc(code)
        items.append(f"{label} status 0x{records[i + 3]:02X}")
    return ", ".join(items) or "no DTCs"


def _obd_values(body: bytes) -> str:
    parts = []
    offset = 0
    while offset < len(body):
        number = body[offset]
        definition = obd.PIDS_BY_NUMBER.get(number)
        if number in obd.SUPPORT_PIDS or number == obd.MONITOR_STATUS:
            size = 4
        elif definition is not None:
            size = definition.length
        else:
            parts.append(_hex(body[offset:]))
            break
        data = body[offset + 1 : offset + 1 + size]
        if definition is not None and len(data) == size:
            parts.append(f"{definition.name} = {definition.decode(data):g} {definition.unit}")
        else:
            parts.append(f"PID 0x{number:02X} = {_hex(data)}")
        offset += 1 + size
    return ", ".join(parts)

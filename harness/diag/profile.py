"""DUT profiles: what a device's data identifiers (DIDs), DTCs and routines are called and
how their bytes read. Data files, never code (``fixtures/dut/*.toml``):

.. code-block:: toml

    [profile]
    name = "Body controller"

    [dids.VIN]                      # read_did("VIN")
    id = 0xF190
    codec = "ascii"                 # ascii | uint | int | bytes | struct
    length = 17
    identity = true                 # shown by `harness diag identity`

    [dids.VehicleConfig]
    id = 0x0200
    codec = "bytes"
    length = 24
    sessions = ["extended"]         # readable only there (else requestOutOfRange)
    security = 1                    # needs security level 1 (else securityAccessDenied)
    writable = true                 # WriteDataByIdentifier; write_sessions/write_security

    [dtcs.DriverDoorMotorOpen]
    code = "B1001-13"               # SAE form with failure type, or a 24-bit number (0x900113)

    [routines.SelfTest]
    id = 0x0201

    [obd]                           # an OBD-II ECU (SAE J1979): testsuites/obd
    pids = [0x01, 0x42]             # mode 01 PIDs it must support (0x00, 0x20... implied)
    infotypes = [0x02, 0x04]        # mode 09 info types it must support (0x00 implied)

``uint``/``int`` DIDs take ``scale``, ``offset`` and ``unit``; ``struct`` DIDs a Python
struct ``format`` (``">HB"``). Codecs are udsoncan ``DidCodec`` objects, so the same
definitions serve the client (decoding) and the simulated server (encoding).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from udsoncan import AsciiCodec, DidCodec

from harness.datafile import Table, read_toml, suggest
from harness.diag.names import SESSIONS
from harness.exceptions import UnknownNameError

CODECS = ("ascii", "uint", "int", "bytes", "struct")
ALL_SESSIONS: tuple[str, ...] = tuple(SESSIONS)
NON_DEFAULT_SESSIONS: tuple[str, ...] = tuple(s for s in SESSIONS if s != "default")

_DTC_LETTERS = "PCBU"
_DTC_TEXT = re.compile(r"^([PCBU])([0-3])([0-9A-F]{3})(?:-([0-9A-F]{2}))?$", re.IGNORECASE)


def parse_dtc(text: str) -> int:
    """``"B1001-13"`` -> 0x910113: the SAE J2012 code in the high 16 bits, failure type low.

    >>> hex(parse_dtc("B1001-13")), hex(parse_dtc("P0301"))
    ('0x900113', '0x30100')
    """
    match = _DTC_TEXT.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a DTC like 'B1001-13' or 'P0301'")
    letter, first, rest, failure = match.groups()
    high = (_DTC_LETTERS.index(letter.upper()) << 14) | (int(first) << 12) | int(rest, 16)
    return (high << 8) | int(failure or "00", 16)


def format_dtc(code: int) -> str:
    """0x900113 -> ``"B1001-13"`` (the inverse of :func:`parse_dtc`)."""
    high, failure = code >> 8, code & 0xFF
    letter = _DTC_LETTERS[(high >> 14) & 0x3]
    return f"{letter}{(high >> 12) & 0x3}{high & 0xFFF:03X}-{failure:02X}"


class BytesCodec(DidCodec):
    """Raw bytes of a fixed length: decodes to ``bytes``, encodes bytes or a list of ints."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length

    def encode(self, *did_value: Any) -> bytes:
        value = did_value[0] if len(did_value) == 1 else did_value
        data = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
        if len(data) != self.length:
            raise ValueError(f"expected {self.length} bytes, got {len(data)}")
        return data

    def decode(self, did_payload: bytes) -> Any:
        return bytes(did_payload)

    def __len__(self) -> int:
        return self.length


class NumberCodec(DidCodec):
    """A big-endian integer of ``length`` bytes, physical value = raw * scale + offset."""

    def __init__(self, length: int, *, signed: bool, scale: float = 1, offset: float = 0) -> None:
        super().__init__()
        self.length = length
        self.signed = signed
        self.scale = scale
        self.offset = offset

    def encode(self, *did_value: Any) -> bytes:
        value = did_value[0]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {value!r}")
        raw = round((value - self.offset) / self.scale)
        try:
            return raw.to_bytes(self.length, "big", signed=self.signed)
        except OverflowError:
            raise ValueError(f"{value} does not fit {self.length} byte(s)") from None

    def decode(self, did_payload: bytes) -> Any:
        raw = int.from_bytes(did_payload, "big", signed=self.signed)
        if self.scale == 1 and self.offset == 0:
            return raw
        return raw * self.scale + self.offset

    def __len__(self) -> int:
        return self.length


@dataclass(frozen=True)
class DidDefinition:
    """One data identifier: its number, how its bytes read, and who may read or write it."""

    name: str
    id: int
    codec_kind: str
    codec: DidCodec = field(compare=False, repr=False)
    unit: str = ""
    description: str = ""
    identity: bool = False
    sessions: tuple[str, ...] = ALL_SESSIONS
    security: int | None = None
    writable: bool = False
    write_sessions: tuple[str, ...] = NON_DEFAULT_SESSIONS
    write_security: int | None = None

    @property
    def length(self) -> int:
        return len(self.codec)

    def encode(self, value: Any) -> bytes:
        """The DID's bytes for a value; ValueError names the DID when it does not fit."""
        try:
            return self.codec.encode(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"DID {self.label}: cannot encode {value!r}: {exc}") from exc

    def decode(self, data: bytes) -> Any:
        return self.codec.decode(data)

    @property
    def label(self) -> str:
        return f"{self.name} (0x{self.id:04X})"


@dataclass(frozen=True)
class DtcDefinition:
    name: str
    code: int
    description: str = ""

    @property
    def text(self) -> str:
        return format_dtc(self.code)


@dataclass(frozen=True)
class RoutineDefinition:
    name: str
    id: int
    description: str = ""
    sessions: tuple[str, ...] = NON_DEFAULT_SESSIONS
    security: int | None = None


@dataclass(frozen=True)
class DownloadDefinition:
    """Where the DUT takes a download (RequestDownload 0x34) and what it asks first."""

    address: int
    size: int
    session: str = "programming"
    security: int | None = None


@dataclass(frozen=True)
class ObdDefinition:
    """What the DUT must support of OBD-II (SAE J1979), beyond what J1979 makes every
    ECU support (the support PIDs and info type 0x00): the profile's ``[obd]``."""

    pids: tuple[int, ...] = ()
    """Mode 01 PIDs the DUT must claim and answer."""
    infotypes: tuple[int, ...] = ()
    """Mode 09 info types the DUT must claim and answer (0x02 VIN, 0x04 CALID...)."""


@dataclass(frozen=True)
class DutProfile:
    """DIDs, DTCs and routines of one device, by name and by number."""

    path: Path
    name: str
    dids: Mapping[str, DidDefinition]
    dtcs: Mapping[str, DtcDefinition]
    routines: Mapping[str, RoutineDefinition] = field(default_factory=lambda: MappingProxyType({}))
    download: DownloadDefinition | None = None
    obd: ObdDefinition | None = None
    """None: the profile does not declare the DUT an OBD-II ECU."""

    def did(self, ref: str | int) -> DidDefinition:
        """A DID by name (``"VIN"``) or number (``0xF190``)."""
        if isinstance(ref, int):
            for did in self.dids.values():
                if did.id == ref:
                    return did
            raise UnknownNameError(f"DUT profile {self.path.name} defines no DID 0x{ref:04X}")
        if ref in self.dids:
            return self.dids[ref]
        raise UnknownNameError(
            f"DUT profile {self.path.name} defines no DID {ref!r}{suggest(ref, list(self.dids))}; "
            f"DIDs: {', '.join(self.dids) or 'none'}"
        )

    def did_by_id(self, did: int) -> DidDefinition | None:
        return next((d for d in self.dids.values() if d.id == did), None)

    def dtc(self, ref: str | int) -> DtcDefinition:
        if isinstance(ref, int):
            found = self.dtc_by_code(ref)
            if found is None:
                raise UnknownNameError(
                    f"DUT profile {self.path.name} defines no DTC {format_dtc(ref)}"
                )
            return found
        if ref in self.dtcs:
            return self.dtcs[ref]
        raise UnknownNameError(
            f"DUT profile {self.path.name} defines no DTC {ref!r}{suggest(ref, list(self.dtcs))}"
        )

    def dtc_by_code(self, code: int) -> DtcDefinition | None:
        return next((d for d in self.dtcs.values() if d.code == code), None)

    def routine(self, ref: str | int) -> RoutineDefinition:
        if isinstance(ref, int):
            found = self.routine_by_id(ref)
            if found is None:
                raise UnknownNameError(
                    f"DUT profile {self.path.name} defines no routine 0x{ref:04X}"
                )
            return found
        if ref in self.routines:
            return self.routines[ref]
        raise UnknownNameError(
            f"DUT profile {self.path.name} defines no routine {ref!r}"
            f"{suggest(ref, list(self.routines))}"
        )

    def routine_by_id(self, rid: int) -> RoutineDefinition | None:
        return next((r for r in self.routines.values() if r.id == rid), None)

    def codecs(self) -> dict[int, DidCodec]:
        """DID number -> codec, as udsoncan's ``data_identifiers`` client setting wants."""
        return {did.id: did.codec for did in self.dids.values()}

    @property
    def identity(self) -> list[DidDefinition]:
        """The DIDs that identify the device (``identity = true``), in file order."""
        return [did for did in self.dids.values() if did.identity]


def load_profile(path: str | Path) -> DutProfile:
    """Read and validate a DUT profile; mistakes are ConfigErrors naming file and key."""
    path = Path(path)
    doc = Table(read_toml(path, "DUT profile"), str(path), "")
    head = doc.table("profile")
    name = head.optional_str("name") or path.stem
    head.finish()

    dids_table = doc.table("dids")
    dids = {key: _did(dids_table.table(key), key) for key in list(dids_table.data)}
    dids_table.finish()
    _unique(doc, "dids", {d.name: d.id for d in dids.values()}, "DID", 4)

    dtcs_table = doc.table("dtcs")
    dtcs = {key: _dtc(dtcs_table.table(key), key) for key in list(dtcs_table.data)}
    dtcs_table.finish()
    _unique(doc, "dtcs", {d.name: d.code for d in dtcs.values()}, "DTC code", 6)

    routines_table = doc.table("routines")
    routines = {key: _routine(routines_table.table(key), key) for key in list(routines_table.data)}
    routines_table.finish()
    _unique(doc, "routines", {r.name: r.id for r in routines.values()}, "routine", 4)
    download_table = doc.table("download")
    download = _download(download_table) if download_table.data else None
    obd_table = doc.table("obd")
    obd = _obd(obd_table) if "obd" in doc.data else None
    doc.finish()
    return DutProfile(
        path,
        name,
        MappingProxyType(dids),
        MappingProxyType(dtcs),
        MappingProxyType(routines),
        download,
        obd,
    )


def _unique(doc: Table, key: str, numbers: Mapping[str, int], what: str, width: int) -> None:
    seen: dict[int, str] = {}
    for name, number in numbers.items():
        if number in seen:
            raise doc.error(
                f"{key}.{name}", f"{what} 0x{number:0{width}X} is already {seen[number]!r}"
            )
        seen[number] = name


def int_in(table: Table, name: str, low: int, high: int, *, required: bool = False) -> int | None:
    """An integer key within ``low..high`` (hex literals welcome), or None when absent."""
    value = table.optional_int(name, minimum=low)
    if value is None:
        if required:
            typo = suggest(name, [k for k in table.data if k != name]).replace(
                "did you mean", "misspelled as"
            )
            raise table.error(name, f"missing (expected an integer 0x{low:X}..0x{high:X}){typo}")
        return None
    if value > high:
        raise table.error(name, f"expected an integer 0x{low:X}..0x{high:X}, got 0x{value:X}")
    return value


def sessions_of(table: Table, name: str, default: Sequence[str]) -> tuple[str, ...]:
    """A list of session names, checked against :data:`~harness.diag.names.SESSIONS`."""
    if name not in table.data:
        table.accept(name)
        return tuple(default)
    sessions = table.str_list(name)
    for session in sessions:
        if session not in SESSIONS:
            raise table.error(
                name,
                f"unknown session {session!r}{suggest(session, list(SESSIONS))}; "
                f"sessions: {', '.join(SESSIONS)}",
            )
    return tuple(sessions)


def security_level(table: Table, name: str) -> int | None:
    """A SecurityAccess level: the odd requestSeed sub-function (1, 3, ... 0x41)."""
    level = int_in(table, name, 1, 0x7D)
    if level is not None and level % 2 == 0:
        raise table.error(name, f"security levels are odd (requestSeed), got {level}")
    return level


def _did(table: Table, name: str) -> DidDefinition:
    did_id = int_in(table, "id", 0, 0xFFFF, required=True)
    assert did_id is not None
    kind = table.required_str("codec")
    codec = _codec(table, kind)
    writable = table.boolean("writable", False)
    definition = DidDefinition(
        name=name,
        id=did_id,
        codec_kind=kind,
        codec=codec,
        unit=table.optional_str("unit", "") or "",
        description=table.optional_str("description", "") or "",
        identity=table.boolean("identity", False),
        sessions=sessions_of(table, "sessions", ALL_SESSIONS),
        security=security_level(table, "security"),
        writable=writable,
        write_sessions=sessions_of(table, "write_sessions", NON_DEFAULT_SESSIONS),
        write_security=security_level(table, "write_security"),
    )
    table.finish()
    return definition


def _codec(table: Table, kind: str) -> DidCodec:
    if kind not in CODECS:
        raise table.error("codec", f"unknown codec {kind!r}{suggest(kind, list(CODECS))}")
    if kind == "struct":
        fmt = table.required_str("format")
        try:
            codec = DidCodec(fmt)
            len(codec)
        except Exception as exc:  # struct.error
            raise table.error("format", f"not a struct format: {exc}") from exc
        return codec
    limit = 8 if kind in ("uint", "int") else 4093
    length = int_in(table, "length", 1, limit, required=True)
    assert length is not None
    if kind == "ascii":
        return AsciiCodec(length)
    if kind == "bytes":
        return BytesCodec(length)
    scale = table.number("scale", 1.0, minimum=float("-inf"))
    if scale == 0:
        raise table.error("scale", "must not be 0")
    return NumberCodec(
        length,
        signed=kind == "int",
        scale=int(scale) if scale.is_integer() else scale,
        offset=table.number("offset", 0.0, minimum=float("-inf")),
    )


def _dtc(table: Table, name: str) -> DtcDefinition:
    raw = table.data.get("code")
    table.accept("code")
    if isinstance(raw, str):
        try:
            code = parse_dtc(raw)
        except ValueError as exc:
            raise table.error("code", str(exc)) from None
    elif isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw <= 0xFFFFFF:
        code = raw
    else:
        raise table.error("code", f"expected a DTC like 'B1001-13' or 0x910113, got {raw!r}")
    definition = DtcDefinition(name, code, table.optional_str("description", "") or "")
    table.finish()
    return definition


def _download(table: Table) -> DownloadDefinition:
    address = int_in(table, "address", 0, 0xFFFFFFFF, required=True)
    size = int_in(table, "size", 1, 0xFFFFFFFF, required=True)
    assert address is not None
    assert size is not None
    session = table.optional_str("session") or "programming"
    if session not in SESSIONS:
        raise table.error(
            "session",
            f"unknown session {session!r}{suggest(session, list(SESSIONS))}; "
            f"sessions: {', '.join(SESSIONS)}",
        )
    definition = DownloadDefinition(address, size, session, security_level(table, "security"))
    table.finish()
    return definition


def _routine(table: Table, name: str) -> RoutineDefinition:
    rid = int_in(table, "id", 0, 0xFFFF, required=True)
    assert rid is not None
    definition = RoutineDefinition(
        name=name,
        id=rid,
        description=table.optional_str("description", "") or "",
        sessions=sessions_of(table, "sessions", NON_DEFAULT_SESSIONS),
        security=security_level(table, "security"),
    )
    table.finish()
    return definition


def _obd(table: Table) -> ObdDefinition:
    definition = ObdDefinition(_byte_list(table, "pids"), _byte_list(table, "infotypes"))
    table.finish()
    return definition


def _byte_list(table: Table, name: str) -> tuple[int, ...]:
    """A list of PIDs / info types 0x01..0xFF, each once."""
    value = table.data.get(name, [])
    table.accept(name)
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0x01 <= v <= 0xFF for v in value
    ):
        raise table.error(name, f"expected a list of integers 0x01..0xFF, got {value!r}")
    doubled = sorted({v for v in value if value.count(v) > 1})
    if doubled:
        raise table.error(name, f"0x{doubled[0]:02X} is listed twice")
    return tuple(value)

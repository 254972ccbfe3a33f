"""A simulated ECU's UDS server, as its ECU file describes it (``[diagnostics]``).

Rules as data: what the server knows comes from the DUT profile (DIDs, DTCs,
routines and their preconditions) and from this section (values, timing,
security, flashing, OBD-II); it never runs code from the file.

.. code-block:: toml

    [diagnostics]
    profile = "../dut/bcm.toml"
    request_id = 0x7E0                # addressing and ISO-TP keys as in bench files
    response_id = 0x7E8
    functional_id = 0x7DF
    stmin_ms = 1                      # STmin the server asks testers for
    p2_ms = 50                        # P2server_max, also sent in the session response
    p2_star_ms = 2000                 # P2*server_max: interval of responsePending
    s3_ms = 5000                      # non-default session falls back after this silence
    standstill = { message = "ABS_WheelSpeeds", signal = "VehicleSpeed", below = 3 }

    [diagnostics.security]
    seed_key = "harness.diag.seedkey:xor_constant"
    params = { mask = 0x5A3CC3A5 }
    levels = [1]
    attempts = 3                      # wrong keys before lock-out (NRC 0x36)
    lockout_ms = 10000                # requiredTimeDelayNotExpired (0x37) meanwhile

    [diagnostics.values]              # DID values by profile name
    VIN = "WDEMX000000000001"

    [diagnostics.dtcs]                # stored DTCs by profile name: status byte
    DriverDoorMotorOpen = 0x2F

    [diagnostics.routines.SelfTest]   # behaviour of the profile's routines
    duration_ms = 300                 # longer than P2: answered with 0x78 first
    result = [0x00]

    [diagnostics.download]            # RequestDownload target
    address = 0x00010000
    size = 0x20000
    max_block_length = 4095

    [diagnostics.obd]                 # OBD-II responder
    calibration_ids = ["BCMCAL-0001"]
    dtcs = ["P0562"]

    [diagnostics.obd.pids]            # constants, or live values of signals the ECU receives
    speed = { message = "ABS_WheelSpeeds", signal = "VehicleSpeed" }
    module_voltage = 13.8
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from harness.canbus.expect import Matcher
from harness.datafile import Table, suggest
from harness.diag.config import AddressConfig, IsoTpConfig, parse_address, parse_isotp
from harness.diag.names import SESSIONS
from harness.diag.obd import PIDS, encode_obd_dtc
from harness.diag.profile import DutProfile, int_in, load_profile, sessions_of
from harness.diag.seedkey import SeedKey, load_seed_key
from harness.exceptions import UnknownNameError
from harness.sim.ecu import OPERATORS, Condition
from harness.sim.obd import ObdResponderConfig
from harness.sim.uds.services import SERVICES

if TYPE_CHECKING:
    from harness.canbus.database import SignalDatabase

SERVICE_IDS: dict[str, int] = {service.name: sid for sid, service in SERVICES.items()}
"""The services the simulated server implements."""

DEFAULT_SERVICE_SESSIONS: dict[int, tuple[str, ...]] = {
    sid: service.sessions for sid, service in SERVICES.items() if service.sessions is not None
}
"""Services outside the default session (serviceNotSupportedInActiveSession, 0x7F)."""


@dataclass(frozen=True)
class ServerSecurity:
    seed_key: SeedKey
    levels: tuple[int, ...] = (1,)
    attempts: int = 3
    lockout: float = 10.0
    seed_length: int = 4


@dataclass(frozen=True)
class RoutineBehaviour:
    duration: float = 0.0
    result: bytes = b""


@dataclass(frozen=True)
class DownloadConfig:
    address: int
    size: int
    max_block_length: int = 4095
    security: int | None = None


@dataclass(frozen=True)
class ServerConfig:
    """Everything the UDS server of one simulated ECU does, validated."""

    source: str
    profile: DutProfile
    address: AddressConfig = field(default_factory=AddressConfig)
    isotp: IsoTpConfig = field(default_factory=IsoTpConfig)
    """ISO-TP settings (ISO 15765-2) of this side."""
    p2: float = 0.05
    p2_star: float = 2.0
    s3: float = 5.0
    security: ServerSecurity | None = None
    service_sessions: Mapping[int, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_SERVICE_SESSIONS))
    )
    programming_from: tuple[str, ...] = ("extended", "programming")
    standstill: Condition | None = None
    values: Mapping[int, bytes] = field(default_factory=lambda: MappingProxyType({}))
    dtcs: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    dtc_availability: int = 0xFF
    routines: Mapping[int, RoutineBehaviour] = field(default_factory=lambda: MappingProxyType({}))
    download: DownloadConfig | None = None
    obd: ObdResponderConfig | None = None


def parse_server(
    data: Mapping[str, Any], source: Path, db: SignalDatabase | None = None
) -> ServerConfig:
    """An ECU file's ``[diagnostics]`` table; ``db`` checks message and signal names."""
    table = Table(data, str(source), "diagnostics")
    text = table.required_str("profile")
    path = (source.parent / text).resolve()
    if not path.is_file():
        raise table.error("profile", f"DUT profile not found: {path}")
    profile = load_profile(path)
    address = parse_address(table)
    isotp = parse_isotp(table)
    p2 = table.number("p2_ms", 50.0, minimum=1.0) / 1000
    p2_star = table.number("p2_star_ms", 2000.0, minimum=1.0) / 1000
    s3 = table.number("s3_ms", 5000.0, minimum=1.0) / 1000
    standstill = _condition(table, "standstill", db)
    service_sessions = _service_sessions(table.table("service_sessions"))
    programming_from = sessions_of(table, "programming_from", ("extended", "programming"))
    values = _values(table.table("values"), profile)
    dtcs = _dtcs(table.table("dtcs"), profile)
    availability = int_in(table, "dtc_availability_mask", 0, 0xFF)
    routines = _routines(table.table("routines"), profile)
    security = _security(table.table("security"), table.source)
    download = _download(table.table("download"))
    obd = _obd(table.table("obd"), db)
    config = ServerConfig(
        source=str(source),
        profile=profile,
        address=address,
        isotp=isotp,
        p2=p2,
        p2_star=p2_star,
        s3=s3,
        security=security,
        service_sessions=MappingProxyType(service_sessions),
        programming_from=programming_from,
        standstill=standstill,
        values=MappingProxyType(values),
        dtcs=MappingProxyType(dtcs),
        dtc_availability=0xFF if availability is None else availability,
        routines=MappingProxyType(routines),
        download=download,
        obd=obd,
    )
    table.finish()
    return config


def _condition(table: Table, name: str, db: SignalDatabase | None) -> Condition | None:
    if name not in table.data:
        table.accept(name)
        return None
    inner = table.table(name)
    message = inner.required_str("message")
    signal = inner.required_str("signal")
    _check_signal(inner, db, message, signal)
    ops = [op for op in OPERATORS if op in inner.data]
    if len(ops) != 1:
        raise inner.error("", f"give exactly one of {', '.join(OPERATORS)}")
    inner.accept(ops[0])
    inner.finish()
    return Condition(message, signal, ops[0], inner.data[ops[0]])


def _check_signal(table: Table, db: SignalDatabase | None, message: str, signal: str) -> None:
    if db is None:
        return
    try:
        Matcher(db, message, {signal: 0})
    except UnknownNameError as exc:
        raise table.error("", str(exc)) from None


def _service_sessions(table: Table) -> dict[int, tuple[str, ...]]:
    result = dict(DEFAULT_SERVICE_SESSIONS)
    for name in list(table.data):
        if name not in SERVICE_IDS:
            known = list(SERVICE_IDS)
            raise table.error(name, f"not a service the server implements{suggest(name, known)}")
        result[SERVICE_IDS[name]] = sessions_of(table, name, tuple(SESSIONS))
    table.finish()
    return result


def _values(table: Table, profile: DutProfile) -> dict[int, bytes]:
    values = {}
    for name in list(table.data):
        table.accept(name)
        if name not in profile.dids:
            raise table.error(
                name,
                f"{profile.path.name} defines no DID {name!r}{suggest(name, list(profile.dids))}",
            )
        did = profile.dids[name]
        try:
            values[did.id] = did.encode(table.data[name])
        except ValueError as exc:
            raise table.error(name, str(exc)) from None
    table.finish()
    return values


def _dtcs(table: Table, profile: DutProfile) -> dict[int, int]:
    dtcs = {}
    for name in list(table.data):
        if name not in profile.dtcs:
            raise table.error(
                name,
                f"{profile.path.name} defines no DTC {name!r}{suggest(name, list(profile.dtcs))}",
            )
        status = int_in(table, name, 0, 0xFF)
        assert status is not None
        dtcs[profile.dtcs[name].code] = status
    table.finish()
    return dtcs


def _routines(table: Table, profile: DutProfile) -> dict[int, RoutineBehaviour]:
    routines = {}
    for name in list(table.data):
        if name not in profile.routines:
            known = list(profile.routines)
            raise table.error(
                name, f"{profile.path.name} defines no routine {name!r}{suggest(name, known)}"
            )
        inner = table.table(name)
        result = inner.data.get("result", [])
        inner.accept("result")
        if not isinstance(result, list) or not all(
            isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 0xFF for b in result
        ):
            raise inner.error("result", f"expected a list of bytes, got {result!r}")
        routines[profile.routines[name].id] = RoutineBehaviour(
            duration=inner.number("duration_ms", 0.0) / 1000, result=bytes(result)
        )
        inner.finish()
    table.finish()
    return routines


def _security(table: Table, source: str) -> ServerSecurity | None:
    if not table.data:
        return None
    spec = table.required_str("seed_key")
    seed_key = load_seed_key(spec, table.free_form("params"), source, table.key("seed_key"))
    levels_raw = table.data.get("levels", [1])
    table.accept("levels")
    if not isinstance(levels_raw, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 0x7D and v % 2
        for v in levels_raw
    ):
        raise table.error(
            "levels", f"expected a list of odd levels (1, 3, ...), got {levels_raw!r}"
        )
    attempts = int_in(table, "attempts", 1, 255)
    seed_length = int_in(table, "seed_length", 1, 64)
    security = ServerSecurity(
        seed_key=seed_key,
        levels=tuple(levels_raw),
        attempts=attempts or 3,
        lockout=table.number("lockout_ms", 10000.0) / 1000,
        seed_length=seed_length or 4,
    )
    table.finish()
    return security


def _download(table: Table) -> DownloadConfig | None:
    if not table.data:
        return None
    address = int_in(table, "address", 0, 0xFFFFFFFF, required=True)
    size = int_in(table, "size", 1, 0xFFFFFFFF, required=True)
    max_block = int_in(table, "max_block_length", 3, 0xFFFF)
    security = int_in(table, "security", 1, 0x7D)
    assert address is not None
    assert size is not None
    config = DownloadConfig(address, size, max_block or 4095, security)
    table.finish()
    return config


def _obd(table: Table, db: SignalDatabase | None) -> ObdResponderConfig | None:
    if not table.data:
        return None
    pids_table = table.table("pids")
    pids: dict[int, float | tuple[str, str]] = {}
    for name in list(pids_table.data):
        if name not in PIDS:
            raise pids_table.error(name, f"unknown OBD-II PID{suggest(name, list(PIDS))}")
        value = pids_table.data[name]
        pids_table.accept(name)
        if isinstance(value, dict):
            inner = pids_table.table(name)
            message = inner.required_str("message")
            signal = inner.required_str("signal")
            _check_signal(inner, db, message, signal)
            inner.finish()
            pids[PIDS[name].pid] = (message, signal)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            pids[PIDS[name].pid] = float(value)
        else:
            raise pids_table.error(
                name, f"expected a number or {{ message, signal }}, got {value!r}"
            )
    pids_table.finish()
    dtcs = table.str_list("dtcs")
    pending = table.str_list("pending_dtcs")
    for key, codes in (("dtcs", dtcs), ("pending_dtcs", pending)):
        for code in codes:
            try:
                encode_obd_dtc(code)
            except ValueError as exc:
                raise table.error(key, str(exc)) from None
    config = ObdResponderConfig(
        pids=MappingProxyType(pids),
        calibration_ids=tuple(table.str_list("calibration_ids")),
        ecu_name=table.optional_str("ecu_name", "") or "",
        dtcs=tuple(dtcs),
        pending_dtcs=tuple(pending),
    )
    table.finish()
    return config

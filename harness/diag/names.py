"""Names for what travels in diagnostic messages: services, negative response codes, sessions.

udsoncan knows the UDS services and NRCs; this module adds the OBD-II modes and
gives every lookup a fallback, so a decoder never fails on an unknown byte.

>>> service_name(0x22), nrc_name(0x31), session_name(3)
('ReadDataByIdentifier', 'requestOutOfRange', 'extended')
"""

from __future__ import annotations

from udsoncan.BaseService import BaseService
from udsoncan.ResponseCode import ResponseCode

SESSIONS: dict[str, int] = {"default": 1, "programming": 2, "extended": 3, "safety": 4}
"""Diagnostic sessions by the names data files use (ISO 14229-1 DiagnosticSessionControl)."""

OBD_MODES: dict[int, str] = {
    0x01: "OBD ShowCurrentData",
    0x02: "OBD ShowFreezeFrameData",
    0x03: "OBD ShowStoredDTCs",
    0x04: "OBD ClearDTCs",
    0x05: "OBD OxygenSensorResults",
    0x06: "OBD OnBoardMonitoringResults",
    0x07: "OBD ShowPendingDTCs",
    0x08: "OBD ControlOnBoardSystem",
    0x09: "OBD VehicleInformation",
    0x0A: "OBD PermanentDTCs",
}
"""SAE J1979 modes (service IDs 0x01-0x0A); their responses add 0x40 as UDS ones do."""

NEGATIVE_RESPONSE = 0x7F
RESPONSE_PENDING = 0x78


def service_name(sid: int) -> str:
    """The name of a request service ID; unknown IDs as ``0xNN``."""
    if sid in OBD_MODES:
        return OBD_MODES[sid]
    service = BaseService.from_request_id(sid)
    return service.get_name() if service is not None else f"0x{sid:02X}"


def response_service_name(response_sid: int) -> str:
    """The name of the service a positive response ID (request + 0x40) answers."""
    return service_name(response_sid - 0x40) if response_sid >= 0x40 else f"0x{response_sid:02X}"


_NRC_NAMES: dict[int, str] = {
    value: name[0].lower() + name[1:]
    for name, value in vars(ResponseCode).items()
    if isinstance(value, int)
    and not name.startswith("_")
    and value != ResponseCode.PositiveResponse
}


def nrc_name(code: int) -> str:
    """The ISO 14229-1 name of a negative response code, e.g. ``requestOutOfRange``."""
    return _NRC_NAMES.get(code, f"0x{code:02X}")


def session_name(number: int) -> str:
    """``default``, ``programming``, ``extended``... or ``0xNN``."""
    for name, value in SESSIONS.items():
        if value == number:
            return name
    return f"0x{number:02X}"

"""J1939-73 diagnostic messages: DM1/DM2 lamp status and DTCs (SPN, FMI, OC).

A DM1 (PGN 65226, active DTCs) or DM2 (65227, previously active) is two bytes of
lamp status and flash codes, then four bytes per DTC; with more than one DTC it is
longer than a frame and travels by the transport protocol.

>>> dm = parse_dm(bytes([0x04, 0xFF, 110, 0, 3, 1]))
>>> dm.amber_warning_lamp, dm.dtcs
(1, (Dtc(spn=110, fmi=3, occurrences=1),))
>>> encode_dm(dm) == bytes([0x04, 0xFF, 110, 0, 3, 1, 0xFF, 0xFF])
True
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.exceptions import EncodeError, HarnessError

DM1 = 65226
DM2 = 65227
DM3 = 65228
"""Clear previously active DTCs (request it)."""
DM11 = 65235
"""Clear active DTCs (request it)."""

LAMP_OFF = 0
LAMP_ON = 1


class DmError(HarnessError, ValueError):
    """A DM1/DM2 payload that does not parse."""


@dataclass(frozen=True, slots=True)
class Dtc:
    """A diagnostic trouble code in J1939-73 conversion method 4."""

    spn: int
    fmi: int
    occurrences: int = 1

    def pack(self) -> bytes:
        if not 0 <= self.spn < 1 << 19 or not 0 <= self.fmi < 32:
            raise EncodeError(f"DTC SPN {self.spn} FMI {self.fmi} is out of range")
        if not 0 <= self.occurrences <= 126:
            raise EncodeError(f"DTC occurrence count {self.occurrences} is out of range (0..126)")
        return bytes(
            (
                self.spn & 0xFF,
                (self.spn >> 8) & 0xFF,
                ((self.spn >> 11) & 0xE0) | self.fmi,
                self.occurrences,  # conversion method bit 0: method 4
            )
        )

    def __str__(self) -> str:
        return f"SPN {self.spn} FMI {self.fmi} OC {self.occurrences}"


@dataclass(frozen=True, slots=True)
class DiagnosticMessage:
    """A DM1 or DM2: four lamps (0 off, 1 on, 3 not available) and its DTCs."""

    malfunction_lamp: int = LAMP_OFF
    red_stop_lamp: int = LAMP_OFF
    amber_warning_lamp: int = LAMP_OFF
    protect_lamp: int = LAMP_OFF
    dtcs: tuple[Dtc, ...] = ()


def parse_dm(data: bytes) -> DiagnosticMessage:
    """A DM1/DM2 payload; "no DTC" (all zero SPN and FMI) gives an empty list."""
    if len(data) < 6:
        raise DmError(f"DM payload of {len(data)} bytes is too short (at least 6)")
    lamps = data[0]
    dtcs = []
    for offset in range(2, len(data) - 3, 4):
        chunk = data[offset : offset + 4]
        spn = chunk[0] | chunk[1] << 8 | (chunk[2] & 0xE0) << 11
        fmi = chunk[2] & 0x1F
        if chunk == b"\xff\xff\xff\xff" or (spn == 0 and fmi == 0):
            continue  # padding, or the standard's "no active DTC"
        dtcs.append(Dtc(spn, fmi, chunk[3] & 0x7F))
    return DiagnosticMessage(
        malfunction_lamp=(lamps >> 6) & 3,
        red_stop_lamp=(lamps >> 4) & 3,
        amber_warning_lamp=(lamps >> 2) & 3,
        protect_lamp=lamps & 3,
        dtcs=tuple(dtcs),
    )


def encode_dm(dm: DiagnosticMessage) -> bytes:
    """A DM1/DM2 payload, at least 8 bytes (padded with 0xFF); no DTC is SPN 0 FMI 0."""
    lamps = dm.malfunction_lamp << 6 | dm.red_stop_lamp << 4 | dm.amber_warning_lamp << 2
    head = bytes((lamps | dm.protect_lamp, 0xFF))
    body = b"".join(dtc.pack() for dtc in dm.dtcs) or bytes(4)
    return (head + body).ljust(8, b"\xff")

"""J1939-21 identifiers: a 29-bit CAN ID as priority, PGN, source and destination.

The ID is ``priority(3) EDP(1) DP(1) PF(8) PS(8) SA(8)``. When PF < 240 (PDU1) the
PDU-specific byte is the destination address and not part of the PGN; from 240 up
(PDU2) it is the group extension, part of the PGN, and the frame goes to everyone.

>>> parse_id(0x0CF00400)
J1939Id(priority=3, pgn=61444, source=0, destination=255)
>>> hex(build_id(59904, source=0xF9, destination=0x00, priority=6))
'0x18ea00f9'
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.exceptions import EncodeError

GLOBAL_ADDRESS = 0xFF
"""Destination 255: every node (J1939-81 4.1)."""
NULL_ADDRESS = 0xFE
"""Source 254: a node that has no address (it could not claim one)."""
PDU2_FIRST_PF = 240
DEFAULT_PRIORITY = 6
MAX_PGN = 0x3FFFF

FIELDS = ("priority", "pgn", "source_address", "destination_address")
"""The frame fields a J1939 frame carries besides its signals; ``where=`` can name them."""


@dataclass(frozen=True, slots=True)
class J1939Id:
    """What a 29-bit identifier says under J1939-21."""

    priority: int
    pgn: int
    source: int
    destination: int


def is_pdu1(pgn: int) -> bool:
    """A PGN whose PDU-specific byte carries a destination address (PF < 240)."""
    return (pgn >> 8) & 0xFF < PDU2_FIRST_PF


def pgn_of(can_id: int) -> int:
    """The PGN of a 29-bit identifier (EDP, DP, PF, and PS when PDU2)."""
    pgn = (can_id >> 8) & MAX_PGN
    if (pgn >> 8) & 0xFF < PDU2_FIRST_PF:
        pgn &= ~0xFF
    return pgn


def parse_id(can_id: int) -> J1939Id:
    """Priority, PGN, source and destination of a 29-bit identifier."""
    pf = (can_id >> 16) & 0xFF
    ps = (can_id >> 8) & 0xFF
    return J1939Id(
        priority=(can_id >> 26) & 0x7,
        pgn=pgn_of(can_id),
        source=can_id & 0xFF,
        destination=ps if pf < PDU2_FIRST_PF else GLOBAL_ADDRESS,
    )


def build_id(
    pgn: int,
    *,
    source: int,
    destination: int = GLOBAL_ADDRESS,
    priority: int = DEFAULT_PRIORITY,
) -> int:
    """The 29-bit identifier for ``pgn`` sent by ``source`` (to ``destination`` if PDU1).

    Raises EncodeError for values out of range, or a destination given to a PDU2 PGN.
    """
    if not 0 <= pgn <= MAX_PGN:
        raise EncodeError(f"PGN {pgn} is out of range (0..{MAX_PGN})")
    if not 0 <= priority <= 7:
        raise EncodeError(f"J1939 priority {priority} is out of range (0..7)")
    for what, address in (("source", source), ("destination", destination)):
        if not 0 <= address <= 0xFF:
            raise EncodeError(f"J1939 {what} address {address} is out of range (0..255)")
    if is_pdu1(pgn):
        if pgn & 0xFF:
            raise EncodeError(f"PGN {pgn} (0x{pgn:05X}) is PDU1: its low byte must be 0")
        pgn |= destination
    elif destination != GLOBAL_ADDRESS:
        raise EncodeError(f"PGN {pgn} (0x{pgn:05X}) is PDU2 (broadcast): it has no destination")
    return (priority << 26) | (pgn << 8) | source

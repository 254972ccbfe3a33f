"""J1939-21 requests (PGN 59904) and acknowledgements (PGN 59392).

A request names a PGN in three bytes; a node asked directly (not through the global
address) for a PGN it does not support answers with a NACK (J1939-21 5.4.4), and a
command sent as a request (DM3, DM11) is acknowledged the same way.

>>> ack = Acknowledgement(Control.NACK, pgn=65227, address=0xF9)
>>> ack.pack().hex()
'01fffffff9cbfe00'
>>> Acknowledgement.parse(ack.pack()) == ack
True
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from harness.exceptions import HarnessError

REQUEST = 59904
"""PGN 0xEA00: request a PGN (PDU1: to one address or to all)."""
ACKNOWLEDGEMENT = 59392
"""PGN 0xE800: ACK/NACK of a request or command."""


class Control(IntEnum):
    """The control byte of an acknowledgement (J1939-21 5.4.4)."""

    ACK = 0
    NACK = 1
    ACCESS_DENIED = 2
    CANNOT_RESPOND = 3


class AcknowledgementError(HarnessError, ValueError):
    """An acknowledgement payload that does not parse."""


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """What an acknowledgement says: its control byte, the PGN it concerns and the
    address of the node whose request it answers."""

    control: int
    pgn: int
    address: int
    group_function: int = 0xFF

    def pack(self) -> bytes:
        return bytes(
            (self.control, self.group_function, 0xFF, 0xFF, self.address)
        ) + self.pgn.to_bytes(3, "little")

    @classmethod
    def parse(cls, data: bytes) -> Acknowledgement:
        if len(data) < 8:
            raise AcknowledgementError(f"acknowledgement of {len(data)} bytes (8 expected)")
        return cls(data[0], int.from_bytes(data[5:8], "little"), data[4], data[1])

    @property
    def positive(self) -> bool:
        return self.control == Control.ACK

    @property
    def meaning(self) -> str:
        try:
            return Control(self.control).name
        except ValueError:
            return f"control {self.control}"

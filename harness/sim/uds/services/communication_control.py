"""CommunicationControl (0x28): the ECU's normal messages on and off."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.sim.uds.services.base import NrcError, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer


class CommunicationControl(Service):
    """enableRxAndTx (0) and disableRxAndEnableTx (2) transmit, the others do not; only
    the normal-messages bit of the communication type switches the ECU's messages, and a
    type with neither bit is 0x31."""

    sid = 0x28
    name = "CommunicationControl"
    subfunctions = frozenset({0, 1, 2, 3})
    spr = True
    sessions = ("extended", "programming")

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) != 3:
            raise NrcError(0x13)
        control = payload[1] & 0x7F
        if payload[2] & 0x03 == 0:
            raise NrcError(0x31)
        if payload[2] & 0x01:  # normal communication messages
            server.set_transmit(control in (0, 2))
        return self.positive(bytes([control]))

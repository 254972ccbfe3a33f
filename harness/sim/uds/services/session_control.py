"""DiagnosticSessionControl (0x10): default, programming and extended sessions."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.diag.names import SESSIONS
from harness.sim.uds.services.base import NrcError, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer


class DiagnosticSessionControl(Service):
    """Enters a session; the programming session only from the ECU file's
    ``programming_from`` sessions (else 0x7E) and at standstill (else 0x22). The response
    carries P2 (ms) and P2* (10 ms)."""

    sid = 0x10
    name = "DiagnosticSessionControl"
    subfunctions = frozenset(SESSIONS[s] for s in ("default", "programming", "extended"))
    spr = True

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) != 2:
            raise NrcError(0x13)
        number = payload[1] & 0x7F
        if number == SESSIONS["programming"]:
            if server.state.session not in server.config.programming_from:
                raise NrcError(0x7E)
            if not server.standstill():
                raise NrcError(0x22)
        server.enter_session(number)
        p2 = round(server.config.p2 * 1000)
        p2_star = round(server.config.p2_star * 100)
        return self.positive(bytes([number]) + p2.to_bytes(2, "big") + p2_star.to_bytes(2, "big"))

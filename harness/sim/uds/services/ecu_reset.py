"""ECUReset (0x11): hard, key-off-on and soft reset, at standstill only."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.sim.uds.services.base import NrcError, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer


class EcuReset(Service):
    """Back to the default session with everything a session held dropped (0x22 while
    the vehicle moves); the server keeps answering."""

    sid = 0x11
    name = "ECUReset"
    subfunctions = frozenset({1, 2, 3})
    spr = True

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) != 2:
            raise NrcError(0x13)
        if not server.standstill():
            raise NrcError(0x22)
        kind = payload[1] & 0x7F
        server.reset_session_state(resets=server.state.resets + 1)
        return self.positive(bytes([kind]))

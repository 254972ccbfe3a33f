"""RoutineControl (0x31): start, stop and requestResults of the DUT profile's routines."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.sim.uds.services.base import NrcError, Pending, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer


class RoutineControl(Service):
    """A routine runs in its sessions at its security level; stop and requestResults of a
    routine not started are 0x24. A start whose ``duration`` exceeds P2 is answered
    responsePending (0x78) until it is done."""

    sid = 0x31
    name = "RoutineControl"
    subfunctions = frozenset({1, 2, 3})
    spr = True
    sessions = ("extended", "programming")

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) < 4:
            raise NrcError(0x13)
        action = payload[1] & 0x7F
        rid = int.from_bytes(payload[2:4], "big")
        routine = server.config.profile.routine_by_id(rid)
        if routine is None or server.state.session not in routine.sessions:
            raise NrcError(0x31)
        server.require_security(routine.security)
        behaviour = server.config.routines.get(rid)
        result = behaviour.result if behaviour is not None else b""
        echo = bytes([action]) + payload[2:4]
        if action == 1:
            server.routines_started.add(rid)
            reply = self.positive(echo + result)
            duration = behaviour.duration if behaviour is not None else 0.0
            if duration > server.config.p2:
                raise Pending(self.sid, duration, reply)
            return reply
        if rid not in server.routines_started:
            raise NrcError(0x24)
        if action == 2:
            server.routines_started.discard(rid)
            return self.positive(echo)
        return self.positive(echo + result)

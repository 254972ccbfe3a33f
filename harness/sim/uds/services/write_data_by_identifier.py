"""WriteDataByIdentifier (0x2E): writable DIDs of the DUT profile, in their write sessions
and at their write security level; values the DID's codec rejects are 0x31."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.sim.uds.services.base import NrcError, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer


class WriteDataByIdentifier(Service):
    sid = 0x2E
    name = "WriteDataByIdentifier"
    sessions = ("extended", "programming")

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) < 4:
            raise NrcError(0x13)
        did = int.from_bytes(payload[1:3], "big")
        definition = server.config.profile.did_by_id(did)
        if (
            definition is None
            or not definition.writable
            or server.state.session not in definition.write_sessions
        ):
            raise NrcError(0x31)
        data = payload[3:]
        if len(data) != definition.length:
            raise NrcError(0x13)
        server.require_security(definition.write_security)
        try:
            definition.decode(data)
        except (ValueError, UnicodeDecodeError):
            raise NrcError(0x31) from None
        server.values[did] = bytes(data)
        return self.positive(payload[1:3])

"""ReadDataByIdentifier (0x22): up to :data:`MAX_DIDS_PER_READ` DIDs of the DUT profile,
each readable in its sessions and at its security level."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.sim.uds.services.base import NrcError, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer

MAX_DIDS_PER_READ = 8


class ReadDataByIdentifier(Service):
    """DIDs unknown or not readable in the session are left out (0x31 when none is left);
    a readable one above the security level unlocked is 0x33; a response longer than the
    transport carries is 0x14.

    Seeded fault: ``reset_on_long_did_list`` (8 DIDs or more crash the ECU).
    """

    sid = 0x22
    name = "ReadDataByIdentifier"

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes | None:
        body = payload[1:]
        if "reset_on_long_did_list" in faults and not len(body) % 2 and len(body) >= 16:
            server.reboot()
            return None
        if not body or len(body) % 2 or len(body) // 2 > MAX_DIDS_PER_READ:
            raise NrcError(0x13)
        ids = [int.from_bytes(body[i : i + 2], "big") for i in range(0, len(body), 2)]
        session = server.state.session
        readable = []
        for did in ids:
            definition = server.config.profile.did_by_id(did)
            if definition is not None and session in definition.sessions:
                readable.append(definition)
        if not readable:
            raise NrcError(0x31)
        for definition in readable:
            server.require_security(definition.security)
        data = b"".join(d.id.to_bytes(2, "big") + server.did_value(d.id) for d in readable)
        if len(data) + 1 > server.config.isotp.max_payload:
            raise NrcError(0x14)
        return self.positive(data)

"""ClearDiagnosticInformation (0x14): all DTCs (group 0xFFFFFF, OBD-II ones too) or one."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.sim.uds.services.base import CLEARED, NrcError, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer


class ClearDiagnosticInformation(Service):
    """A group that is neither all DTCs nor a DTC of the profile is 0x31."""

    sid = 0x14
    name = "ClearDiagnosticInformation"

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) not in (4, 5):
            raise NrcError(0x13)
        group = int.from_bytes(payload[1:4], "big")
        if group == 0xFFFFFF:
            server.dtcs = dict.fromkeys(server.dtcs, CLEARED)
            if server.obd is not None:
                server.obd.dtcs.clear()
        elif server.config.profile.dtc_by_code(group) is not None:
            server.dtcs[group] = CLEARED
        else:
            raise NrcError(0x31)
        return self.positive(b"")

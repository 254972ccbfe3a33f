"""ReadDTCInformation (0x19): reportNumberOfDTCByStatusMask (0x01),
reportDTCByStatusMask (0x02) and reportSupportedDTC (0x0A)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.sim.uds.services.base import CLEARED, NrcError, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer


class ReadDtcInformation(Service):
    """Status bytes are masked with the ECU file's DTC status availability mask."""

    sid = 0x19
    name = "ReadDTCInformation"
    subfunctions = frozenset({0x01, 0x02, 0x0A})

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        sub = payload[1]
        availability = server.config.dtc_availability
        if sub == 0x0A:
            if len(payload) != 2:
                raise NrcError(0x13)
            records = [
                (d.code, server.dtcs.get(d.code, CLEARED) & availability)
                for d in server.config.profile.dtcs.values()
            ]
            return self.positive(bytes([sub, availability]) + _dtc_records(records))
        if len(payload) != 3:
            raise NrcError(0x13)
        mask = payload[2] & availability
        matching = [(c, s & availability) for c, s in sorted(server.dtcs.items()) if s & mask]
        if sub == 0x01:
            count = len(matching).to_bytes(2, "big")
            return self.positive(bytes([sub, availability, 0x01]) + count)
        return self.positive(bytes([sub, availability]) + _dtc_records(matching))


def _dtc_records(records: list[tuple[int, int]]) -> bytes:
    return b"".join(code.to_bytes(3, "big") + bytes([status]) for code, status in records)

"""ControlDTCSetting (0x85): DTC status updates on (1) and off (2)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING

from harness.sim.uds.services.base import Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer


class ControlDtcSetting(Service):
    """While off, :meth:`~harness.sim.uds.server.UdsServer.report_dtc` changes nothing."""

    sid = 0x85
    name = "ControlDTCSetting"
    subfunctions = frozenset({1, 2})
    spr = True
    sessions = ("extended", "programming")

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        setting = payload[1] & 0x7F
        server.state = replace(server.state, dtc_setting_on=setting == 1)
        return self.positive(bytes([setting]))

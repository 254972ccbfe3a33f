"""TesterPresent (0x3E): keeps a non-default session alive (any request restarts S3)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.sim.uds.services.base import NrcError, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer


class TesterPresent(Service):
    sid = 0x3E
    name = "TesterPresent"
    subfunctions = frozenset({0x00})
    spr = True

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) != 2:
            raise NrcError(0x13)
        return self.positive(bytes([0x00]))

"""SecurityAccess (0x27): requestSeed / sendKey through the ECU file's seed-key plugin,
with an attempt counter and a lock-out delay."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING

from harness import clock
from harness.sim.uds.services.base import NrcError, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer


class SecurityAccess(Service):
    """Odd sub-functions request a seed for a level (all zeros: already unlocked), the
    even ones send its key. Wrong keys count up to ``attempts``, then the server locks
    out (0x36, then 0x37 until the delay, a timer of the server, has passed).

    Seeded faults: ``security_long_key_accepted`` (a key with one byte too many
    unlocks), ``security_lockout_never``.
    """

    sid = 0x27
    name = "SecurityAccess"
    spr = True
    sessions = ("extended", "programming")

    def supported(self, server: UdsServer) -> bool:
        return server.config.security is not None

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        security = server.config.security
        assert security is not None
        sub = payload[1] & 0x7F
        seed_levels = set(security.levels)
        if sub not in seed_levels and sub - 1 not in seed_levels:
            raise NrcError(0x12)
        state = server.state
        if sub in seed_levels:  # requestSeed
            if state.locked_out:
                raise NrcError(0x37)
            if state.security_level == sub:
                return self.positive(bytes([sub]) + bytes(security.seed_length))
            seed = _seed(security.seed_length)
            server.seed = (sub, seed)
            return self.positive(bytes([sub]) + seed)
        level = sub - 1  # sendKey
        key = payload[2:]
        if not key:
            raise NrcError(0x13)
        if state.locked_out:
            raise NrcError(0x37)
        pending, server.seed = server.seed, None
        if pending is None or pending[0] != level:
            raise NrcError(0x24)
        expected = security.seed_key.key(level, pending[1])
        long_key = "security_long_key_accepted" in faults and key[: len(expected)] == expected
        if key != expected and not (long_key and len(key) == len(expected) + 1):
            attempts = state.failed_attempts + 1
            if attempts >= security.attempts and "security_lockout_never" not in faults:
                server.lockout_until = clock.now() + security.lockout
                server.state = replace(state, failed_attempts=attempts, locked_out=True)
                raise NrcError(0x36)
            server.state = replace(state, failed_attempts=attempts)
            raise NrcError(0x35)
        server.state = replace(state, security_level=level, failed_attempts=0)
        return self.positive(bytes([sub]))


def _seed(length: int) -> bytes:
    """A random seed that is not all zeros (all zeros means "already unlocked")."""
    while True:
        seed = os.urandom(length)
        if any(seed):
            return seed

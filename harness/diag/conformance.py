"""What the diagnostic conformance suites (testsuites/uds, testsuites/security) share:
raw-response checks, the DUT's timers, and the security level and session the DUT
profile needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.diag.profile import DutProfile

if TYPE_CHECKING:
    from harness.diag.client import UdsClient

S3_DEFAULT = 5.0
"""S3server (ISO 14229-2, Table 5): 5000 ms, not configurable."""
DELAY_DEFAULT = 10.0
"""Security access delay when the bench cannot tell (ISO 14229-1 leaves it to the OEM)."""
MAX_ATTEMPTS = 10
"""Wrong keys a DUT may take before exceededNumberOfAttempts when the bench cannot tell;
more means it has no lock-out."""
MARGIN = 0.5
"""Seconds added to the DUT's timers before a test decides they did not run out."""


@dataclass(frozen=True)
class DutTiming:
    """Timers of the DUT's diagnostic server that the tester's bench file does not state."""

    s3: float = S3_DEFAULT
    security_delay: float = DELAY_DEFAULT
    max_attempts: int = MAX_ATTEMPTS
    known: bool = False
    """Read from the simulated DUT (exact) rather than the standard's or safe defaults."""


def negative(response: bytes | None, sid: int) -> int | None:
    """The NRC of a raw response to service ``sid`` (None for a positive response);
    an AssertionError for no response or one that answers something else."""
    assert response is not None, f"no response to service 0x{sid:02X} within P2"
    if response[0] == 0x7F:
        assert len(response) == 3, f"malformed negative response {response.hex(' ')}"
        assert response[1] == sid, f"negative response names service 0x{response[1]:02X}"
        return response[2]
    assert response[0] == sid + 0x40, f"response {response.hex(' ')} to service 0x{sid:02X}"
    return None


def wrong_key(uds: UdsClient, level: int, seed: bytes) -> bytes:
    """A key the DUT must reject: the right one (when the bench can compute it) inverted."""
    security = uds.config.security
    if security is not None:
        right = bytes(security.seed_key.key(level, seed))
        return bytes(b ^ 0xFF for b in right)
    return bytes(b ^ 0xFF for b in seed)


def lowest_security_level(profile: DutProfile) -> int | None:
    """The lowest SecurityAccess level any DID or routine of the profile needs."""
    levels = {d.security for d in profile.dids.values()}
    levels |= {d.write_security for d in profile.dids.values()}
    levels |= {r.security for r in profile.routines.values()}
    return min((level for level in levels if level is not None), default=None)


def pick_session(sessions: tuple[str, ...], *, non_default: bool = False) -> str:
    """The session to use an item in: default when allowed (unless ``non_default``), then
    extended, else the first one named."""
    if "default" in sessions and not non_default:
        return "default"
    if "extended" in sessions:
        return "extended"
    return next((s for s in sessions if s != "default"), "extended")


def security_session(profile: DutProfile, level: int) -> str:
    """A non-default session in which the DUT grants ``level``: that of the first DID or
    routine needing it."""
    for did in profile.dids.values():
        if did.security == level:
            return pick_session(did.sessions, non_default=True)
    for routine in profile.routines.values():
        if routine.security == level:
            return pick_session(routine.sessions, non_default=True)
    return "extended"

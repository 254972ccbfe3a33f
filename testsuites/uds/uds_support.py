"""Helpers of the UDS conformance suite: raw-response checks, sessions, DUT timers."""

from __future__ import annotations

from dataclasses import dataclass

from harness.diag.client import UdsClient
from harness.diag.profile import ALL_SESSIONS, NON_DEFAULT_SESSIONS, DutProfile

S3_DEFAULT = 5.0
"""S3server (ISO 14229-2, Table 5): 5000 ms, not configurable."""
DELAY_DEFAULT = 10.0
"""Security access delay when the bench cannot tell (ISO 14229-1 leaves it to the OEM)."""
MAX_ATTEMPTS = 10
"""Wrong keys a DUT may take before exceededNumberOfAttempts; more means no lock-out."""
MARGIN = 0.5
"""Seconds added to the DUT's timers before a test decides they did not run out."""


@dataclass(frozen=True)
class DutTiming:
    """Timers of the DUT's diagnostic server that the tester's bench file does not state."""

    s3: float = S3_DEFAULT
    security_delay: float = DELAY_DEFAULT
    max_attempts: int = MAX_ATTEMPTS


def enter(uds: UdsClient, session: str) -> None:
    """Enter ``session`` the way ISO 14229-1 expects: programming through extended."""
    if session == "default":
        uds.session("default")
        return
    if session == "programming":
        uds.session("extended")
    uds.session(session)


def negative(response: bytes | None, sid: int) -> int | None:
    """The NRC of a raw response to service ``sid`` (None for a positive response)."""
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


def pick_session(sessions: tuple[str, ...], *, non_default: bool = False) -> str:
    """The session to use an item in: default when allowed (unless ``non_default``), then
    extended, else the first one named."""
    if "default" in sessions and not non_default:
        return "default"
    if "extended" in sessions:
        return "extended"
    return next((s for s in sessions if s != "default"), "extended")


def profile_sessions(profile: DutProfile) -> list[str]:
    """Non-default sessions the profile names explicitly for some DID or routine, sorted
    (a DID or routine without ``sessions`` gets the profile's defaults, which name every
    session ISO 14229-1 defines, supported or not)."""
    implicit = {ALL_SESSIONS, NON_DEFAULT_SESSIONS}
    found: set[str] = set()
    for did in profile.dids.values():
        if did.sessions not in implicit:
            found.update(did.sessions)
        if did.writable and did.write_sessions not in implicit:
            found.update(did.write_sessions)
    for routine in profile.routines.values():
        if routine.sessions not in implicit:
            found.update(routine.sessions)
    found.discard("default")
    return sorted(found)

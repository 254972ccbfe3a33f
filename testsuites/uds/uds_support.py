"""Helpers of the UDS conformance suite: sessions (the rest is in harness.diag.conformance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.diag.client import UdsClient
from harness.diag.profile import ALL_SESSIONS, NON_DEFAULT_SESSIONS, DutProfile

if TYPE_CHECKING:
    from harness.canbus.channel import Channel


def can_channel(uds: UdsClient, why: str) -> Channel:
    """The CAN channel the DUT answers on; skips the test where diagnostics run elsewhere
    (DoIP), since ``why`` needs the DUT's frames."""
    if uds.link.channel is None:
        pytest.skip(f"not tested over {uds.link.protocol}: {why} needs the CAN frames")
    return uds.link.channel


def enter(uds: UdsClient, session: str) -> None:
    """Enter ``session`` the way ISO 14229-1 expects: programming through extended."""
    if session == "default":
        uds.session("default")
        return
    if session == "programming":
        uds.session("extended")
    uds.session(session)


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

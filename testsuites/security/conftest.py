"""Security conformance suite: fixtures from the bench's DUT profile and simulated DUT.

``security_level`` / ``security_session``
    the lowest security level the profile's DIDs and routines need, and a non-default
    session the DUT grants it in (skip: none, or the bench cannot compute keys);
``secured_did``
    a DID readable only after SecurityAccess, in its session (skip: the profile has none);
``dut_timing``
    attempt limit and security delay: from the simulated DUT's UDS server when the bench
    simulates it, else ISO 14229-1-style defaults (10 attempts, 10 s);
``reset_signal``
    the DUT's cyclic message (with a rolling counter if it has one) whose pause and
    counter restart reveal a reset (None when the DUT sends nothing cyclic);
``examiner``
    runs fuzz examples and restores the DUT between them (see ``security_support``).
"""

from __future__ import annotations

import pytest

from harness.bench import Bench
from harness.diag.client import UdsClient
from harness.diag.conformance import lowest_security_level, security_session
from harness.diag.profile import DidDefinition
from harness.pytest_plugin.support import import_beside

import_beside(__file__, "security_support")
from security_support import (  # noqa: E402
    DutTiming,
    Examiner,
    ResetSignal,
    dut_is_simulated,
)


@pytest.fixture(scope="session")
def simulated_dut(bench: Bench) -> bool:
    """A simulated ECU plays the DUT: destructive services may be fuzzed."""
    return dut_is_simulated(bench)


@pytest.fixture
def secured_did(uds: UdsClient, security_level: int) -> DidDefinition:
    """A DID readable only with ``security_level`` (skip: the profile has none)."""
    for did in uds.profile.dids.values():
        if did.security == security_level:
            return did
    pytest.skip(f"the DUT profile has no DID secured by level {security_level}")


@pytest.fixture
def reset_signal(uds: UdsClient, bench: Bench) -> ResetSignal | None:
    """The DUT's cyclic message that reveals a reset, None when it sends none."""
    if uds.config.channel not in bench.can:
        return None  # DoIP only: no CAN channel to watch
    return ResetSignal.find(bench.can[uds.config.channel])


@pytest.fixture
def examiner(
    uds: UdsClient,
    request: pytest.FixtureRequest,
    reset_signal: ResetSignal | None,
    dut_timing: DutTiming,
) -> Examiner:
    """Runs fuzz examples; restores the DUT between them (power cycles only if the bench
    has ``[power]`` and a lock-out needs ending)."""
    level = lowest_security_level(uds.profile) if uds.config.security is not None else None
    session = security_session(uds.profile, level) if level is not None else None
    bench: Bench = request.getfixturevalue("bench")
    power_cycle = None
    if bench.devices.power is not None:
        supply = request.getfixturevalue("power")
        power_cycle = supply.power_cycle
    return Examiner(
        uds,
        reset_signal,
        security_session=session,
        security_level=level,
        power_cycle=power_cycle,
        timing=dut_timing,
    )

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

import importlib.util
import sys
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.diag.client import UdsClient
from harness.diag.profile import DidDefinition


def _load_support() -> None:
    """Make ``security_support`` importable by the test modules (pytest runs with
    ``--import-mode=importlib``, which puts no test directory on ``sys.path``)."""
    if "security_support" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        "security_support", Path(__file__).with_name("security_support.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["security_support"] = module
    spec.loader.exec_module(module)


_load_support()
from security_support import (  # noqa: E402
    DutTiming,
    Examiner,
    ResetSignal,
    dut_is_simulated,
)
from security_support import dut_timing as _dut_timing  # noqa: E402


def _non_default(sessions: tuple[str, ...]) -> str:
    if "extended" in sessions:
        return "extended"
    return next((s for s in sessions if s != "default"), "extended")


@pytest.fixture(scope="session")
def dut_timing(bench: Bench) -> DutTiming:
    """The DUT's attempt limit and security delay (exact when simulated)."""
    return _dut_timing(bench)


@pytest.fixture(scope="session")
def simulated_dut(bench: Bench) -> bool:
    """A simulated ECU plays the DUT: destructive services may be fuzzed."""
    return dut_is_simulated(bench)


@pytest.fixture
def security_level(uds: UdsClient) -> int:
    """The lowest security level the profile's DIDs and routines need (skip: none, or the
    bench cannot compute keys)."""
    profile = uds.profile
    levels = {d.security for d in profile.dids.values()}
    levels |= {d.write_security for d in profile.dids.values()}
    levels |= {r.security for r in profile.routines.values()}
    found = sorted(level for level in levels if level is not None)
    if not found:
        pytest.skip("the DUT profile names no security level")
    if uds.config.security is None:
        pytest.skip("the bench has no [diagnostics.security] seed_key to compute keys")
    return found[0]


@pytest.fixture
def security_session(uds: UdsClient, security_level: int) -> str:
    """A non-default session in which the DUT grants ``security_level``."""
    profile = uds.profile
    for did in profile.dids.values():
        if did.security == security_level:
            return _non_default(did.sessions)
    for routine in profile.routines.values():
        if routine.security == security_level:
            return _non_default(routine.sessions)
    return "extended"


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
    profile = uds.profile
    level: int | None = None
    session: str | None = None
    if uds.config.security is not None:
        secured = [d for d in profile.dids.values() if d.security is not None]
        routines = [r for r in profile.routines.values() if r.security is not None]
        if secured:
            level, session = secured[0].security, _non_default(secured[0].sessions)
        elif routines:
            level, session = routines[0].security, _non_default(routines[0].sessions)
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

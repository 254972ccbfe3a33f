"""UDS conformance suite (ISO 14229-1): parametrised by the DUT profile of the bench.

At collection time the bench file's ``[diagnostics]`` profile names what the DUT
supports; its DIDs, routines and sessions become the parameters:

``did``
    every DID the profile defines (read in one of its sessions);
``restricted_did``
    every DID readable only in some non-default sessions;
``secured_did``
    every DID that needs a security level to be read;
``writable_did``
    every DID the profile marks writable;
``routine``
    every routine the profile defines;
``session_name``
    every non-default session some DID or routine of the profile lives in.

A bench without ``[diagnostics]`` (or a profile without such items) gives empty
parameter sets, which pytest reports as skips. Timers the tester's bench file does not
state (S3, the security delay) come from the simulated DUT's UDS server when the
bench simulates the DUT, else from the standard's defaults.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.diag.client import UdsClient
from harness.diag.config import DiagConfig, diagnostics_config
from harness.diag.profile import DidDefinition, DutProfile, RoutineDefinition
from harness.exceptions import HarnessError
from harness.pytest_plugin.hooks import get_bench_config


def _load_support() -> None:
    """Make ``uds_support`` (the suite's helpers) importable by the test modules: pytest runs
    with ``--import-mode=importlib``, which puts no test directory on ``sys.path``."""
    if "uds_support" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        "uds_support", Path(__file__).with_name("uds_support.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["uds_support"] = module
    spec.loader.exec_module(module)


_load_support()
from uds_support import DutTiming, pick_session, profile_sessions  # noqa: E402


def _profile(config: pytest.Config) -> DutProfile | None:
    try:
        diag = diagnostics_config(get_bench_config(config))
    except HarnessError as exc:
        raise pytest.UsageError(f"harness: {exc}") from None
    return diag.profile if diag is not None else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = {
        "did",
        "restricted_did",
        "secured_did",
        "writable_did",
        "routine",
        "session_name",
    } & set(metafunc.fixturenames)
    if not wanted:
        return
    profile = _profile(metafunc.config)
    dids = list(profile.dids.values()) if profile is not None else []
    routines = list(profile.routines.values()) if profile is not None else []
    params: dict[str, list[DidDefinition] | list[RoutineDefinition] | list[str]] = {
        "did": dids,
        "restricted_did": [d for d in dids if "default" not in d.sessions],
        "secured_did": [d for d in dids if d.security is not None],
        "writable_did": [d for d in dids if d.writable],
        "routine": routines,
        "session_name": profile_sessions(profile) if profile is not None else [],
    }
    for name in sorted(wanted):
        values = params[name]
        ids = [v if isinstance(v, str) else v.name for v in values]
        metafunc.parametrize(name, values, ids=ids)


@pytest.fixture
def diag(uds: UdsClient) -> DiagConfig:
    """The bench's tester-side diagnostics configuration."""
    return uds.config


@pytest.fixture
def response_id(uds: UdsClient) -> int:
    """The CAN ID the DUT answers on (physical responses)."""
    rxid = uds.config.address.response_id
    assert rxid is not None, "this suite needs an addressing mode with a response ID"
    return int(rxid)


@pytest.fixture(scope="session")
def dut_timing(bench: Bench) -> DutTiming:
    """S3, security delay and attempt limit of the DUT: from its simulated UDS server when
    the bench simulates the DUT, else the standard's S3 and conservative defaults."""
    from harness.diag.server import UdsServer  # noqa: PLC0415 - only benches with diagnostics

    config = diagnostics_config(bench.config)
    if config is None:
        return DutTiming()
    dut_node = bench.config.can[config.channel].dut_node
    for ecu in bench.sims.values():
        if dut_node is None or ecu.definition.node != dut_node:
            continue
        for service in ecu.services:
            if isinstance(service, UdsServer):
                security = service.config.security
                if security is None:
                    return DutTiming(s3=service.config.s3)
                return DutTiming(
                    s3=service.config.s3,
                    security_delay=security.lockout,
                    max_attempts=security.attempts,
                )
    return DutTiming()


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
    """A non-default session in which the DUT grants ``security_level``: the session of the
    first DID or routine that needs it."""
    profile = uds.profile
    for did in profile.dids.values():
        if did.security == security_level:
            return pick_session(did.sessions, non_default=True)
    for routine in profile.routines.values():
        if routine.security == security_level:
            return pick_session(routine.sessions, non_default=True)
    return "extended"

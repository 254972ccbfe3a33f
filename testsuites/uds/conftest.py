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

import pytest

from harness.diag.client import UdsClient
from harness.diag.config import DiagConfig
from harness.diag.profile import DidDefinition, RoutineDefinition
from harness.pytest_plugin.support import collection_profile, import_beside

import_beside(__file__, "uds_support")
from uds_support import profile_sessions  # noqa: E402


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
    profile = collection_profile(metafunc.config)
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

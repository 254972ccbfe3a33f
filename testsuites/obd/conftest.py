"""OBD-II conformance suite (SAE J1979 / ISO 15031-5 on ISO 15765-4): parametrised by the
DUT profile of the bench.

The profile's ``[obd]`` section declares the DUT an OBD-II ECU and names what it must
support on top of J1979's own minimum (support PID 0x00 and info type 0x00); its lists
become the parameters:

``required_pid``
    every mode 01 PID in ``[obd] pids``;
``required_infotype``
    every mode 09 info type in ``[obd] infotypes``.

Everything else the suite checks comes from what the DUT itself claims at run time (its
support bitmaps). A bench without ``[diagnostics]``, or a profile without ``[obd]``,
skips the suite with the reason.
"""

from __future__ import annotations

import pytest

from harness.bench import Bench
from harness.diag.obd import ObdClient
from harness.diag.profile import ObdDefinition
from harness.pytest_plugin.support import collection_profile


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = {"required_pid", "required_infotype"} & set(metafunc.fixturenames)
    if not wanted:
        return
    profile = collection_profile(metafunc.config)
    obd = profile.obd if profile is not None else None
    values = {
        "required_pid": list(obd.pids) if obd is not None else [],
        "required_infotype": list(obd.infotypes) if obd is not None else [],
    }
    for name in sorted(wanted):
        metafunc.parametrize(name, values[name], ids=[f"0x{v:02X}" for v in values[name]])


@pytest.fixture
def obd_definition(bench: Bench) -> ObdDefinition:
    """The profile's ``[obd]`` (skip: the bench's DUT is not declared an OBD-II ECU)."""
    config = bench.config.diagnostics
    if config is None:
        pytest.skip(f"bench {bench.name!r} ({bench.config.path}) has no [diagnostics] section")
    if config.profile is None or config.profile.obd is None:
        where = config.profile.path.name if config.profile is not None else "no DUT profile"
        pytest.skip(f"the DUT profile ({where}) has no [obd] section: not an OBD-II ECU")
    return config.profile.obd


@pytest.fixture
def dut(bench: Bench, obd_definition: ObdDefinition, obd: ObdClient) -> int:
    """The CAN ID the DUT answers OBD-II requests on (ISO 15765-4: 0x7E8..0x7EF): the
    bench's diagnostic response ID."""
    config = bench.config.diagnostics
    assert config is not None  # obd_definition skipped otherwise
    response_id = config.address.response_id
    if response_id is None or response_id not in obd.connections:
        known = ", ".join(f"0x{i:X}" for i in sorted(obd.connections))
        pytest.skip(
            f"the DUT's response ID {response_id!r} is not one of the OBD-II response IDs "
            f"the bench listens on ({known})"
        )
    return int(response_id)

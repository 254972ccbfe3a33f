"""Fixtures in layers: ``bench_config`` -> ``bench`` (session) -> ``can`` (per test).

Tests ask for what they use; a bench that lacks it makes the test skip (see
the ``requires`` marker), and a bench that cannot open fails each test that
needs it with one line, not a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from harness.bench import Bench, Channels
from harness.config import BenchConfig
from harness.exceptions import HarnessError
from harness.pytest_plugin.hooks import bench_key, get_bench_config
from harness.sim.residual_bus import ResidualBus

if TYPE_CHECKING:
    from harness.diag.client import UdsClient
    from harness.diag.config import DiagConfig
    from harness.diag.conformance import DutTiming
    from harness.diag.obd import ObdClient


@pytest.fixture(scope="session")
def bench_config(pytestconfig: pytest.Config) -> BenchConfig:
    """The bench file this run uses, validated (not opened)."""
    try:
        return get_bench_config(pytestconfig)
    except HarnessError as exc:
        error = str(exc)
    pytest.fail(f"harness: {error}", pytrace=False)


@pytest.fixture(scope="session")
def bench(bench_config: BenchConfig, pytestconfig: pytest.Config) -> Iterator[Bench]:
    """The open bench, shared by the whole session and closed at its end."""
    try:
        opened = Bench.open(bench_config)
    except HarnessError as exc:
        error = str(exc)
    else:
        pytestconfig.stash[bench_key] = opened
        try:
            yield opened
        finally:
            del pytestconfig.stash[bench_key]
            opened.close()
        return
    pytest.fail(f"harness: cannot open bench {bench_config.name!r}: {error}", pytrace=False)


@pytest.fixture
def can(bench: Bench) -> Iterator[Channels]:
    """The bench's CAN channels by name (``can.body`` or ``can["body"]``).

    Periodic messages a test starts are stopped when it ends, so nothing a
    test sends leaks into the next one.
    """
    before = {name: set(channel.periodic) for name, channel in bench.can.items()}
    yield bench.can
    for name, channel in bench.can.items():
        for task in channel.periodic:
            if task not in before[name]:
                task.stop()


@pytest.fixture
def residual_bus(bench: Bench) -> Iterator[ResidualBus]:
    """The simulated rest of the vehicle: every simulated ECU except the one playing the DUT.

    ``residual_bus.set("ABS_WheelSpeeds", VehicleSpeed=30)``. Values and faults a
    test changes are reset when it ends; seeded faults switched on for the run stay on.
    Skips on a bench without simulated ECUs.
    """
    dut_nodes = {cfg.dut_node for cfg in bench.config.can.values()}
    others = {name: ecu for name, ecu in bench.sims.items() if ecu.definition.node not in dut_nodes}
    if not others:
        pytest.skip(f"bench {bench.name!r} simulates no ECUs besides the DUT")
    observers = {name: bench.can[sim.channel] for name, sim in bench.config.simulation.items()}
    network = ResidualBus(others, observers)
    yield network
    network.reset()


def _diagnostics(bench: Bench) -> DiagConfig:
    """The bench's ``[diagnostics]``, or skip the test when it has none."""
    config = bench.config.diagnostics
    if config is None:
        pytest.skip(f"bench {bench.name!r} ({bench.config.path}) has no [diagnostics] section")
    return config


@pytest.fixture
def uds(bench: Bench) -> Iterator[UdsClient]:
    """A UDS tester for the bench's DUT: ``uds.read_did("VIN")``, ``uds.dtcs()``...

    Skips on a bench without ``[diagnostics]``. A test that left the default session
    is returned to it afterwards, so the next test starts where a powered-up ECU would.
    """
    from harness.bench.diagnostics import open_uds  # noqa: PLC0415 - udsoncan only if used

    with open_uds(bench, _diagnostics(bench)) as client:
        yield client
        if client.session_entered != "default":
            with contextlib.suppress(HarnessError):
                client.session("default")


@pytest.fixture
def obd(bench: Bench) -> Iterator[ObdClient]:
    """An OBD-II tester (functional requests on 0x7DF): ``obd.read("rpm")``, ``obd.vin()``.

    Skips on a bench without ``[diagnostics]``.
    """
    from harness.bench.diagnostics import open_obd  # noqa: PLC0415 - udsoncan only if used

    config = _diagnostics(bench)
    if not config.channel:
        pytest.skip(f"bench {bench.name!r}: OBD-II needs a CAN channel, [diagnostics] has none")
    with open_obd(bench, config) as client:
        yield client


@pytest.fixture(scope="session")
def dut_timing(bench: Bench) -> DutTiming:
    """S3, security delay and attempt limit of the DUT's diagnostic server: exact when the
    bench simulates the DUT, else the standard's S3 and conservative defaults."""
    from harness.bench.diagnostics import dut_timing  # noqa: PLC0415 - udsoncan only if used

    return dut_timing(bench)


@pytest.fixture
def security_level(uds: UdsClient) -> int:
    """The lowest SecurityAccess level the DUT profile's DIDs and routines need. Skips when
    the profile names none, or the bench has no seed-key plugin to compute keys."""
    from harness.diag.conformance import lowest_security_level  # noqa: PLC0415 - as above

    level = lowest_security_level(uds.profile)
    if level is None:
        pytest.skip("the DUT profile names no security level")
    if uds.config.security is None:
        pytest.skip("the bench has no [diagnostics.security] seed_key to compute keys")
    return level


@pytest.fixture
def security_session(uds: UdsClient, security_level: int) -> str:
    """A non-default session in which the DUT grants ``security_level``."""
    from harness.diag.conformance import security_session  # noqa: PLC0415 - as above

    return security_session(uds.profile, security_level)

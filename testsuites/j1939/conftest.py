"""SAE J1939 conformance suite: the DUT on the bench's J1939 channel.

What the bench must say: a ``[can.NAME]`` whose database is J1939 (the DBC's
``ProtocolType``/``VFrameFormat``, or ``j1939 = true``) and whose ``dut_node`` names the
DUT; the DUT's source address is the one its messages carry in that DBC. Without such
a channel every test skips. Tests that leave the DUT changed (it lost its address, its
DTCs were cleared) run on a simulated DUT only, which is power-cycled after them.

Fixtures:

``j1939``
    the :class:`J1939Dut`: channel, the DUT's address and its messages;
``tester``
    a :class:`~harness.canbus.saej1939.stack.J1939Node` at 0xF9 (off-board diagnostic
    tool), claimed, for the whole module;
``dut_sim``
    the simulated ECU playing the DUT (skips on a real DUT), power-cycled after the test;
``dut_message``
    each message the DUT sends per the DBC that has a declared cycle time ("not tested"
    without one: ``GenMsgCycleTime``, or ``cycle_ms`` in the bench).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.bench import Bench, Channels
from harness.canbus.saej1939.dm import Dtc
from harness.canbus.saej1939.stack import J1939Node, name
from harness.pytest_plugin.hooks import get_bench_config
from harness.pytest_plugin.support import bench_errors_at_collection, import_beside
from harness.sim.ecu import SimulatedEcu
from harness.sim.j1939 import j1939_config

import_beside(__file__, "j1939_support")
from j1939_support import (  # noqa: E402
    TESTER_ADDRESS,
    WAIT,
    DutMessage,
    J1939Dut,
    dut_messages,
    find_dut,
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dut_message" not in metafunc.fixturenames:
        return
    with bench_errors_at_collection():
        messages = dut_messages(get_bench_config(metafunc.config))
    metafunc.parametrize("dut_message", messages, ids=str)


@pytest.fixture(scope="module")
def j1939(bench: Bench) -> J1939Dut:
    dut = find_dut(bench)
    if dut is None:
        pytest.skip("the bench has no J1939 channel with a dut_node: no J1939 DUT to test")
    return dut


@pytest.fixture(scope="module")
def tester(j1939: J1939Dut) -> Iterator[J1939Node]:
    with J1939Node(j1939.channel, name(identity=0x1F9, function=129), TESTER_ADDRESS) as node:
        assert node.wait_claimed(WAIT) == TESTER_ADDRESS, "the tester could not claim 0xF9"
        yield node


@pytest.fixture
def dut_sim(bench: Bench, j1939: J1939Dut, can: Channels) -> Iterator[SimulatedEcu]:
    if j1939.sim is None:
        pytest.skip("not tested on a real DUT: the test leaves it changed until a power cycle")
    sim = bench.sim(j1939.sim)
    yield sim
    since = j1939.channel.mark()
    sim.power_off()
    sim.power_on()
    j1939.channel.wait_for("AC", where={"source_address": j1939.address}, since=since, timeout=WAIT)


@pytest.fixture
def cyclic(dut_message: DutMessage, j1939: J1939Dut) -> DutMessage:
    if dut_message.cycle_time is None:
        pytest.skip(
            f"not tested: no cycle time declared for {dut_message.name} (GenMsgCycleTime in "
            f"the database, or cycle_ms in the bench's [can.{dut_message.channel}])"
        )
    return dut_message


@pytest.fixture
def bench_sim_dm1(bench: Bench, j1939: J1939Dut) -> tuple[str, tuple[Dtc, ...]] | None:
    """What a simulated DUT's ECU file says its DM1 holds (lamp, DTCs); None on a real DUT."""
    if j1939.sim is None:
        return None
    config = j1939_config(bench.sim(j1939.sim).definition)
    return config.dm1_lamp, config.dtcs

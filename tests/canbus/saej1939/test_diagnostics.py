"""The DM tool (DM1, DM2, DM3, DM11) against the simulated engine of the J1939 bench."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from harness.bench.assembly import Bench
from harness.canbus.channel import Channel
from harness.canbus.saej1939.diagnostics import DiagnosticTool, NegativeAcknowledgementError
from harness.canbus.saej1939.dm import Dtc
from harness.canbus.saej1939.request import Acknowledgement, Control
from harness.canbus.saej1939.stack import J1939Error, J1939Node, name
from harness.exceptions import ExpectationError

BENCH = Path(__file__).resolve().parents[3] / "fixtures" / "benches" / "virtual-j1939.toml"
WAIT = 10.0
TESTER, ENGINE, CAB = 0xF9, 0x00, 0x21


@pytest.fixture
def tool() -> Iterator[DiagnosticTool]:
    with (
        Bench.open(BENCH) as bench,
        J1939Node(bench.can["truck"], name(identity=5, function=130), TESTER) as node,
    ):
        assert node.wait_claimed(WAIT) == TESTER
        yield DiagnosticTool(node, timeout=WAIT)


def test_dm1_and_dm2_read_the_engines_dtcs(tool: DiagnosticTool) -> None:
    dm1 = tool.dm1(ENGINE)
    assert dm1.dtcs == (Dtc(110, 0, 3), Dtc(100, 1, 1))
    assert dm1.amber_warning_lamp == 1
    assert tool.dm2(ENGINE).dtcs == (Dtc(91, 3, 2),)
    assert tool.dm1(CAB).dtcs == ()


def test_dm3_and_dm11_are_acknowledged_and_clear(tool: DiagnosticTool) -> None:
    assert tool.dm3(ENGINE) == Acknowledgement(Control.ACK, 65228, TESTER)
    assert tool.dm2(ENGINE).dtcs == ()
    assert tool.dm11(ENGINE).positive
    assert tool.dm1(ENGINE).dtcs == ()


def test_a_node_without_dm2_nacks_and_the_tool_says_so(tool: DiagnosticTool) -> None:
    bus = can.Bus(interface="virtual", channel="demo-truck")
    with (
        Channel("plain", bus, tool.node.channel.db) as channel,
        J1939Node(channel, name(identity=6, function=60), 0x30) as plain,
    ):
        assert plain.wait_claimed(WAIT) == 0x30
        with pytest.raises(NegativeAcknowledgementError, match="node 0x30 .* PGN 65227 with NACK"):
            tool.dm2(0x30)


def test_no_node_at_the_address_times_out_and_a_global_address_is_refused(
    tool: DiagnosticTool,
) -> None:
    tool.timeout = 0.5
    with pytest.raises(ExpectationError, match="no PGN 59392 or 65226 from 0x42"):
        tool.dm1(0x42)
    with pytest.raises(J1939Error, match="a node's address"):
        tool.dm11(0xFF)

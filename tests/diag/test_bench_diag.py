"""Diagnostics on the virtual bench: the simulated BCM's server started by the bench, the
``uds``/``obd`` fixtures, and the issue's "done when" run with its trace decoded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from harness.bench import Bench
from harness.bench.diagnostics import open_obd, open_uds
from harness.diag.client import UdsClient
from harness.diag.profile import load_profile
from harness.diag.tracedecode import conversation_lines
from harness.exceptions import DiagnosticTimeoutError, NegativeResponseError
from harness.pytest_plugin.fixtures import _diagnostics
from harness.sim.uds.server import UdsServer
from harness.trace.reader import read_trace

ROOT = Path(__file__).resolve().parents[2]
VIRTUAL = ROOT / "fixtures" / "benches" / "virtual.toml"
PROFILE = ROOT / "fixtures" / "dut" / "bcm.toml"


@pytest.fixture(scope="module")
def bench() -> Iterator[Bench]:
    """The virtual bench on a bus of its own: a session's default bench may be open too."""
    private_bus = f"can.body.channel=diag-{uuid.uuid4().hex[:12]}"
    with Bench.open(VIRTUAL, [private_bus]) as opened:
        yield opened


def server_of(bench: Bench) -> UdsServer:
    return next(s for s in bench.sim("bcm").services if isinstance(s, UdsServer))


@pytest.fixture
def uds(bench: Bench) -> Iterator[UdsClient]:
    with open_uds(bench) as client:
        yield client
    ecu = bench.sim("bcm")  # a power cycle: every test meets a freshly started ECU
    ecu.power_off()
    ecu.power_on()


def write_blf(frames: list[can.Message], path: Path) -> Path:
    with can.BLFWriter(path) as writer:
        for msg in frames:
            writer.on_message_received(msg)
    return path


def test_done_when_identity_dtcs_security_and_a_64k_download(
    bench: Bench, uds: UdsClient, tmp_path: Path
) -> None:
    body = bench.can.body
    since = body.mark()
    assert uds.read_did("VIN") == "WDEMX000000000001"
    assert uds.read_did("PartNumber") == "BCM-DEMO-0001"
    assert uds.read_did("SoftwareVersion") == "SW 1.4.2"
    assert [d.name for d in uds.dtcs()] == ["DriverDoorMotorOpen", "SupplyVoltageLow"]
    uds.clear_dtcs()
    assert uds.dtcs() == []
    uds.session("extended")
    uds.session("programming")
    uds.unlock(1)
    image = bytes((i * 31 + 7) & 0xFF for i in range(64 * 1024))
    result = uds.download(0x00010000, image)
    assert (result.blocks, result.max_block_length) == (17, 4095)
    assert server_of(bench).downloaded == image

    # the whole exchange is in the channel's record; as a BLF trace it decodes back
    recorded = [
        can.Message(
            timestamp=f.timestamp,
            arbitration_id=f.arbitration_id,
            data=f.data,
            is_extended_id=f.is_extended_id,
            is_rx=f.is_rx,
        )
        for f in body.history.since(since.seq)
    ]
    trace = write_blf(recorded, tmp_path / "done-when.blf")
    lines = list(conversation_lines(read_trace(trace), "7E0:7E8", profile=load_profile(PROFILE)))
    text = "\n".join(lines)
    for expected in (
        "->  ReadDataByIdentifier VIN (0xF190)",
        "<-  ReadDataByIdentifier positive: VIN (0xF190) = 'WDEMX000000000001'",
        "<-  ReadDataByIdentifier positive: PartNumber (0xF187) = 'BCM-DEMO-0001'",
        "<-  ReadDataByIdentifier positive: SoftwareVersion (0xF189) = 'SW 1.4.2'",
        "<-  ReadDTCInformation positive: B1001-13 DriverDoorMotorOpen status 0x2F",
        "->  ClearDiagnosticInformation all DTCs (0xFFFFFF)",
        "<-  ReadDTCInformation positive: no DTCs",
        "->  SecurityAccess sendKey level 0x01: key 4 bytes (redacted)",
        "<-  SecurityAccess positive: level 0x01 unlocked",
        "->  RequestDownload address 0x10000 size 65536",
        "<-  RequestDownload positive: maxNumberOfBlockLength 4095",
        "->  TransferData block 0x11 (48 bytes)",  # 65536 - 16 * 4093
        "<-  RequestTransferExit positive",
    ):
        assert expected in text, f"{expected!r} not in the decoded trace:\n{text[:3000]}"
    assert sum("->  TransferData" in line for line in lines) == 17
    assert "!!" not in text  # no ISO-TP error anywhere in the recording


def test_communication_control_silences_the_bcm(bench: Bench, uds: UdsClient) -> None:
    body = bench.can.body
    uds.session("extended")
    uds.communication_control("disable_rx_and_tx")
    since = body.mark()
    body.expect_never("BCM_DoorStatus", since=since, for_=0.25)  # sent every 100 ms normally
    uds.communication_control("enable_rx_and_tx")
    since = body.mark()
    body.wait_for("BCM_DoorStatus", since=since, timeout=1.0)


def test_power_off_stops_the_server(bench: Bench, uds: UdsClient) -> None:
    ecu = bench.sim("bcm")
    ecu.power_off()
    assert not server_of(bench).running
    uds.config = type(uds.config)(**{**uds.config.__dict__, "p2": 0.1})
    with pytest.raises(DiagnosticTimeoutError):
        uds.read_did("VIN")
    ecu.power_on()
    assert uds.read_did("VIN") == "WDEMX000000000001"


def test_a_seeded_diagnostic_fault_switched_on_the_bench(bench: Bench, uds: UdsClient) -> None:
    ecu = bench.sim("bcm")
    uds.session("extended")
    ecu.fault_on("diag_no_security_lockout")
    try:
        for _ in range(4):  # the fourth would be refused with 0x36/0x37 without the fault
            uds.request_seed(1)
            with pytest.raises(NegativeResponseError) as caught:
                uds.send_key(1, b"\x00\x00\x00\x00")
            assert caught.value.nrc_name == "invalidKey"
    finally:
        ecu.fault_off("diag_no_security_lockout")
    uds.request_seed(1)
    with pytest.raises(NegativeResponseError) as caught:
        uds.send_key(1, b"\x00\x00\x00\x00")
    assert caught.value.nrc_name == "exceedNumberOfAttempts"  # the fault is off again


def test_obd_reads_the_vehicle_from_the_bus(bench: Bench, uds: UdsClient) -> None:
    body = bench.can.body
    residual = bench.sim("abs").residual
    assert residual is not None
    with open_obd(bench) as obd:  # shares the ISO-TP stack of the open UDS client
        assert obd.vin() == "WDEMX000000000001"
        since = body.mark()
        residual.set("ABS_WheelSpeeds", VehicleSpeed=30)
        body.wait_for("ABS_WheelSpeeds", where={"VehicleSpeed": 30}, since=since, timeout=1.0)
        assert obd.read("speed").value == 30
        assert obd.read("rpm").value == 800  # the simulated ECM's engine speed
        residual.reset()
    assert uds.read_did("VIN") == "WDEMX000000000001"


PLUGIN_TEST = """
def test_reads(uds, obd):
    assert uds.read_did("VIN") == "WDEMX000000000001"
    uds.session("extended")
    assert obd.read("module_voltage").value == 13.8

def test_next_test_starts_in_the_default_session(uds):
    assert uds.read_did("ActiveSession") == 1
"""


def test_the_uds_and_obd_fixtures(pytester: pytest.Pytester, bcm_bench: Path) -> None:
    pytester.makepyfile(PLUGIN_TEST)
    result = pytester.runpytest(
        "--bench", str(bcm_bench), "-p", "no:cacheprovider", "--harness-results", "none"
    )
    result.assert_outcomes(passed=2)


def test_the_fixtures_skip_without_diagnostics(tmp_path: Path) -> None:
    bench_file = tmp_path / "plain.toml"
    bench_file.write_text(f'[can.body]\ninterface = "virtual"\nchannel = "{tmp_path.name}"\n')
    with (
        Bench.open(bench_file) as plain,
        pytest.raises(pytest.skip.Exception, match=r"has no \[diagnostics\] section"),
    ):
        _diagnostics(plain)  # what the uds and obd fixtures call first

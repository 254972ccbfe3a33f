"""OBD-II: the tester on the functional ID against the simulated BCM's responder."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from harness import clock
from harness.diag.obd import (
    PIDS,
    ObdClient,
    decode_obd_dtc,
    encode_obd_dtc,
    obd_on_channel,
    parse_support_bitmap,
    pid,
    support_bitmap,
)
from harness.exceptions import DiagnosticTimeoutError, UnknownNameError

if TYPE_CHECKING:
    from tests.diag.conftest import Rig

BCM = 0x7E8


@pytest.fixture
def obd(rig: Rig) -> Iterator[ObdClient]:
    config = dataclasses.replace(rig.uds.config, obd_window=0.2)
    with obd_on_channel(rig.tester, config) as client:
        yield client


def test_supported_pids_follow_the_bitmap_chain(obd: ObdClient) -> None:
    assert obd.supported_pids() == {BCM: {0x01, 0x05, 0x0C, 0x0D, 0x20, 0x40, 0x42}}


def test_live_values_come_from_the_bus_in_units(rig: Rig, obd: ObdClient) -> None:
    assert obd.read("module_voltage").value == pytest.approx(13.8)
    since = rig.ecu.mark()
    rig.tester.send("ECM_EngineData", EngineSpeed=2150.5, CoolantTemp=92, EngineRunning=1)
    rig.tester.send("ABS_WheelSpeeds", VehicleSpeed=47.3)
    rig.ecu.wait_for("ABS_WheelSpeeds", since=since, timeout=1.0)
    rpm = obd.read("rpm")
    assert (rpm.value, rpm.unit, rpm.ecu) == (2150.5, "rpm", BCM)
    assert obd.read(0x05).value == 92
    assert obd.read("speed").value == 47  # PID 0x0D has 1 km/h resolution
    assert str(rpm) == "rpm = 2150.5 rpm (ECU 0x7E8)"


def test_an_unsupported_pid_gets_no_answer(obd: ObdClient) -> None:
    with pytest.raises(DiagnosticTimeoutError, match="no ECU answered within 200 ms"):
        obd.read("fuel_level")


def test_known_responders_end_the_wait_early(rig: Rig) -> None:
    config = dataclasses.replace(rig.uds.config, obd_window=2.0)  # wide: far from any jitter
    with obd_on_channel(rig.tester, config) as obd:
        started = clock.now()
        obd.read("module_voltage")
        assert clock.now() - started >= 2.0 - 0.02  # the first request waits the whole window
        assert obd.responders == {BCM}
        started = clock.now()
        obd.read("module_voltage")
        assert clock.now() - started < 1.0  # later ones return when 0x7E8 has answered


def test_vehicle_information(obd: ObdClient) -> None:
    assert obd.vin() == "WDEMO000000000001"  # multi-frame: flow control went to 0x7E0
    assert obd.calibration_ids() == {BCM: ["BCMCAL-0001"]}
    assert obd.ecu_names() == {BCM: "BCM-BodyControl"}


def test_stored_pending_and_cleared_dtcs(rig: Rig, obd: ObdClient) -> None:
    assert obd.dtcs() == {BCM: ["P0562"]}
    assert obd.dtcs(pending=True) == {BCM: []}
    assert obd.clear_dtcs() == {BCM}
    assert obd.dtcs() == {BCM: []}
    assert rig.server.obd is not None
    assert rig.server.obd.clears == 1


def test_obd_requests_answered_physically_too(rig: Rig) -> None:
    assert rig.exchange(bytes.fromhex("01 42")) == bytes.fromhex("41 42 35 e8")  # 13.800 V
    assert rig.exchange(bytes.fromhex("03 00")) == bytes.fromhex("7f 03 13")
    assert rig.exchange(bytes.fromhex("09 02 00")) == bytes.fromhex("7f 09 13")
    assert rig.exchange(bytes.fromhex("05 01")) == bytes.fromhex("7f 05 11")


def test_pid_formulas_round_trip() -> None:
    for definition in PIDS.values():
        for value in (0, 1, 50):  # within every PID's range
            data = definition.encode(value)
            assert len(data) == definition.length
            assert definition.decode(data) == pytest.approx(value, abs=0.5 + value * 0.005)
    assert pid("rpm").decode(bytes.fromhex("1a f8")) == 1726  # J1979: (256A + B) / 4
    assert pid(0x05).decode(b"\x7b") == 83  # A - 40
    with pytest.raises(UnknownNameError, match="did you mean 'rpm'"):
        pid("rmp")


def test_support_bitmaps_and_dtc_codes() -> None:
    assert support_bitmap([0x01, 0x0C, 0x0D, 0x20], 0x00) == bytes.fromhex("80 18 00 01")
    assert parse_support_bitmap(bytes.fromhex("80 18 00 01"), 0x00) == {0x01, 0x0C, 0x0D, 0x20}
    assert encode_obd_dtc("P0301") == b"\x03\x01"
    assert encode_obd_dtc("U0100") == b"\xc1\x00"
    assert decode_obd_dtc(b"\xc1\x00") == "U0100"
    with pytest.raises(ValueError, match="not an OBD-II DTC"):
        encode_obd_dtc("X0301")

"""OBD-II: the tester on the functional ID against the simulated BCM's responder."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import clock
from harness.diag.obd import (
    PID_LENGTHS,
    PIDS,
    ObdClient,
    decode_obd_dtc,
    encode_obd_dtc,
    parse_support_bitmap,
    pid,
    pid_length,
    split_pid_answer,
    support_bitmap,
    vin_problems,
)
from harness.diag.profile import ObdDefinition, load_profile
from harness.diag.transport.on_can import obd_on_channel
from harness.exceptions import (
    ConfigError,
    DiagnosticError,
    DiagnosticTimeoutError,
    UnknownNameError,
)
from harness.sim.obd import ObdResponder, ObdResponderConfig

if TYPE_CHECKING:
    from uds_rig import Rig

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
    assert obd.vin() == "WDEMX000000000001"  # multi-frame: flow control went to 0x7E0
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


# -- seeded faults -------------------------------------------------------------------


def test_bitmap_overclaims_fault_claims_a_pid_never_answered(rig: Rig, obd: ObdClient) -> None:
    rig.faults.add("obd_bitmap_overclaims")
    assert obd.supported_pids()[BCM] == {0x01, 0x04, 0x05, 0x0C, 0x0D, 0x20, 0x40, 0x42}
    with pytest.raises(DiagnosticTimeoutError):
        obd.read("engine_load")  # 0x04: claimed, never answered
    assert obd.answer_of(bytes.fromhex("01 20"), BCM) == bytes.fromhex("41 20 00 00 00 01")
    rig.faults.clear()
    assert 0x04 not in obd.supported_pids()[BCM]  # switched off: the bitmap is honest again


def test_overclaimed_pid_is_one_the_ecu_does_not_answer() -> None:
    def responder(pids: Mapping[int, float | tuple[str, str]]) -> ObdResponder:
        return ObdResponder(
            ObdResponderConfig(pids=pids),
            signal=lambda message, signal: 0.0,
            vin=lambda: "1M8GDM9AXKP042788",
            faults=lambda: {"obd_bitmap_overclaims"},
        )

    assert responder({0x42: 13.8}).overclaimed() == 0x04  # the harness table's first
    every = {p.pid: 1.0 for p in PIDS.values() if p.pid < 0x20}
    assert responder(every).overclaimed() == 0x02  # else the first free one below 0x20
    answer = responder({0x42: 13.8}).respond(b"\x01\x00", functional=True)
    assert answer is not None
    assert parse_support_bitmap(answer[2:], 0x00) == {0x01, 0x04, 0x20}


def test_vin_truncated_fault_sends_16_characters(rig: Rig, obd: ObdClient) -> None:
    vin = rig.server.values[0xF190].decode("ascii")
    rig.faults.add("obd_vin_truncated")
    answer = obd.answer_of(bytes.fromhex("09 02"), BCM)
    assert answer == bytes.fromhex("49 02 01") + vin[:16].encode("ascii")
    assert obd.vin() == vin[:16]
    rig.faults.clear()
    assert obd.vin() == vin


def test_answer_of_and_supported_infotypes(obd: ObdClient) -> None:
    assert obd.supported_infotypes() == {BCM: {0x02, 0x04, 0x0A}}
    assert obd.answer_of(bytes.fromhex("09 06"), BCM) is None  # no CVN: silence
    assert obd.answer_of(bytes.fromhex("01 42"), BCM) == bytes.fromhex("41 42 35 e8")
    with pytest.raises(UnknownNameError, match="0x7F0 is not an OBD-II response ID"):
        obd.answer_of(bytes.fromhex("01 00"), 0x7F0)


def test_answer_of_waits_longer_only_when_asked(rig: Rig) -> None:
    """A window too short for any answer: the default gives silence, ``wait`` the answer."""
    config = dataclasses.replace(rig.uds.config, obd_window=1e-6)
    with obd_on_channel(rig.tester, config) as client:
        assert client.answer_of(bytes.fromhex("01 42"), BCM) is None
        answer = client.answer_of(bytes.fromhex("01 42"), BCM, wait=5.0)
        assert answer == bytes.fromhex("41 42 35 e8")


# -- answer checks -------------------------------------------------------------------


def test_split_pid_answer() -> None:
    assert split_pid_answer(bytes.fromhex("41 00 be 1f a8 13")) == {0x00: bytes.fromhex("be1fa813")}
    multi = bytes.fromhex("41 01 81 07 ff 00 0d 2f 42 35 e8")
    assert split_pid_answer(multi) == {
        0x01: bytes.fromhex("8107ff00"),
        0x0D: b"\x2f",
        0x42: bytes.fromhex("35e8"),
    }
    assert split_pid_answer(bytes.fromhex("41 0d 2f a6 01 02 03")) == {
        0x0D: b"\x2f",
        0xA6: bytes.fromhex("010203"),  # size unknown to J1979's table: the rest
    }
    assert pid_length(0x0C) == 2
    assert pid_length(0xA6) is None


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("7f 01 12", "not a positive mode 01 answer"),
        ("41", "not a positive mode 01 answer"),
        ("41 0c 1a", "PID 0x0C at byte 1 has 1 of 2 bytes"),
        ("41 0d 2f 0d 30", "PID 0x0D at byte 3 is repeated"),
        ("41 0d 2f a6", "PID 0xA6 at byte 3 is repeated or has no data"),
    ],
)
def test_split_pid_answer_rejects_malformed_answers(answer: str, problem: str) -> None:
    with pytest.raises(DiagnosticError, match=problem):
        split_pid_answer(bytes.fromhex(answer))


@given(
    st.lists(st.sampled_from(sorted(PID_LENGTHS)), min_size=1, max_size=6, unique=True),
    st.data(),
)
def test_split_pid_answer_round_trips(numbers: list[int], data: st.DataObject) -> None:
    """Any multi-PID answer of PIDs J1979 gives a size splits back into what built it."""
    sizes = {n: PID_LENGTHS[n] for n in numbers}
    parts = {n: data.draw(st.binary(min_size=k, max_size=k)) for n, k in sizes.items()}
    answer = b"\x41" + b"".join(bytes([n]) + data for n, data in parts.items())
    assert split_pid_answer(answer) == parts


def test_vin_problems() -> None:
    assert vin_problems(b"1M8GDM9AXKP042788") == []
    assert vin_problems(b"1M8GDM9AXKP04278") == ["16 bytes, not 17"]
    problems = vin_problems(b"1M8GDM9AXKPO4Q7\x00i")
    assert problems == [
        "character 'O' at position 12 is not in ISO 3779's set",
        "character 'Q' at position 14 is not in ISO 3779's set",
        "character '0x00' at position 16 is not in ISO 3779's set",
        "character 'i' at position 17 is not in ISO 3779's set",
    ]


# -- the DUT profile's [obd] -----------------------------------------------------------


def _profile(tmp_path: Path, obd: str) -> Path:
    path = tmp_path / "dut.toml"
    path.write_text(f'[profile]\nname = "x"\n{obd}')
    return path


def test_profile_obd_section(tmp_path: Path) -> None:
    assert load_profile(_profile(tmp_path, "")).obd is None
    assert load_profile(_profile(tmp_path, "[obd]\n")).obd == ObdDefinition()
    path = _profile(tmp_path, "[obd]\npids = [0x01, 0x42]\ninfotypes = [2]\n")
    assert load_profile(path).obd == ObdDefinition(pids=(0x01, 0x42), infotypes=(0x02,))
    bcm = Path(__file__).resolve().parents[2] / "fixtures" / "dut" / "bcm.toml"
    assert load_profile(bcm).obd == ObdDefinition((0x01, 0x05, 0x0C, 0x0D, 0x42), (2, 4, 10))


@pytest.mark.parametrize(
    ("obd", "problem"),
    [
        ("pids = [0x100]", r"obd\.pids: expected a list of integers 0x01\.\.0xFF"),
        ("pids = [0]", r"obd\.pids: expected a list"),
        ('infotypes = ["VIN"]', r"obd\.infotypes: expected a list"),
        ("pids = [true]", r"obd\.pids: expected a list"),
        ("pids = 0x0C", r"obd\.pids: expected a list"),
        ("pids = [0x0C, 0x0D, 0x0C]", r"obd\.pids: 0x0C is listed twice"),
        ("pid = [0x0C]", r"obd\.pid: unknown key \(did you mean 'pids'\?\)"),
    ],
)
def test_profile_obd_section_errors(tmp_path: Path, obd: str, problem: str) -> None:
    path = _profile(tmp_path, f"[obd]\n{obd}\n")
    with pytest.raises(ConfigError, match=problem) as error:
        load_profile(path)
    assert str(path) in str(error.value)

"""The harness's UDS client against the simulated server: every service, positive and negative,
through real ISO-TP on a virtual bus."""

from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness import clock
from harness.canbus.frame import Frame
from harness.diag.config import IsoTpConfig
from harness.diag.seedkey import xor_constant
from harness.exceptions import DiagnosticError, DiagnosticTimeoutError, NegativeResponseError
from harness.sim.uds.config import DownloadConfig, ServerConfig, ServerSecurity

if TYPE_CHECKING:
    from uds_rig import Rig, RigFactory

VIN = "WDEMX000000000001"
MASK = 0x5A3CC3A5  # the xor_constant parameter of fixtures/ecus/bcm.toml


def sent_by(channel_frames: list[Frame], arbitration_id: int) -> list[Frame]:
    return [f for f in channel_frames if f.arbitration_id == arbitration_id]


# -- identification and data (0x22, 0x2E) --------------------------------------------------


def test_reads_identity_dids_by_name_decoded(rig: Rig) -> None:
    assert rig.uds.read_did("VIN") == VIN
    assert rig.uds.read_did(0xF187) == "BCM-DEMO-0001"
    assert rig.uds.read_did("SupplyVoltage") == pytest.approx(13.8)
    assert rig.uds.read_did("DoorLockCycles") == 1024
    assert rig.uds.identity() == {
        "VIN": VIN,
        "PartNumber": "BCM-DEMO-0001",
        "SoftwareVersion": "SW 1.4.2",
        "HardwareVersion": "HW03",
        "SerialNumber": "SN00004711",
    }


def test_reads_several_dids_in_one_request(rig: Rig) -> None:
    since = rig.tester.mark()
    values = rig.uds.read_dids("VIN", "PartNumber", "ActiveSession")
    assert values == {"VIN": VIN, "PartNumber": "BCM-DEMO-0001", "ActiveSession": 1}
    requests = sent_by(rig.tester.history.since(since.seq), 0x7E0)
    assert requests[0].data[:8] == bytes.fromhex("07 22 f1 90 f1 87 f1 86")  # one single frame


def test_active_session_did_follows_the_session(rig: Rig) -> None:
    rig.uds.session("extended")
    assert rig.uds.read_did("ActiveSession") == 3


def test_unknown_did_number_reads_raw_or_is_refused(rig: Rig) -> None:
    with pytest.raises(NegativeResponseError) as caught:
        rig.uds.read_did(0x1234)
    assert (caught.value.nrc, caught.value.nrc_name) == (0x31, "requestOutOfRange")
    assert "DID 0x1234" in str(caught.value)


def test_did_readable_only_in_extended_session_and_after_unlock(rig: Rig) -> None:
    with pytest.raises(NegativeResponseError) as caught:
        rig.uds.read_did("ImmobilizerData")  # default session: not supported there
    assert caught.value.nrc == 0x31
    rig.uds.session("extended")
    with pytest.raises(NegativeResponseError) as caught:
        rig.uds.read_did("ImmobilizerData")
    assert (caught.value.nrc, caught.value.nrc_name) == (0x33, "securityAccessDenied")
    rig.uds.unlock(1)
    assert rig.uds.read_did("ImmobilizerData") == bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90")


def test_write_did_multi_frame_with_session_and_security(rig: Rig) -> None:
    config = bytes(range(100, 124))
    with pytest.raises(NegativeResponseError) as caught:
        rig.uds.write_did("VehicleConfig", config)
    assert caught.value.nrc == 0x7F  # WriteDataByIdentifier is not offered in default
    rig.uds.session("extended")
    with pytest.raises(NegativeResponseError) as caught:
        rig.uds.write_did("VehicleConfig", config)
    assert caught.value.nrc == 0x33
    rig.uds.unlock()
    since = rig.ecu.mark()
    rig.uds.write_did("VehicleConfig", config)
    assert rig.uds.read_did("VehicleConfig") == config
    first = sent_by(rig.ecu.history.since(since.seq), 0x7E0)[0]
    assert first.data[0] >> 4 == 1  # a first frame: 27 bytes do not fit one frame
    assert int.from_bytes(first.data[:2], "big") & 0xFFF == 27


def test_write_did_refusals(rig: Rig) -> None:
    rig.uds.session("extended")
    rig.uds.unlock()
    assert rig.nrc(bytes.fromhex("2e f1 90") + VIN.encode()) == 0x31  # VIN is not writable
    assert rig.nrc(bytes.fromhex("2e 02 00 01 02 03")) == 0x13  # 3 bytes for a 24-byte DID
    assert rig.nrc(bytes.fromhex("2e 02 00")) == 0x13  # no data at all


def test_a_value_that_does_not_encode_is_a_diagnostic_error(rig: Rig) -> None:
    rig.uds.session("extended")
    with pytest.raises(DiagnosticError, match="VehicleConfig"):
        rig.uds.write_did("VehicleConfig", b"short")


# -- sessions (0x10), reset (0x11), tester present (0x3E) ----------------------------------


def test_session_control_reports_timing(rig: Rig) -> None:
    assert rig.uds.session("extended") == (0.05, 2.0)  # P2, P2* as the ECU file says
    assert rig.server.state.session == "extended"
    rig.uds.session("programming")
    assert rig.server.state.session == "programming"
    rig.uds.session("default")
    assert rig.server.state.session == "default"


def test_programming_session_only_from_extended_and_at_standstill(rig: Rig) -> None:
    assert rig.nrc(bytes.fromhex("10 02")) == 0x7E  # subFunctionNotSupportedInActiveSession
    rig.uds.session("extended")
    since = rig.ecu.mark()
    rig.tester.send("ABS_WheelSpeeds", VehicleSpeed=30)
    rig.ecu.wait_for("ABS_WheelSpeeds", since=since, timeout=1.0)
    assert rig.nrc(bytes.fromhex("10 02")) == 0x22  # conditionsNotCorrect while driving
    assert rig.nrc(bytes.fromhex("11 01")) == 0x22
    since = rig.ecu.mark()
    rig.tester.send("ABS_WheelSpeeds", VehicleSpeed=0)
    rig.ecu.wait_for("ABS_WheelSpeeds", since=since, timeout=1.0)
    rig.uds.session("programming")


def test_ecu_reset_returns_to_default_and_relocks(rig: Rig) -> None:
    rig.uds.session("extended")
    rig.uds.unlock()
    rig.uds.reset("hard")
    state = rig.server.state
    assert (state.session, state.security_level, state.resets) == ("default", None, 1)
    rig.uds.reset("soft")
    assert rig.server.state.resets == 2
    assert rig.nrc(bytes.fromhex("11 05")) == 0x12
    assert rig.nrc(bytes.fromhex("11 01 00")) == 0x13


def test_sub_function_and_length_errors(rig: Rig) -> None:
    assert rig.nrc(bytes.fromhex("10 05")) == 0x12  # subFunctionNotSupported
    assert rig.nrc(bytes.fromhex("10")) == 0x13  # incorrectMessageLengthOrInvalidFormat
    assert rig.nrc(bytes.fromhex("10 03 00")) == 0x13
    assert rig.nrc(bytes.fromhex("3e 01")) == 0x12
    assert rig.nrc(bytes.fromhex("3e 00 00")) == 0x13
    assert rig.nrc(bytes.fromhex("22 f1")) == 0x13
    assert rig.nrc(bytes.fromhex("22")) == 0x13
    assert rig.nrc(bytes.fromhex("22" + "f190" * 9)) == 0x13  # more DIDs than the ECU takes


def test_unsupported_services_are_refused_by_name(rig: Rig) -> None:
    assert rig.nrc(bytes.fromhex("23 14 00 10 00")) == 0x11  # ReadMemoryByAddress
    assert rig.nrc(bytes.fromhex("ba 01")) == 0x11  # not even a UDS service
    with pytest.raises(NegativeResponseError, match="0x11 serviceNotSupported"):
        rig.uds._raw("ReadMemoryByAddress", "0x1000", bytes.fromhex("23 14 00 10 00"))


def test_services_outside_their_session(rig: Rig) -> None:
    assert rig.nrc(bytes.fromhex("27 01")) == 0x7F  # serviceNotSupportedInActiveSession
    assert rig.nrc(bytes.fromhex("31 01 02 01")) == 0x7F
    assert rig.nrc(bytes.fromhex("28 03 01")) == 0x7F
    assert rig.nrc(bytes.fromhex("85 02")) == 0x7F
    rig.uds.session("extended")
    assert rig.nrc(bytes.fromhex("34 00 44 00 01 00 00 00 00 10 00")) == 0x7F
    assert rig.nrc(bytes.fromhex("36 01 00")) == 0x7F


def test_tester_present_and_its_suppress_bit(rig: Rig) -> None:
    rig.uds.tester_present()
    since = rig.tester.mark()
    rig.uds.tester_present(suppress=True)
    # barrier: the ECU answers in order, so once this is answered the first one was handled
    assert rig.exchange(bytes.fromhex("22 f1 86")) == bytes.fromhex("62 f1 86 01")
    responses = sent_by(rig.tester.history.since(since.seq), 0x7E8)
    assert [f.data[1] for f in responses] == [0x62]  # nothing for the suppressed request


def test_fault_suppress_bit_ignored_answers_anyway(rig: Rig) -> None:
    rig.faults.add("suppress_bit_ignored")
    since = rig.tester.mark()
    rig.uds.tester_present(suppress=True)
    answer = rig.tester.wait_for(0x7E8, since=since, timeout=1.0)
    assert answer.data[:3] == bytes.fromhex("02 7e 00")


def test_suppress_bit_does_not_hide_negative_responses(rig: Rig) -> None:
    assert rig.nrc(bytes.fromhex("10 85")) == 0x12


# -- security access (0x27) -----------------------------------------------------------------


def test_unlock_with_the_plugin_algorithm(rig: Rig) -> None:
    rig.uds.session("extended")
    rig.uds.unlock(1)
    assert rig.server.state.security_level == 1
    assert rig.uds.request_seed(1) == bytes(4)  # already unlocked: an all-zero seed


def test_security_refusals(rig: Rig) -> None:
    rig.uds.session("extended")
    assert rig.nrc(bytes.fromhex("27 03")) == 0x12  # level 3 does not exist
    assert rig.nrc(bytes.fromhex("27 02 11 22 33 44")) == 0x24  # key without a seed
    rig.uds.request_seed(1)
    assert rig.nrc(bytes.fromhex("27 02")) == 0x13  # sendKey without a key
    with pytest.raises(NegativeResponseError) as caught:
        rig.uds.send_key(1, b"\x00\x00\x00\x00")
    assert caught.value.nrc_name == "invalidKey"  # the malformed request left the seed valid
    assert rig.nrc(bytes.fromhex("27 02 00 00 00 00")) == 0x24  # the wrong key used it up


def test_wrong_keys_lock_out_then_the_delay_expires(
    make_rig: RigFactory, bcm_server_config: ServerConfig
) -> None:
    rig = make_rig(server={"security": _security(bcm_server_config, lockout=0.3)})
    rig.uds.session("extended")
    for attempt in (1, 2):
        seed = rig.uds.request_seed(1)
        with pytest.raises(NegativeResponseError) as caught:
            rig.uds.send_key(1, bytes(b ^ 0xFF for b in seed))
        assert caught.value.nrc == 0x35, attempt  # invalidKey
        assert rig.server.state.failed_attempts == attempt
    rig.uds.request_seed(1)
    with pytest.raises(NegativeResponseError) as caught:
        rig.uds.send_key(1, b"\x00\x00\x00\x00")
    assert (caught.value.nrc, caught.value.nrc_name) == (0x36, "exceedNumberOfAttempts")
    locked_at = clock.now()
    with pytest.raises(NegativeResponseError) as caught:
        rig.uds.request_seed(1)
    assert (caught.value.nrc, caught.value.nrc_name) == (0x37, "requiredTimeDelayNotExpired")
    assert rig.server.wait_until(lambda s: not s.locked_out, timeout=3.0)
    assert clock.now() - locked_at >= 0.3 - 0.02
    rig.uds.unlock(1)
    assert rig.server.state.security_level == 1


def test_fault_security_lockout_never_engages(
    make_rig: RigFactory, bcm_server_config: ServerConfig
) -> None:
    rig = make_rig(server={"security": _security(bcm_server_config, lockout=0.3)})
    rig.faults.add("security_lockout_never")
    rig.uds.session("extended")
    for _ in range(6):
        rig.uds.request_seed(1)
        with pytest.raises(NegativeResponseError) as caught:
            rig.uds.send_key(1, b"\x00\x00\x00\x00")
        assert caught.value.nrc == 0x35
    assert not rig.server.state.locked_out


def _security(config: ServerConfig, **changes: Any) -> ServerSecurity:
    assert config.security is not None
    return dataclasses.replace(config.security, **changes)


def test_keys_never_reach_the_logs(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.uds.session("extended")
    since = rig.tester.mark()
    with caplog.at_level(logging.DEBUG):
        rig.uds.unlock(1)
    seed_frame = next(
        f for f in rig.tester.history.since(since.seq) if f.is_rx and f.data[1:3] == b"\x67\x01"
    )
    key = xor_constant(1, seed_frame.data[3:7], {"mask": MASK})
    assert "Sending" in caplog.text  # udsoncan did log the exchange...
    assert "<redacted>" in caplog.text
    for form in (key.hex(), key.hex(" "), key.hex().upper()):
        assert form not in caplog.text  # ...but never the key
    assert rig.uds.config.security is not None
    assert "hidden" in repr(rig.uds.config.security.seed_key)


def test_unlock_without_a_seed_key_plugin_says_so(make_rig: RigFactory) -> None:
    rig = make_rig(tester={"security": None})
    with pytest.raises(DiagnosticError, match=r"no \[diagnostics.security\]"):
        rig.uds.unlock(1)


# -- S3 -----------------------------------------------------------------------------------------


def test_s3_timeout_returns_to_default_session(make_rig: RigFactory) -> None:
    rig = make_rig(server={"s3": 0.2})
    rig.uds.session("extended")
    entered = clock.now()
    assert rig.server.wait_until(lambda s: s.session == "default", timeout=3.0)
    assert clock.now() - entered >= 0.2 - 0.02
    assert rig.nrc(bytes.fromhex("27 01")) == 0x7F  # really back in default


def test_tester_present_keeps_the_session_alive(make_rig: RigFactory) -> None:
    rig = make_rig(server={"s3": 0.2})
    rig.uds.session("extended")
    started = clock.now()
    while clock.now() - started < 0.6:  # three S3 periods
        assert not rig.server.wait_until(lambda s: s.session == "default", timeout=0.08)
        rig.uds.tester_present(suppress=True)
    assert rig.server.state.session == "extended"


def test_fault_s3_ignored_keeps_the_session(make_rig: RigFactory) -> None:
    rig = make_rig(server={"s3": 0.1})
    rig.faults.add("s3_ignored")
    rig.uds.session("extended")
    assert not rig.server.wait_until(lambda s: s.session == "default", timeout=0.4)


# -- DTCs (0x19, 0x14, 0x85) ----------------------------------------------------------------------


def test_dtcs_with_names_and_status_bits(rig: Rig) -> None:
    dtcs = rig.uds.dtcs()
    assert [(d.text, d.name, d.status) for d in dtcs] == [
        ("B1001-13", "DriverDoorMotorOpen", 0x2F),
        ("B1200-16", "SupplyVoltageLow", 0x28),
    ]
    assert dtcs[1].status_names == ["confirmedDTC", "testFailedSinceLastClear"]
    assert str(dtcs[0]).startswith("B1001-13 DriverDoorMotorOpen status 0x2F (testFailed, ")
    assert [d.name for d in rig.uds.dtcs(0x01)] == ["DriverDoorMotorOpen"]  # testFailed only
    assert rig.uds.dtc_count(0x08) == 2
    assert rig.uds.dtc_count(0x01) == 1
    supported = rig.uds.supported_dtcs()
    assert len(supported) == 5
    assert {d.name for d in supported if d.status == 0} == {
        "PassengerDoorMotorOpen", "LowBeamLeftOpen", "LostCommunicationEcm"
    }  # fmt: skip


def test_read_dtc_information_refusals(rig: Rig) -> None:
    assert rig.nrc(bytes.fromhex("19 42 ff")) == 0x12
    assert rig.nrc(bytes.fromhex("19 02")) == 0x13
    assert rig.nrc(bytes.fromhex("19 0a ff")) == 0x13
    assert rig.nrc(bytes.fromhex("19")) == 0x13


def test_clear_dtcs_all_or_one(rig: Rig) -> None:
    rig.uds.clear_dtcs("SupplyVoltageLow")
    assert [d.name for d in rig.uds.dtcs()] == ["DriverDoorMotorOpen"]
    rig.uds.clear_dtcs()
    assert rig.uds.dtcs() == []
    assert rig.uds.dtc_count() == 0
    assert rig.nrc(bytes.fromhex("14 12 34 56")) == 0x31  # no such DTC group
    assert rig.nrc(bytes.fromhex("14 ff ff")) == 0x13


def test_control_dtc_setting_freezes_dtc_status(rig: Rig) -> None:
    rig.uds.session("extended")
    rig.uds.dtc_setting(False)
    assert not rig.server.report_dtc("LowBeamLeftOpen")
    assert "LowBeamLeftOpen" not in [d.name for d in rig.uds.dtcs()]
    rig.uds.dtc_setting(True)
    assert rig.server.report_dtc("LowBeamLeftOpen")
    assert "LowBeamLeftOpen" in [d.name for d in rig.uds.dtcs()]
    assert rig.nrc(bytes.fromhex("85 03")) == 0x12


# -- routines (0x31) and communication control (0x28) ----------------------------------------------


def test_slow_routine_answers_response_pending_first(rig: Rig) -> None:
    rig.uds.session("extended")
    since = rig.tester.mark()
    started = clock.now()
    assert rig.uds.routine("SelfTest") == b"\x00"
    assert clock.now() - started >= 0.3 - 0.02
    responses = [f.data for f in sent_by(rig.tester.history.since(since.seq), 0x7E8)]
    assert responses[0][:4] == bytes.fromhex(
        "03 7f 31 78"
    )  # requestCorrectlyReceived-ResponsePending
    assert responses[-1][:6] == bytes.fromhex("05 71 01 02 01 00")
    assert rig.uds.routine("SelfTest", "results") == b"\x00"
    assert rig.uds.routine("SelfTest", "stop") == b""


def test_response_pending_repeats_within_p2_star(make_rig: RigFactory) -> None:
    rig = make_rig(server={"p2_star": 0.1})  # pending again every 50 ms during 300 ms
    rig.uds.session("extended")
    since = rig.tester.mark()
    assert rig.uds.routine("SelfTest") == b"\x00"
    answers = sent_by(rig.tester.history.since(since.seq), 0x7E8)
    pending = [f for f in answers if f.data[:4] == bytes.fromhex("03 7f 31 78")]
    assert len(pending) == len(answers) - 1 >= 3
    stamps = [f.timestamp for f in pending] + [answers[-1].timestamp]
    assert max(b - a for a, b in itertools.pairwise(stamps)) < 0.1  # never longer than P2*


def test_routine_refusals(rig: Rig) -> None:
    rig.uds.session("extended")
    assert rig.nrc(bytes.fromhex("31 03 02 01")) == 0x24  # results before start
    assert rig.nrc(bytes.fromhex("31 01 99 99")) == 0x31  # no such routine
    assert rig.nrc(bytes.fromhex("31 01 ff 00")) == 0x31  # EraseMemory: programming only
    assert rig.nrc(bytes.fromhex("31 01 02 02")) == 0x33  # ResetLockCycles needs security
    assert rig.nrc(bytes.fromhex("31 04 02 01")) == 0x12
    assert rig.nrc(bytes.fromhex("31 01 02")) == 0x13


def test_communication_control_switches_the_ecu_messages(rig: Rig) -> None:
    rig.uds.session("extended")
    rig.uds.communication_control("disable_rx_and_tx")
    assert not rig.server.state.transmit_enabled
    rig.uds.communication_control("enable_rx_and_tx")
    assert rig.transmit == [False, True]
    rig.uds.communication_control("disable_rx_and_tx")
    rig.uds.session("default")  # leaving the session enables them again
    assert rig.transmit == [False, True, False, True]
    rig.uds.session("extended")
    assert rig.nrc(bytes.fromhex("28 00 00")) == 0x31  # no communication type
    assert rig.nrc(bytes.fromhex("28 07 01")) == 0x12
    assert rig.nrc(bytes.fromhex("28 00")) == 0x13


# -- flashing (0x34, 0x36, 0x37) ------------------------------------------------------------------


def _programming(rig: Rig) -> None:
    rig.uds.session("extended")
    rig.uds.session("programming")
    rig.uds.unlock()


def test_download_with_block_counter_wrapping(make_rig: RigFactory) -> None:
    rig = make_rig(server={"download": DownloadConfig(0x10000, 0x20000, 18, 1)})
    _programming(rig)
    image = bytes((i * 7) & 0xFF for i in range(300 * 16))
    result = rig.uds.download(0x10000, image)
    assert (result.blocks, result.max_block_length) == (300, 18)  # counter 0xFF -> 0x00 -> ...
    assert rig.server.downloaded == image


def test_download_refusals(make_rig: RigFactory) -> None:
    rig = make_rig(server={"download": DownloadConfig(0x10000, 0x100, 18, 1)})
    assert rig.nrc(bytes.fromhex("36 01 00")) == 0x7F
    rig.uds.session("extended")
    rig.uds.session("programming")
    assert rig.nrc(bytes.fromhex("34 00 44 00 01 00 00 00 00 00 20")) == 0x33  # locked
    rig.uds.unlock()
    assert rig.nrc(bytes.fromhex("36 01 00")) == 0x24  # no download requested
    assert rig.nrc(bytes.fromhex("37")) == 0x24
    assert rig.nrc(bytes.fromhex("34 00 44 00 00 10 00 00 00 00 20")) == 0x31  # below memory
    assert rig.nrc(bytes.fromhex("34 00 44 00 01 00 00 00 00 02 00")) == 0x31  # too big
    assert rig.nrc(bytes.fromhex("34 11 44 00 01 00 00 00 00 00 20")) == 0x31  # compressed
    assert rig.nrc(bytes.fromhex("34 00 55 00 01 00 00 00 00 00 20")) == 0x31  # 5-byte address
    assert rig.nrc(bytes.fromhex("34 00 44 00 01 00 00")) == 0x13
    assert rig.nrc(bytes.fromhex("34 00 44 00 01 00 00 00 00 00 20")) is None  # 32 bytes
    assert rig.nrc(bytes.fromhex("34 00 44 00 01 00 00 00 00 00 20")) == 0x22  # already active
    assert rig.nrc(bytes.fromhex("36 02") + bytes(16)) == 0x73  # wrongBlockSequenceCounter
    assert rig.nrc(bytes.fromhex("36 01") + bytes(17)) == 0x13  # longer than max_block_length
    assert rig.nrc(bytes.fromhex("36 01") + bytes(16)) is None
    assert rig.nrc(bytes.fromhex("36 01") + bytes(16)) is None  # a repeat: not written twice
    assert rig.nrc(bytes.fromhex("37")) == 0x24  # 16 of 32 bytes: not complete
    assert rig.nrc(bytes.fromhex("36 02") + bytes(16)) is None
    assert rig.nrc(bytes.fromhex("36 03") + bytes(1)) == 0x71  # more than was announced
    assert rig.nrc(bytes.fromhex("37")) is None
    assert rig.server.downloaded == bytes(32)


def test_fault_block_counter_unchecked(make_rig: RigFactory) -> None:
    rig = make_rig(server={"download": DownloadConfig(0x10000, 0x100, 18, 1)})
    rig.faults.add("block_counter_unchecked")
    _programming(rig)
    assert rig.nrc(bytes.fromhex("34 00 44 00 01 00 00 00 00 00 20")) is None
    assert rig.nrc(bytes.fromhex("36 07") + bytes(16)) is None  # should be 0x73


def test_fault_wrong_length_nrc(rig: Rig) -> None:
    rig.faults.add("short_request_wrong_nrc")
    assert rig.nrc(bytes.fromhex("22 f1")) == 0x31  # should be 0x13
    rig.faults.clear()
    assert rig.nrc(bytes.fromhex("22 f1")) == 0x13


# -- timeouts ----------------------------------------------------------------------------------


def test_a_silent_ecu_is_a_timeout_naming_the_request(make_rig: RigFactory) -> None:
    rig = make_rig(tester={"p2": 0.1})
    rig.server.stop()
    with pytest.raises(DiagnosticTimeoutError, match="ReadDataByIdentifier VIN .*no response"):
        rig.uds.read_did("VIN")
    assert rig.uds.request(bytes.fromhex("3e 00"), timeout=0.05) is None


def test_no_flow_control_is_a_send_failure(make_rig: RigFactory) -> None:
    rig = make_rig(tester={"isotp": _short_timeouts()})
    rig.server.stop()
    with pytest.raises(DiagnosticError, match="could not be sent.*flow control") as caught:
        rig.uds.write_did("VehicleConfig", bytes(24))
    assert "ISO-TP" in str(caught.value)


def _short_timeouts() -> IsoTpConfig:
    return IsoTpConfig(padding=0xCC, block_size=0, timeout_ms=100)


def test_server_config_from_the_file(bcm_server_config: ServerConfig) -> None:
    config: ServerConfig = bcm_server_config
    assert (config.p2, config.p2_star, config.s3) == (0.05, 2.0, 5.0)
    assert config.security is not None
    assert (config.security.attempts, config.security.lockout) == (3, 10.0)


FAULT_TESTS = {
    "security_lockout_never": ("test_services.py", "test_fault_security_lockout_never_engages"),
    "short_request_wrong_nrc": ("test_services.py", "test_fault_wrong_length_nrc"),
    "s3_ignored": ("test_services.py", "test_fault_s3_ignored_keeps_the_session"),
    "suppress_bit_ignored": ("test_services.py", "test_fault_suppress_bit_ignored_answers_anyway"),
    "block_counter_unchecked": ("test_services.py", "test_fault_block_counter_unchecked"),
    "obd_bitmap_overclaims": (
        "../../diag/test_obd.py",
        "test_bitmap_overclaims_fault_claims_a_pid_never_answered",
    ),
    "obd_vin_truncated": ("../../diag/test_obd.py", "test_vin_truncated_fault_sends_16_characters"),
    "isotp_stmin_ignored": ("test_isotp_faults.py", "test_stmin_ignored_while_the_fault_is_on"),
    "isotp_no_padding": ("test_isotp_faults.py", "test_no_padding_while_the_fault_is_on"),
    "security_long_key_accepted": (
        "test_security_faults.py",
        "test_fault_long_key_accepted_unlocks_with_one_extra_byte",
    ),
    "reset_on_long_did_list": (
        "test_security_faults.py",
        "test_fault_reset_on_long_did_list_reboots_the_whole_ecu",
    ),
}
"""Where each diagnostic fault primitive of the simulated server is unit-tested."""


def test_every_diagnostic_fault_primitive_has_a_test() -> None:
    from harness.sim.ecu import DIAGNOSTIC_FAULTS

    assert set(DIAGNOSTIC_FAULTS) == set(FAULT_TESTS), "a new primitive needs its unit test"
    here = Path(__file__).parent
    for primitive, (module, name) in FAULT_TESTS.items():
        assert f"def {name}(" in (here / module).read_text(), f"{primitive}: no {module}::{name}"

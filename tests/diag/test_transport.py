"""ISO-TP as the bus sees it: segmentation, flow control, STmin, padding, functional addressing,
measured from the frames in the channels' histories."""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING, Any

import pytest

from harness.canbus.frame import Frame
from harness.diag.config import AddressConfig, IsoTpConfig
from harness.diag.transport.on_ip import DoipRecord, recorded
from harness.exceptions import DiagnosticError, DiagnosticTimeoutError

if TYPE_CHECKING:
    from uds_rig import Rig, RigFactory

    from harness.canbus.history import Mark
    from harness.sim.uds.config import ServerConfig

REQUEST, RESPONSE, FUNCTIONAL = 0x7E0, 0x7E8, 0x7DF


def frames(rig_channel_frames: list[Frame], arbitration_id: int, *, rx: bool) -> list[Frame]:
    return [f for f in rig_channel_frames if f.arbitration_id == arbitration_id and f.is_rx == rx]


def kind(frame: Frame) -> str:
    """SF, FF, CF or FC, from the PCI nibble."""
    return {0: "SF", 1: "FF", 2: "CF", 3: "FC"}.get(frame.data[0] >> 4, "??")


def gaps(found: list[Frame]) -> list[float]:
    """Intervals between consecutive frames, from the interface's timestamps."""
    stamps = [f.bus_timestamp for f in found]
    return [b - a for a, b in itertools.pairwise(stamps)]


def assert_stmin_honoured(intervals: list[float], stmin: float) -> None:
    """Consecutive frames kept STmin apart. One late frame (a sender thread scheduled late
    on a loaded machine) makes the next gap look short, so each gap need only exceed half
    of STmin; a sender that ignored STmin would send them ~0.05 ms apart. The mean shows
    the pacing."""
    shown = [round(i * 1000, 3) for i in intervals]
    assert min(intervals) > stmin / 2, shown
    assert sum(intervals) / len(intervals) >= stmin * 0.98, shown


def history(rig: Rig, since: Mark, *, ecu: bool) -> list[Frame]:
    channel = rig.ecu if ecu else rig.tester
    return channel.history.since(since.seq)


def with_transport(config: ServerConfig, **changes: Any) -> dict[str, object]:
    return {"isotp": dataclasses.replace(config.isotp, **changes)}


def test_long_request_is_segmented_with_flow_control_and_block_size(
    make_rig: RigFactory, bcm_server_config: ServerConfig
) -> None:
    rig = make_rig(server=with_transport(bcm_server_config, block_size=2))
    since = rig.ecu.mark()
    payload = bytes([0x3E]) + bytes(59)  # 60 bytes: FF + 8 CFs; answered with 0x13
    assert rig.exchange(payload) == bytes.fromhex("7f 3e 13")
    seen = history(rig, since, ecu=True)
    request = frames(seen, REQUEST, rx=True)
    assert [kind(f) for f in request] == ["FF"] + ["CF"] * 8
    assert [f.data[0] & 0x0F for f in request[1:]] == [1, 2, 3, 4, 5, 6, 7, 8]  # sequence numbers
    flow_controls = [f for f in frames(seen, RESPONSE, rx=False) if kind(f) == "FC"]
    assert len(flow_controls) == 1 + (8 - 1) // 2  # after the FF, then after every 2 CFs
    assert all(f.data[1] == 2 for f in flow_controls)  # block size 2 in every FC


def test_stmin_of_the_ecu_is_honoured_by_the_tester(
    make_rig: RigFactory, bcm_server_config: ServerConfig
) -> None:
    rig = make_rig(server=with_transport(bcm_server_config, stmin_ms=5, block_size=0))
    since = rig.ecu.mark()
    rig.exchange(bytes([0x3E]) + bytes(59))
    seen = history(rig, since, ecu=True)
    fc = next(f for f in frames(seen, RESPONSE, rx=False) if kind(f) == "FC")
    assert fc.data[2] == 5  # STmin 5 ms asked for
    cfs = [f for f in frames(seen, REQUEST, rx=True) if kind(f) == "CF"]
    intervals = gaps(cfs)
    assert len(intervals) == 7
    assert_stmin_honoured(intervals, 0.005)


def test_stmin_of_the_tester_is_honoured_by_the_ecu(make_rig: RigFactory) -> None:
    rig = make_rig(tester={"isotp": IsoTpConfig(padding=0xCC, stmin_ms=5, block_size=0)})
    since = rig.tester.mark()
    values = rig.uds.read_dids("VIN", "PartNumber", "SoftwareVersion")  # 45 bytes back
    assert values["VIN"] == "WDEMX000000000001"
    seen = history(rig, since, ecu=False)
    response = frames(seen, RESPONSE, rx=True)
    assert [kind(f) for f in response] == ["FF"] + ["CF"] * 6
    intervals = gaps(response[1:])
    assert_stmin_honoured(intervals, 0.005)


def test_frames_are_padded_or_not_as_configured(
    make_rig: RigFactory, bcm_server_config: ServerConfig
) -> None:
    rig = make_rig(
        server=with_transport(bcm_server_config, padding=None),
        tester={"isotp": IsoTpConfig(padding=0xAA)},
    )
    since = rig.ecu.mark()
    rig.uds.tester_present()
    seen = history(rig, since, ecu=True)
    (request,) = frames(seen, REQUEST, rx=True)
    (response,) = frames(seen, RESPONSE, rx=False)
    assert request.data == bytes.fromhex("02 3e 00 aa aa aa aa aa")
    assert response.data == bytes.fromhex("02 7e 00")  # the ECU does not pad


@pytest.mark.usefixtures("steady_gc")
def test_server_answers_within_p2(rig: Rig) -> None:
    delays: list[float] = []
    for payload in [bytes.fromhex(p) for p in ("22 f1 90", "19 02 ff", "10 01", "3e 00", "31")]:
        since = rig.ecu.mark()
        assert rig.exchange(payload) is not None
        seen = history(rig, since, ecu=True)
        request_end = frames(seen, REQUEST, rx=True)[-1].timestamp
        answer = next(f for f in frames(seen, RESPONSE, rx=False) if kind(f) != "FC")
        delays.append(answer.timestamp - request_end)
    assert min(delays) <= rig.server.config.p2 / 5  # typically about a millisecond
    assert sorted(delays)[len(delays) // 2] <= rig.server.config.p2  # the median, on a busy CI


# -- functional addressing ----------------------------------------------------------------


def test_functional_request_answered_from_the_physical_id(rig: Rig) -> None:
    since = rig.ecu.mark()
    rig.uds.functional.tester_present()
    assert rig.uds.functional.read_did("VIN") == "WDEMX000000000001"  # a multi-frame answer
    seen = history(rig, since, ecu=True)
    assert [f.data[1] for f in frames(seen, FUNCTIONAL, rx=True)] == [0x3E, 0x22]
    to_physical = frames(seen, REQUEST, rx=True)
    assert [kind(f) for f in to_physical] == ["FC"]  # the tester's FC for the VIN's frames


@pytest.mark.parametrize(
    ("payload", "physical_nrc"),
    [
        ("23 14 00 10 00", 0x11),  # serviceNotSupported
        ("10 05", 0x12),  # subFunctionNotSupported
        ("22 12 34", 0x31),  # requestOutOfRange
        ("10 02", 0x7E),  # subFunctionNotSupportedInActiveSession
        ("27 01", 0x7F),  # serviceNotSupportedInActiveSession
    ],
)
def test_functional_requests_suppress_the_nrcs_the_standard_names(
    rig: Rig, payload: str, physical_nrc: int
) -> None:
    request = bytes.fromhex(payload)
    assert rig.nrc(request) == physical_nrc
    since = rig.tester.mark()
    rig.stack.send_functional(request)
    assert rig.exchange(bytes.fromhex("22 f1 86")) == bytes.fromhex("62 f1 86 01")  # barrier
    answers = frames(history(rig, since, ecu=False), RESPONSE, rx=True)
    assert [f.data[1] for f in answers] == [0x62]  # silence for the functional one


def test_functional_request_with_other_nrc_is_answered(rig: Rig) -> None:
    since = rig.tester.mark()
    rig.stack.send_functional(bytes.fromhex("22 f1"))
    answer = rig.tester.wait_for(RESPONSE, since=since, timeout=1.0)
    assert answer.data[:4] == bytes.fromhex("03 7f 22 13")


def test_functional_suppressed_positive_response_is_silent(make_rig: RigFactory) -> None:
    rig = make_rig(tester={"p2": 0.1})
    with pytest.raises(DiagnosticTimeoutError):
        rig.uds.functional.read_did(0x1234)  # 0x31 is suppressed: nothing comes back
    since = rig.tester.mark()
    rig.uds.functional.tester_present(suppress=True)
    assert rig.exchange(bytes.fromhex("3e 00")) == bytes.fromhex("7e 00")
    assert len(frames(history(rig, since, ecu=False), RESPONSE, rx=True)) == 1


def test_functional_requests_must_fit_one_frame(rig: Rig) -> None:
    with pytest.raises(DiagnosticError, match="single frame"):
        rig.uds.functional.read_dids("VIN", "PartNumber", "SoftwareVersion", "HardwareVersion")


def test_uds_and_obd_share_one_stack_per_response_id(rig: Rig) -> None:
    from harness.diag.config import AddressConfig
    from harness.diag.transport.on_can import shared_stack

    address = rig.uds.config.address
    with shared_stack(rig.tester, address, rig.uds.config.isotp) as stack:
        assert stack is rig.stack
    other = dataclasses.replace(rig.uds.config.isotp, stmin_ms=7)
    with (
        pytest.raises(DiagnosticError, match="two flow controls"),
        shared_stack(rig.tester, AddressConfig(), other),
    ):
        pass


ADDRESSES = {
    "normal": {"request_id": 0x7E0, "response_id": 0x7E8, "functional_id": 0x7DF},
    "normal_29": {
        "request_id": 0x18DA10F1, "response_id": 0x18DAF110, "functional_id": 0x18DB33F1
    },
    "extended": {
        "request_id": 0x6F1, "response_id": 0x610, "functional_id": 0x6FF,
        "tester_address": 0xF1, "ecu_address": 0x10,
    },
    "extended_29": {
        "request_id": 0x18DA10F1, "response_id": 0x18DAF110, "functional_id": 0x18DB33F1,
        "tester_address": 0xF1, "ecu_address": 0x10,
    },
    "mixed": {
        "request_id": 0x7E0, "response_id": 0x7E8, "functional_id": 0x7DF,
        "address_extension": 0x55,
    },
    "mixed_29": {"tester_address": 0xF1, "ecu_address": 0x10, "address_extension": 0x55,
                 "request_id": None, "response_id": None, "functional_id": None},
    "fixed_29": {"tester_address": 0xF1, "ecu_address": 0x10,
                 "request_id": None, "response_id": None, "functional_id": None},
}  # fmt: skip


@pytest.mark.parametrize("mode", list(ADDRESSES))
def test_every_addressing_mode_end_to_end(
    make_rig: RigFactory, bcm_server_config: ServerConfig, mode: str
) -> None:
    address = AddressConfig(mode=mode, **ADDRESSES[mode])  # type: ignore[arg-type]
    rig = make_rig(server={"address": address})
    since = rig.ecu.mark()
    assert rig.uds.read_did("VIN") == "WDEMX000000000001"  # multi-frame, flow control
    rig.uds.functional.tester_present()
    seen = rig.ecu.history.since(since.seq)
    extended_ids = {f.is_extended_id for f in seen}
    assert extended_ids == {mode.endswith("29")}
    if mode in ("fixed_29", "mixed_29"):
        prefixes = {f.arbitration_id & 0x1FFF0000 for f in seen if f.is_rx}
        functional = 0x18DB0000 if mode == "fixed_29" else 0x18CD0000
        assert functional in prefixes  # the functional request used the functional ID
    if mode.startswith(("extended", "mixed")):
        first_bytes = {f.data[0] for f in seen if f.is_rx}
        assert first_bytes == {0x10 if mode.startswith("extended") else 0x55}


def test_doip_records_name_services_and_zero_keys() -> None:
    read = DoipRecord(10.0, True, 0x8001, bytes.fromhex("0e00001022f190"))
    assert read.describe(9.5) == (
        "+0.5000s doip tx diagnostic message 0x0E00->0x0010: ReadDataByIdentifier 22 f1 90"
    )
    refused = DoipRecord(10.0, False, 0x8001, bytes.fromhex("00100e007f2231"))
    assert "ReadDataByIdentifier negative 0x31 requestOutOfRange" in refused.describe(10.0)
    key = recorded(0x8001, bytes.fromhex("0e0000102702deadbeef"))
    assert key == bytes.fromhex("0e0000102702") + bytes(4)
    assert recorded(0x8001, bytes.fromhex("0e0000102701")) == bytes.fromhex("0e0000102701")
    assert DoipRecord(0.0, False, 0x0007, b"").describe(0.0) == (
        "+0.0000s doip rx alive check request"
    )

"""ISO-TP conformance (ISO 15765-2): segmentation, flow control, BS, STmin, timeouts,
padding, sequence numbers and unexpected frames, as the DUT's frames show them.

The tester writes every frame itself (``isotp_support.RawTester``) so nothing between the
test and the bus corrects the DUT; the messages are ReadDataByIdentifier requests and
responses built from the bench's DUT profile (see ``conftest.py``). Timing checks use the
interface's timestamps and margins that survive a loaded machine; waits for timeouts last
as long as the DUT's timer plus :data:`~isotp_support.MARGIN`, no longer.
"""

from __future__ import annotations

import pytest
from isotp_support import (
    CAN_DL,
    CF,
    CTS,
    FC,
    FF,
    HOLD,
    MARGIN,
    MAX_DIDS,
    N_TIMEOUT,
    SF,
    SN_CYCLE,
    WAIT,
    DutTimers,
    RawTester,
    check_rdbi_response,
    check_separation,
    expected_sequence_numbers,
    gaps,
    padding_violations,
    rdbi,
    rdbi_response_length,
    readable_dids,
    stmin_seconds,
)

from harness.bench import Bench
from harness.bench.diagnostics import open_uds
from harness.diag.config import DiagConfig
from harness.diag.profile import DidDefinition

pytestmark = pytest.mark.requires("diagnostics")


@pytest.fixture(autouse=True)
def classic_frames(diag: DiagConfig) -> None:
    """These tests count 8-byte frames; over CAN FD ISO-TP ``test_isotp_fd.py`` tests instead."""
    if diag.isotp.can_fd:
        pytest.skip(
            "classic CAN frame-level test: the bench's ISO-TP is CAN FD "
            f"(frame_size {diag.isotp.frame_size}); see test_isotp_fd.py"
        )


# -- segmentation ---------------------------------------------------------------------------


@pytest.mark.requirement(
    "ISOTP-001", clause="ISO 15765-2:2016 9.6.3, 9.6.4 (FirstFrame FF_DL, ConsecutiveFrame SN)"
)
def test_multi_frame_response_is_segmented(
    bench: Bench, diag: DiagConfig, tester: RawTester, segmented_read: list[DidDefinition]
) -> None:
    """The DUT's long response: a first frame announcing the length, consecutive frames
    numbered 1, 2, ... that reassemble into exactly that many bytes, the same response a
    standard transport layer (can-isotp) receives."""
    request = rdbi(segmented_read)
    transfer = tester.request(request)
    first = tester.expect_pci(transfer.frames[0], FF, "the DUT's response")
    assert len(first) == CAN_DL - tester.rx_prefix, f"first frame not full: {transfer.frames[0]}"
    expected_length = rdbi_response_length(segmented_read)
    assert transfer.length == expected_length, (
        f"FF_DL {transfer.length}, the response of {len(segmented_read)} DID(s) is "
        f"{expected_length} bytes"
    )
    assert transfer.sequence_numbers == expected_sequence_numbers(len(transfer.consecutive))
    check_rdbi_response(transfer.payload, segmented_read)
    with open_uds(bench, diag) as uds:
        reference = uds.request(request)
    assert transfer.payload == reference, (
        f"reassembled {transfer.payload.hex(' ')}\ncan-isotp got {(reference or b'').hex(' ')}"
    )


@pytest.mark.requirement("ISOTP-002", clause="ISO 15765-2:2016 9.6.4 (SN wrap-around 0xF -> 0x0)")
def test_sequence_number_wraps_after_15(diag: DiagConfig, tester: RawTester) -> None:
    """More than 15 consecutive frames: after SN 0xF comes 0x0. Only the DUT's longest DID
    repeated makes a response that long, which a DUT may refuse (then: skip)."""
    assert diag.profile is not None
    dids = readable_dids(diag.profile)
    if not dids:
        pytest.skip("the DUT profile names no DID readable in the default session")
    needed = tester.ff_capacity + (SN_CYCLE - 1) * tester.cf_capacity + 1
    repeated = [dids[0]] * MAX_DIDS
    if rdbi_response_length(repeated) < needed:
        pytest.skip(
            f"{MAX_DIDS} x {dids[0].label} make {rdbi_response_length(repeated)} bytes; "
            f"{needed} are needed for 16 consecutive frames"
        )
    transfer = tester.request(rdbi(repeated))
    if transfer.payload[:1] == b"\x7f":
        pytest.skip(f"the DUT refuses a DID named twice: {transfer.payload.hex(' ')}")
    assert len(transfer.consecutive) >= SN_CYCLE
    assert transfer.sequence_numbers == expected_sequence_numbers(len(transfer.consecutive))
    check_rdbi_response(transfer.payload, repeated)


# -- flow control -------------------------------------------------------------------------


@pytest.mark.requirement(
    "ISOTP-003", clause="ISO 15765-2:2016 9.6.5 (FlowControl: FlowStatus, BlockSize, STmin)"
)
def test_dut_answers_first_frame_with_valid_flow_control(
    tester: RawTester, long_request: bytes
) -> None:
    """After the tester's first frame the DUT sends a flow control: FS = ContinueToSend
    (WAIT frames before it are allowed), a BlockSize (any byte), and an STmin that is not
    reserved (0x00-0x7F ms, 0xF1-0xF9 for 100-900 us); the tester then sends its
    consecutive frames as that flow control says and the DUT answers the whole request."""
    controls = tester.send_segmented(long_request)
    for frame in controls:
        pdu = tester.expect_pci(frame, FC, "flow control")
        status, stmin = pdu[0] & 0x0F, pdu[2]
        assert status == CTS, f"FlowStatus {status} (0 ContinueToSend expected): {frame}"
        assert stmin_seconds(stmin) is not None, f"reserved STmin 0x{stmin:02X}: {frame}"
    transfer = tester.receive()
    assert transfer.payload[:1] in (b"\x62", b"\x7f"), (
        f"no response to the segmented request: {transfer.payload.hex(' ')}"
    )


@pytest.mark.requirement("ISOTP-004", clause="ISO 15765-2:2016 9.6.5 (FlowControl: BlockSize)")
@pytest.mark.parametrize("block_size", [1, 4], ids=lambda n: f"BS={n}")
def test_dut_honours_block_size(
    tester: RawTester, long_read: list[DidDefinition], block_size: int
) -> None:
    """With BS = n in the tester's flow control the DUT sends exactly n consecutive frames,
    then waits for the next flow control (silent for :data:`HOLD` s), block after block."""
    tester.send_message(rdbi(long_read))
    first = tester.next_frame(tester.p2)
    pdu = tester.expect_pci(first, FF, "the DUT's response")
    length = (pdu[0] & 0x0F) << 8 | pdu[1]
    data = bytearray(pdu[2:])
    blocks: list[int] = []
    sn = 0
    while len(data) < length:
        tester.flow_control(CTS, block_size, 0)
        sent = 0
        while sent < block_size and len(data) < length:
            cf = tester.expect_pci(tester.next_frame(N_TIMEOUT), CF, f"block {len(blocks) + 1}")
            sn = (sn + 1) % SN_CYCLE
            assert cf[0] & 0x0F == sn, f"SN {cf[0] & 0x0F}, expected {sn}"
            data += cf[1:]
            sent += 1
        blocks.append(sent)
        tester.expect_silence(HOLD)  # nothing more until the next flow control (or at all)
    assert len(blocks) > 1, "the response fits one block: BS was not exercised"
    assert all(n == block_size for n in blocks[:-1]), f"consecutive frames per block: {blocks}"
    check_rdbi_response(bytes(data[:length]), long_read)


STMIN_CASES = {"10ms": 0x0A, "20ms": 0x14, "500us": 0xF5}
"""STmin bytes the tester asks for: two in milliseconds, one in the 100-900 us range."""


@pytest.mark.requirement("ISOTP-005", clause="ISO 15765-2:2016 9.6.5 (FlowControl: STmin)")
@pytest.mark.parametrize("stmin", list(STMIN_CASES.values()), ids=list(STMIN_CASES))
def test_dut_honours_stmin(tester: RawTester, long_read: list[DidDefinition], stmin: int) -> None:
    """The DUT keeps at least the tester's STmin between consecutive frames, measured on
    the bus (see ``check_separation`` for the jitter allowance)."""
    transfer = tester.request(rdbi(long_read), stmin=stmin)
    check_rdbi_response(transfer.payload, long_read)
    separation = stmin_seconds(stmin)
    assert separation is not None
    check_separation(gaps(transfer.consecutive), separation)


# -- timeouts -------------------------------------------------------------------------------


@pytest.mark.requirement("ISOTP-006", clause="ISO 15765-2:2016 9.8.2 (N_Bs timeout)")
def test_dut_gives_up_without_flow_control(
    tester: RawTester, long_read: list[DidDefinition], dut_timers: DutTimers
) -> None:
    """The tester withholds the flow control after the DUT's first frame: the DUT sends no
    consecutive frame, abandons the message after N_Bs (a late flow control gets nothing)
    and answers the next request."""
    tester.send_message(rdbi(long_read))
    tester.expect_pci(tester.next_frame(tester.p2), FF, "the DUT's response")
    tester.expect_silence(dut_timers.n_bs + MARGIN)
    late = tester.mark()
    tester.flow_control(CTS, 0, 0)
    tester.expect_silence(HOLD, since=late)
    tester.expect_answered()


@pytest.mark.requirement("ISOTP-007", clause="ISO 15765-2:2016 9.8.2 (N_Cr timeout)")
def test_dut_abandons_reception_without_consecutive_frames(
    tester: RawTester, long_request: bytes, dut_timers: DutTimers
) -> None:
    """The tester sends a first frame and then no consecutive frame: the DUT abandons the
    reception after N_Cr, ignores the consecutive frames that come late, never answers the
    broken request, and answers the next one."""
    tester.mark()
    tester.first(long_request)
    tester.wait_flow_control()
    tester.expect_silence(dut_timers.n_cr + MARGIN)
    late = tester.mark()
    for sn, chunk in enumerate(tester.segments(long_request), start=1):
        tester.consecutive(sn, chunk)
    tester.expect_silence(tester.p2, since=late)
    tester.expect_answered()


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.requirement("ISOTP-008", clause="ISO 15765-2:2016 9.6.4 (SN error: N_WRONG_SN)")
def test_wrong_sequence_number_aborts_reception(tester: RawTester, long_request: bytes) -> None:
    """A consecutive frame with the wrong SN: the DUT aborts the reception (the right frame
    after it is ignored too) and does not answer; the next request is answered."""
    segments = tester.segments(long_request)
    assert len(segments) >= 2, "the request needs two consecutive frames"
    controls = tester.send_segmented(long_request, chunks=1)
    block_size = tester.pdu(controls[-1])[1]
    if block_size == 1:
        tester.wait_flow_control()
    wrong = tester.mark()
    tester.consecutive(3, segments[1])  # SN 3 where 2 is due
    tester.consecutive(2, segments[1])  # the right frame, after the reception was aborted
    tester.expect_silence(tester.p2, since=wrong)
    tester.expect_answered()


@pytest.mark.requirement("ISOTP-009", clause="ISO 15765-2:2016 9.8.3 (unexpected arrival of N_PDU)")
def test_unexpected_frames_are_ignored_when_idle(tester: RawTester) -> None:
    """A consecutive frame and flow controls (CTS, WAIT) out of the blue: the DUT sends
    nothing and answers the next request as usual."""
    since = tester.mark()
    tester.consecutive(1, bytes(range(1, tester.cf_capacity + 1)))
    tester.flow_control(CTS, 0, 0)
    tester.flow_control(WAIT, 0, 0)
    tester.expect_silence(HOLD, since=since)
    tester.expect_answered()


@pytest.mark.requirement("ISOTP-010", clause="ISO 15765-2:2016 9.8.3 (unexpected arrival of N_PDU)")
def test_flow_control_during_reception_is_ignored(tester: RawTester, long_request: bytes) -> None:
    """A flow control from the tester while the DUT receives a segmented request does not
    disturb the reception: the request is answered."""
    tester.mark()
    tester.first(long_request)
    control = tester.wait_flow_control()
    tester.flow_control(CTS, 0, 0)  # unexpected: the DUT is the receiver
    tester.send_consecutive(tester.segments(long_request), control)
    response = tester.receive().payload
    assert response[:1] in (b"\x62", b"\x7f"), f"unexpected response {response.hex(' ')}"


# -- padding ---------------------------------------------------------------------------------


@pytest.mark.requirement("ISOTP-011", clause="ISO 15765-2:2016 10.4.2 (CAN frame data padding)")
def test_dut_pads_every_frame(
    diag: DiagConfig, tester: RawTester, long_read: list[DidDefinition], long_request: bytes
) -> None:
    """When the bench pads, every frame the DUT sends (SF, FF, CF, FC) is 8 bytes long and
    the bytes after its N_PCI and data are the padding value."""
    padding = diag.isotp.padding
    if padding is None:
        pytest.skip("the bench's [diagnostics] uses no padding (padding = false)")
    problems: list[str] = []
    prefix = tester.rx_prefix

    single = tester.request(bytes([0x3E, 0x00])).frames[0]
    pdu = tester.expect_pci(single, SF, "the answer to TesterPresent")
    problems += padding_violations(single, 1 + (pdu[0] & 0x0F), prefix, padding)

    transfer = tester.request(rdbi(long_read))
    problems += padding_violations(transfer.frames[0], CAN_DL - prefix, prefix, padding)
    remaining = transfer.length - (CAN_DL - prefix - 2)
    for frame in transfer.consecutive:
        used = min(remaining, CAN_DL - prefix - 1)
        problems += padding_violations(frame, 1 + used, prefix, padding)
        remaining -= used

    controls = tester.send_segmented(long_request)
    for frame in controls:
        problems += padding_violations(frame, 3, prefix, padding)
    tester.receive()
    assert not problems, "DUT frames not padded:\n  " + "\n  ".join(problems)

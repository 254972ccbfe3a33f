"""ISO-TP over CAN FD (ISO 15765-2:2016): TX_DL above 8, the SF_DL and FF_DL escapes, the
padding of FD frames to valid CAN FD lengths.

These tests run only where the bench's ``[diagnostics]`` says ``can_fd = true`` (e.g.
``fixtures/benches/virtual-fd.toml``) and skip elsewhere; the DUT's frames are read from
the channel as in ``test_isotp.py``, the tester's written by hand (``RawTester``).
"""

from __future__ import annotations

import pytest
from isotp_support import (
    CAN_DL,
    CTS,
    FC,
    FD_LENGTHS,
    FF,
    MARGIN,
    MAX_DIDS,
    N_TIMEOUT,
    OVERFLOW,
    RawTester,
    check_rdbi_response,
    expected_sequence_numbers,
    rdbi,
    rdbi_response_length,
    readable_dids,
)

from harness.bench import Bench
from harness.bench.diagnostics import open_uds
from harness.diag.config import DiagConfig

pytestmark = pytest.mark.requires("diagnostics")

LONG_FF_DL = 0x1000
"""The shortest message whose first frame needs the 32-bit FF_DL escape (above 4095 bytes)."""


@pytest.fixture(autouse=True)
def fd_frames(diag: DiagConfig) -> None:
    if not diag.isotp.can_fd:
        pytest.skip("CAN FD ISO-TP test: the bench's [diagnostics] ISO-TP is classic (no can_fd)")


@pytest.mark.requirement(
    "ISOTP-FD-001", clause="ISO 15765-2:2016 9.6.2.1 (SingleFrame with SF_DL escape, CAN_DL > 8)"
)
def test_single_frame_escape_is_understood(diag: DiagConfig, tester: RawTester) -> None:
    """A request longer than a classic single frame, sent as one CAN FD single frame with
    the SF_DL escape (N_PCI 0x00, then the length), is answered as if segmented."""
    assert diag.profile is not None
    dids = readable_dids(diag.profile)
    chosen = dids[: next((n for n in range(1, len(dids) + 1) if 1 + 2 * n > 7), len(dids))]
    request = rdbi(chosen)
    if len(request) <= tester.classic_sf_capacity or len(request) > tester.sf_capacity:
        pytest.skip(f"the DUT profile gives no request of 8..{tester.sf_capacity} bytes")
    tester.mark()
    sent = tester.single(request)
    assert sent.is_fd, sent
    assert sent.data[len(tester.tx_prefix)] == 0x00, f"no SF_DL escape: {sent}"
    transfer = tester.receive()
    check_rdbi_response(transfer.payload, chosen)


@pytest.mark.requirement(
    "ISOTP-FD-002",
    clause="ISO 15765-2:2016 9.6.3, 9.6.4, 10.4.2.3 (FD first and consecutive frames, TX_DL)",
)
def test_response_frames_are_can_fd(bench: Bench, diag: DiagConfig, tester: RawTester) -> None:
    """The DUT's long response travels in CAN FD frames: a first frame and every
    consecutive frame but the last as long as the DUT's TX_DL (the tester's
    frame_size), the last padded to a valid CAN FD length; the payload is the one
    can-isotp reassembles."""
    assert diag.profile is not None
    long_read = readable_dids(diag.profile)[:MAX_DIDS]
    request = rdbi(long_read)
    if rdbi_response_length(long_read) <= tester.frame_size - tester.rx_prefix - 2:
        pytest.skip(f"the longest default-session read fits one {tester.frame_size}-byte frame")
    transfer = tester.request(request)
    tester.expect_pci(transfer.frames[0], FF, "the DUT's response")
    not_fd = [frame for frame in transfer.frames if not frame.is_fd]
    assert not not_fd, f"classic frames in a CAN FD transfer: {not_fd}"
    *full, last = transfer.frames
    short = [frame for frame in full if len(frame.data) != tester.frame_size]
    assert not short, f"frames shorter than TX_DL {tester.frame_size} before the last: {short}"
    assert len(last.data) in FD_LENGTHS, f"the last frame is not a CAN FD length: {last}"
    assert transfer.length == rdbi_response_length(long_read)
    assert transfer.sequence_numbers == expected_sequence_numbers(len(transfer.consecutive))
    check_rdbi_response(transfer.payload, long_read)
    with open_uds(bench, diag) as uds:
        reference = uds.request(request)
    assert transfer.payload == reference


@pytest.mark.requirement(
    "ISOTP-FD-003", clause="ISO 15765-2:2016 9.6.3.2, 9.6.5.1 (FF_DL escape; FC.FS OVFLW)"
)
def test_long_first_frame_escape_is_understood(tester: RawTester) -> None:
    """A first frame announcing more than 4095 bytes with the 32-bit FF_DL escape gets
    a flow control: ContinueToSend when the DUT takes that many bytes (then the message
    is received whole and answered), Overflow when its buffer is smaller. Silence or a
    wait would mean the escape was not read."""
    payload = bytes([0x2E, 0xF1, 0x90]) + bytes(LONG_FF_DL)  # WriteDataByIdentifier, too long
    tester.mark()
    sent = tester.first(payload)
    assert sent.data[len(tester.tx_prefix) : len(tester.tx_prefix) + 2] == b"\x10\x00", sent
    frame, pdu = tester.wait_flow_control(N_TIMEOUT + MARGIN)
    tester.expect_pci(frame, FC, "the DUT's answer to a first frame with the FF_DL escape")
    status = pdu[0] & 0x0F
    assert status in (CTS, OVERFLOW), f"flow status {status}: neither CTS nor OVFLW: {frame}"
    if status == OVERFLOW:
        tester.expect_answered()
        return
    tester.send_consecutive(tester.segments(payload), (frame, pdu))
    answer = tester.receive().payload
    assert answer[:1] in (b"\x6e", b"\x7f"), f"no UDS answer to the long request: {answer.hex()}"


def test_classic_frames_still_understood(tester: RawTester) -> None:
    """ISO 15765-2:2016 10.4.2: a CAN FD receiver takes 8-byte frames too; TesterPresent
    in a classic-length single frame is answered."""
    assert tester.frame_size >= CAN_DL
    tester.expect_answered()

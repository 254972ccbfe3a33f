"""Helpers of the ISO-TP conformance suite: a tester that plays raw N_PDUs (ISO 15765-2).

The suite cannot test the DUT's transport layer with a transport layer of its own (it
would hide what the DUT does), so :class:`RawTester` writes single, first, consecutive
and flow control frames by hand on the bench's diagnostics addresses and reads the
DUT's frames from the channel's history with the event-driven waits. Addressing
(normal, extended, mixed, 11 or 29 bit) comes from can-isotp's ``Address`` for the
bench's ``[diagnostics]``: identifiers, the address byte in front of the N_PCI, and
which received frames are the DUT's.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import isotp

from harness.canbus.history import Mark

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.canbus.frame import Frame
    from harness.diag.config import DiagConfig
    from harness.diag.profile import DidDefinition, DutProfile

SF, FF, CF, FC = 0, 1, 2, 3
"""N_PCI types (the high nibble of the first N_PCI byte)."""
PCI_NAMES = {SF: "SF", FF: "FF", CF: "CF", FC: "FC"}
CTS, WAIT, OVERFLOW = 0, 1, 2
"""FlowStatus values of a flow control frame."""
CAN_DL = 8
"""Classic CAN: the frame length a padded N_PDU has."""
FD_LENGTHS = (8, 12, 16, 20, 24, 32, 48, 64)
"""CAN FD frame lengths from 8 up: a frame longer than 8 bytes is padded to the next one."""
N_TIMEOUT = 1.0
"""N_As/N_Ar/N_Bs/N_Cr timeout (ISO 15765-2:2016 Table 16): 1000 ms."""
MARGIN = 0.25
"""Seconds past a DUT timer before the tester decides it has run out (scheduling on a
loaded machine; the DUT's timer already started before the tester saw its frame)."""
HOLD = 0.1
"""Seconds of silence that show the DUT waits (for a flow control), when the frames it
would send instead come within a millisecond or two."""
MAX_DIDS = 7
"""DIDs per ReadDataByIdentifier request the suite sends (8 or more is a test of its own)."""
TESTER_PRESENT = bytes([0x3E, 0x00])
"""The request that shows the DUT is listening again: TesterPresent, answered 7E 00."""


def fd_length(size: int) -> int:
    """The CAN FD frame length that holds ``size`` bytes.

    >>> fd_length(5), fd_length(13), fd_length(64)
    (8, 16, 64)
    """
    return next(length for length in FD_LENGTHS if length >= size)


def stmin_seconds(value: int) -> float | None:
    """The separation time an STmin byte asks for; None for reserved values.

    >>> stmin_seconds(0x14), stmin_seconds(0xF5), stmin_seconds(0x80)
    (0.02, 0.0005, None)
    """
    if 0 <= value <= 0x7F:
        return value / 1000
    if 0xF1 <= value <= 0xF9:
        return (value - 0xF0) / 10000
    return None


@dataclass(frozen=True)
class DutTimers:
    """The DUT's ISO-TP timeouts: how long it waits for a flow control (N_Bs) and for the
    next consecutive frame (N_Cr)."""

    n_bs: float = N_TIMEOUT
    n_cr: float = N_TIMEOUT


def readable_dids(profile: DutProfile) -> list[DidDefinition]:
    """DIDs readable in the default session without security, longest first."""
    found = [d for d in profile.dids.values() if "default" in d.sessions and d.security is None]
    return sorted(found, key=lambda d: (-d.length, d.id))


def rdbi(dids: list[DidDefinition]) -> bytes:
    """A ReadDataByIdentifier request for ``dids``, in order."""
    return bytes([0x22]) + b"".join(d.id.to_bytes(2, "big") for d in dids)


def rdbi_response_length(dids: list[DidDefinition]) -> int:
    """The length of the positive response to :func:`rdbi` of ``dids``."""
    return 1 + sum(2 + d.length for d in dids)


SN_CYCLE = 16
"""Sequence numbers run 1..15, then wrap to 0 (ISO 15765-2:2016 9.6.4)."""


def expected_sequence_numbers(count: int) -> list[int]:
    """The SNs of ``count`` consecutive frames after a first frame: 1, 2, ... 15, 0, 1, ..."""
    return [n % SN_CYCLE for n in range(1, count + 1)]


def check_rdbi_response(payload: bytes, dids: list[DidDefinition]) -> None:
    """A positive ReadDataByIdentifier response echoing ``dids`` in order, each with the
    number of data bytes the profile gives it and a value its codec decodes."""
    assert payload[:1] == b"\x62", f"not a positive RDBI response: {payload[:8].hex(' ')}..."
    body = payload[1:]
    for did in dids:
        assert body[:2] == did.id.to_bytes(2, "big"), (
            f"expected {did.label} next, got {body[:2].hex(' ')}"
        )
        value = body[2 : 2 + did.length]
        assert len(value) == did.length, f"{did.label}: {len(value)} of {did.length} bytes"
        did.decode(value)
        body = body[2 + did.length :]
    assert not body, f"{len(body)} bytes beyond the DIDs asked for: {body.hex(' ')}"


def gaps(frames: list[Frame]) -> list[float]:
    """Intervals between consecutive frames, from the interface's timestamps (the sender's
    send time on the virtual bus, hardware time on real interfaces)."""
    return [b.bus_timestamp - a.bus_timestamp for a, b in itertools.pairwise(frames)]


def check_separation(intervals: list[float], stmin: float) -> None:
    """Consecutive frames were kept STmin apart, measured robustly.

    A sender scheduled late for one frame makes the next interval look short by as much,
    so each interval need only exceed half of STmin; the mean must reach STmin (2 %
    below: the resolution of the timestamps). A sender that ignores STmin sends its
    frames a fraction of a millisecond apart, far below either bound.
    """
    assert intervals, "no consecutive frames to measure"
    shown = ", ".join(f"{i * 1000:.3f}" for i in intervals)
    mean = statistics.fmean(intervals)
    assert min(intervals) > stmin / 2, (
        f"a consecutive frame came {min(intervals) * 1000:.3f} ms after the previous one, "
        f"less than half of STmin {stmin * 1000:g} ms; intervals (ms): {shown}"
    )
    assert mean >= stmin * 0.98, (
        f"consecutive frames came {mean * 1000:.3f} ms apart on average, less than STmin "
        f"{stmin * 1000:g} ms; intervals (ms): {shown}"
    )


@dataclass
class Transfer:
    """One message the DUT sent: its frames, the flow controls the tester answered with,
    and the payload reassembled from them."""

    frames: list[Frame] = field(default_factory=list)
    payload: bytes = b""
    length: int = 0
    """The message length the SF or FF announced."""
    sequence_numbers: list[int] = field(default_factory=list)
    flow_controls: list[Frame] = field(default_factory=list)

    @property
    def consecutive(self) -> list[Frame]:
        return self.frames[1:]


class RawTester:
    """The tester side of ISO-TP, frame by frame, on the bench's diagnostics addresses.

    Every wait starts from a :class:`~harness.canbus.history.Mark` the caller passes or
    the tester's own ``cursor`` (just after the last DUT frame it consumed), so no frame
    is missed between two waits.
    """

    def __init__(self, channel: Channel, diag: DiagConfig) -> None:
        address = diag.address.tester()
        self.channel = channel
        self.diag = diag
        self._address = address
        self.txid = address.get_tx_arbitration_id(isotp.TargetAddressType.Physical)
        self.extended_id = address.is_tx_29bits()
        self.tx_prefix = bytes(address.get_tx_payload_prefix())
        self.rx_prefix = address.get_rx_prefix_size()
        self.padding = diag.isotp.padding
        self.can_fd = diag.isotp.can_fd
        self.frame_size = diag.isotp.frame_size
        """TX_DL: 8 on classic CAN, up to 64 on CAN FD."""
        self.p2 = diag.p2
        self.cursor = channel.mark()

    # -- frames out ----------------------------------------------------------------

    @property
    def classic_sf_capacity(self) -> int:
        """Payload bytes of a single frame with the 4-bit SF_DL (8 bytes, this addressing)."""
        return CAN_DL - len(self.tx_prefix) - 1

    @property
    def sf_capacity(self) -> int:
        """Payload bytes a single frame carries: above 8 bytes (CAN FD) with the SF_DL escape."""
        if self.frame_size == CAN_DL:
            return self.classic_sf_capacity
        return self.frame_size - len(self.tx_prefix) - 2

    @property
    def ff_capacity(self) -> int:
        return self.frame_size - len(self.tx_prefix) - 2

    @property
    def cf_capacity(self) -> int:
        return self.frame_size - len(self.tx_prefix) - 1

    def send(self, pdu: bytes) -> Frame:
        """Send one N_PDU: the address byte (if any), ``pdu``, padding as the bench says (to
        8 bytes, or on CAN FD also up to the next FD length, ISO 15765-2:2016 10.4.2.3)."""
        data = self.tx_prefix + pdu
        length = fd_length(len(data)) if self.can_fd else len(data)
        if self.padding is not None:
            length = max(length, CAN_DL)
        data += bytes([0xCC if self.padding is None else self.padding]) * (length - len(data))
        return self.channel.send_raw(
            self.txid, data, is_extended_id=self.extended_id, is_fd=self.can_fd
        )

    def single(self, payload: bytes) -> Frame:
        """A single frame: 4-bit SF_DL when it fits 8 bytes, else the escape (0x00, SF_DL)."""
        assert 0 < len(payload) <= self.sf_capacity, f"{len(payload)} bytes: not a single frame"
        if len(payload) <= self.classic_sf_capacity:
            return self.send(bytes([len(payload)]) + payload)
        return self.send(bytes([0x00, len(payload)]) + payload)

    def first(self, payload: bytes) -> Frame:
        """The first frame of ``payload`` (12-bit FF_DL, or the 32-bit escape above 4095
        bytes); the rest goes in :meth:`segments`."""
        assert self.sf_capacity < len(payload) <= 0xFFFFFFFF, f"{len(payload)} bytes"
        if len(payload) <= 0xFFF:
            pci = bytes([0x10 | len(payload) >> 8, len(payload) & 0xFF])
        else:
            pci = bytes([0x10, 0x00]) + len(payload).to_bytes(4, "big")
        return self.send(pci + payload[: self.frame_size - len(self.tx_prefix) - len(pci)])

    def first_size(self, payload: bytes) -> int:
        """Payload bytes the first frame of ``payload`` carries (fewer after the escape)."""
        return self.ff_capacity - (4 if len(payload) > 0xFFF else 0)

    def segments(self, payload: bytes) -> list[bytes]:
        """The chunks of ``payload`` its consecutive frames carry, in order."""
        rest = payload[self.first_size(payload) :]
        size = self.cf_capacity
        return [rest[i : i + size] for i in range(0, len(rest), size)]

    def consecutive(self, sn: int, chunk: bytes) -> Frame:
        return self.send(bytes([0x20 | sn & 0x0F]) + chunk)

    def flow_control(self, status: int = CTS, block_size: int = 0, stmin: int = 0) -> Frame:
        return self.send(bytes([0x30 | status, block_size, stmin]))

    # -- frames in -----------------------------------------------------------------

    def is_dut(self, frame: Frame) -> bool:
        """A frame the DUT sent the tester (its response identifier and address byte)."""
        message = isotp.CanMessage(
            arbitration_id=frame.arbitration_id,
            data=frame.data,
            extended_id=frame.is_extended_id,
            is_fd=frame.is_fd,
        )
        return frame.is_rx and len(frame.data) > self.rx_prefix and self._address.is_for_me(message)

    def pci(self, frame: Frame) -> int:
        return frame.data[self.rx_prefix] >> 4

    def pdu(self, frame: Frame) -> bytes:
        """The N_PDU of a DUT frame: the data after the address byte."""
        return frame.data[self.rx_prefix :]

    def mark(self) -> Mark:
        """Now, as the point the next waits start from."""
        self.cursor = self.channel.mark()
        return self.cursor

    def next_frame(self, timeout: float, *, since: Mark | None = None) -> Frame:
        """The DUT's next frame after ``since`` (default: the cursor); the cursor moves past it."""
        start = since if since is not None else self.cursor
        frame = self.channel.wait_for(None, self.is_dut, timeout=timeout, since=start)
        later = self.channel.history.since(start.seq)
        index = next(i for i, f in enumerate(later) if f is frame)
        self.cursor = Mark(start.seq + index + 1, frame.timestamp)
        return frame

    def expect_silence(self, for_: float, *, since: Mark | None = None) -> None:
        """The DUT sends nothing for ``for_`` seconds after ``since`` (default: the cursor)."""
        start = since if since is not None else self.cursor
        self.channel.expect_never(None, self.is_dut, for_=for_, since=start)

    def expect_pci(self, frame: Frame, kind: int, what: str) -> bytes:
        pdu = self.pdu(frame)
        got = PCI_NAMES.get(pdu[0] >> 4, f"reserved N_PCI type {pdu[0] >> 4}")
        assert pdu[0] >> 4 == kind, f"{what}: expected a {PCI_NAMES[kind]}, got {got}: {frame}"
        return pdu

    # -- whole exchanges --------------------------------------------------------------

    def receive(
        self,
        *,
        since: Mark | None = None,
        block_size: int = 0,
        stmin: int = 0,
        timeout: float | None = None,
    ) -> Transfer:
        """The DUT's next message: a single frame, or a first frame answered with a flow
        control (CTS, ``block_size``, ``stmin``) and the consecutive frames that follow,
        answering each full block with another flow control."""
        first = self.next_frame(self.p2 if timeout is None else timeout, since=since)
        pdu = self.pdu(first)
        transfer = Transfer(frames=[first])
        if pdu[0] >> 4 == SF:
            length, start = pdu[0] & 0x0F, 1
            if length == 0 and len(pdu) > 2:  # SF_DL escape (CAN FD, ISO 15765-2:2016 9.6.2.1)
                length, start = pdu[1], 2
            transfer.length = length
            transfer.payload = bytes(pdu[start : start + length])
            return transfer
        pdu = self.expect_pci(first, FF, "the DUT's response")
        length = (pdu[0] & 0x0F) << 8 | pdu[1]
        data = bytearray(pdu[2:])
        if length == 0:  # FF_DL escape: 32-bit length (ISO 15765-2:2016 9.6.3.2)
            length = int.from_bytes(pdu[2:6], "big")
            data = bytearray(pdu[6:])
        transfer.length = length
        transfer.flow_controls.append(self.flow_control(CTS, block_size, stmin))
        in_block = 0
        while len(data) < length:
            frame = self.next_frame(N_TIMEOUT + MARGIN)
            cf = self.expect_pci(frame, CF, f"after {len(data)} of {length} bytes")
            transfer.frames.append(frame)
            transfer.sequence_numbers.append(cf[0] & 0x0F)
            data += cf[1:]
            in_block += 1
            if block_size and in_block == block_size and len(data) < length:
                transfer.flow_controls.append(self.flow_control(CTS, block_size, stmin))
                in_block = 0
        transfer.payload = bytes(data[:length])
        return transfer

    def wait_flow_control(self, timeout: float = N_TIMEOUT + MARGIN) -> tuple[Frame, bytes]:
        """The DUT's next frame, which must be a flow control; WAIT frames are skipped."""
        while True:
            frame = self.next_frame(timeout)
            pdu = self.expect_pci(frame, FC, "the DUT's answer to the tester's first frame")
            assert len(pdu) >= 3, f"flow control shorter than 3 N_PCI bytes: {frame}"
            if pdu[0] & 0x0F != WAIT:
                return frame, pdu

    def send_segmented(self, payload: bytes, *, chunks: int | None = None) -> list[Frame]:
        """Send ``payload`` as FF + CFs, honouring the DUT's flow controls (BS, STmin); stop
        after ``chunks`` consecutive frames if given. Returns the DUT's flow controls."""
        self.mark()
        self.first(payload)
        control = self.wait_flow_control()
        return self.send_consecutive(self.segments(payload)[:chunks], control)

    def send_consecutive(self, segments: list[bytes], control: tuple[Frame, bytes]) -> list[Frame]:
        """Send the consecutive frames of ``segments`` (SN 1, 2, ...) after the DUT's flow
        control ``control``: STmin apart, waiting for a new flow control after each block of
        BS frames. Returns the flow controls, ``control`` first."""
        frame, pdu = control
        controls = [frame]
        in_block = 0
        for sn, chunk in enumerate(segments, start=1):
            assert pdu[0] & 0x0F == CTS, f"the DUT refused the request: {frame}"
            block_size, separation = pdu[1], stmin_seconds(pdu[2])
            if block_size and in_block == block_size:
                frame, pdu = self.wait_flow_control()
                controls.append(frame)
                in_block = 0
            elif sn > 1 and separation:  # STmin without sleeping: the DUT must be silent
                self.expect_silence(separation, since=self.channel.mark())
            self.consecutive(sn, chunk)
            in_block += 1
        return controls

    def send_message(self, payload: bytes) -> None:
        """Send a request as one single frame, or segmented when it does not fit one; the
        cursor is left before the DUT's response."""
        if len(payload) <= self.sf_capacity:
            self.mark()
            self.single(payload)
        else:
            self.send_segmented(payload)

    def request(self, payload: bytes, *, block_size: int = 0, stmin: int = 0) -> Transfer:
        """Send a request (single frame or segmented) and receive the DUT's response."""
        self.send_message(payload)
        return self.receive(block_size=block_size, stmin=stmin)

    def settle(self, timeout: float) -> None:
        """Wait (up to ``timeout``) until the DUT answers TesterPresent again, whatever state
        a test left its transport layer in; frames of an unfinished transfer are skipped."""
        since = self.mark()
        self.single(TESTER_PRESENT)
        answer = bytes([0x7E, 0x00])

        def answered(frame: Frame) -> bool:
            pdu = self.pdu(frame)
            return self.is_dut(frame) and pdu[0] == len(answer) and pdu[1:3] == answer

        self.channel.wait_for(None, answered, timeout=timeout, since=since)

    def expect_answered(self) -> None:
        """The DUT answers TesterPresent: its transport layer is idle and listening."""
        response = self.request(TESTER_PRESENT).payload
        assert response == bytes([0x7E, 0x00]), (
            f"TesterPresent answered {response.hex(' ')}, expected 7e 00"
        )


def padding_violations(frame: Frame, used: int, prefix: int, padding: int) -> list[str]:
    """What is wrong with a DUT frame's padding: its length, or a byte past the ``used``
    N_PDU bytes that is not the padding value."""
    problems = []
    if len(frame.data) != CAN_DL:
        problems.append(f"{len(frame.data)} bytes, not {CAN_DL}: {frame}")
    tail = frame.data[prefix + used :]
    wrong = [i for i, b in enumerate(tail, start=prefix + used) if b != padding]
    if wrong:
        problems.append(
            f"byte(s) {wrong} are not the padding 0x{padding:02X}: {frame.data.hex(' ')}"
        )
    return problems

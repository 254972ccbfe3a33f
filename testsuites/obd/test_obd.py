"""OBD-II conformance (SAE J1979 / ISO 15031-5 on ISO 15765-4): support bitmaps, PIDs,
vehicle information, DTC services and response time.

Every request goes out functionally (0x7DF on 11-bit CAN) as a generic scan tool sends
it; only the DUT's answers (its response ID, see ``conftest.py``) are judged. Raw
requests (``obd.answer_of``) are used where the bytes themselves are under test.

What J1979 makes mandatory, and what the DUT profile adds: every ECU that supports
service $01 answers PID $00, and every supported range's bitmap names the next support
PID only when that range exists; an ECU that supports service $09 answers info type
$00. Which further PIDs and info types an ECU must support depends on what it is (an
engine ECU: PID $01 monitor status, CALID, CVN, ECU name...): the profile's
``[obd] pids`` / ``infotypes`` name them, and the suite checks those are claimed and
answered. The VIN must equal the UDS VIN (DID 0xF190) when the profile defines it.

Absence is judged after the bench's OBD window (``[diagnostics.obd] window_ms``,
default 100 ms), which is at least P2CAN (50 ms): J1979 says an ECU stays silent to a
request for something it does not support.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator

import pytest

from harness.bench import Bench
from harness.diag.client import UdsClient
from harness.diag.obd import (
    CALID_INFOTYPE,
    CALID_LENGTH,
    ECU_NAME_INFOTYPE,
    ECU_NAME_LENGTH,
    MAX_PIDS_PER_REQUEST,
    MONITOR_STATUS,
    P2_CAN_MAX,
    PID_LENGTHS,
    SUPPORT_PIDS,
    VIN_INFOTYPE,
    VIN_LENGTH,
    ObdClient,
    decode_obd_dtc,
    parse_support_bitmap,
    split_pid_answer,
    vin_problems,
)
from harness.diag.profile import ObdDefinition
from harness.exceptions import DiagnosticError

pytestmark = pytest.mark.requires("diagnostics")

VIN_DID = 0xF190
"""VINDataIdentifier (ISO 14229-1 Annex C.1)."""
INFOTYPE_SIZES = {VIN_INFOTYPE: VIN_LENGTH, CALID_INFOTYPE: CALID_LENGTH, 0x06: 4}
"""Bytes per data item of the info types J1979 gives a fixed item size (0x06: CVN);
the ECU name (0x0A) is checked on its own."""
INFOTYPES_CHECKED = range(0x01, 0x20)
"""Info types probed for answers the DUT does not claim (J1979 defines them below 0x20)."""
ANSWER_WAIT = 2.0
"""Seconds to wait for an answer the suite expects: only OBD-007 judges how late it is,
so a loaded tester does not turn a late answer into a missing one. Absence is judged
after the bench's OBD window."""
TIMING_SAMPLES = 8
"""Functional requests timed for P2CAN; the median must meet it (see the test)."""


def _hex(data: bytes | None) -> str:
    return "nothing" if data is None else data.hex(" ")


def _walk_chain(obd: ObdClient, dut: int, mode: int) -> tuple[set[int], list[str]]:
    """Follow the DUT's support bitmaps of ``mode`` (0x00, 0x20, ...) with raw requests:
    what it claims, and each way the chain breaks J1979."""
    claimed: set[int] = set()
    problems: list[str] = []
    base = 0x00
    while True:
        answer = obd.answer_of(bytes([mode, base]), dut, wait=ANSWER_WAIT)
        expected = bytes([mode + 0x40, base])
        if answer is None or answer[:2] != expected or len(answer) != 6:
            problems.append(
                f"support PID 0x{base:02X}: expected {expected.hex(' ')} + 4 bytes, "
                f"got {_hex(answer)}"
            )
            return claimed, problems
        in_range = parse_support_bitmap(answer[2:], base)
        next_base = base + 0x20
        if base > 0x00 and not in_range:
            problems.append(
                f"support PID 0x{base:02X} is claimed but claims no PID above it "
                f"(J1979: a support PID exists only when a PID of its range or a later one does)"
            )
        claimed |= in_range
        if next_base not in in_range:
            break
        if next_base not in SUPPORT_PIDS:  # 0xE0's last bit: there is no PID 0x100
            problems.append(f"support PID 0x{base:02X} claims a next range after 0xFF")
            break
        base = next_base
    following = base + 0x20
    if following in SUPPORT_PIDS:
        answer = obd.answer_of(bytes([mode, following]), dut)
        if answer is not None and answer[:1] == bytes([mode + 0x40]):
            problems.append(
                f"support PID 0x{following:02X} is not claimed by 0x{base:02X}'s bitmap "
                f"but answered {answer.hex(' ')}"
            )
    return claimed, problems


@pytest.fixture
def claimed_pids(obd: ObdClient, dut: int) -> set[int]:
    """The mode 01 PIDs the DUT's bitmaps claim (support PIDs included)."""
    claimed, problems = _walk_chain(obd, dut, 0x01)
    assert not problems, "mode 01 support bitmaps: " + "; ".join(problems)
    return claimed


@pytest.fixture
def claimed_infotypes(obd: ObdClient, dut: int, obd_definition: ObdDefinition) -> set[int]:
    """The mode 09 info types the DUT's bitmaps claim (skip: no service $09 at all, and the
    profile requires no info type)."""
    wait = ANSWER_WAIT if obd_definition.infotypes else None  # else silence is allowed
    if obd.answer_of(bytes([0x09, 0x00]), dut, wait=wait) is None:
        if obd_definition.infotypes:
            pytest.fail(
                "the DUT does not answer service $09 info type $00, but the profile requires "
                f"info types {', '.join(f'0x{i:02X}' for i in obd_definition.infotypes)}"
            )
        pytest.skip("the DUT does not answer service $09 info type $00 (no vehicle information)")
    claimed, problems = _walk_chain(obd, dut, 0x09)
    assert not problems, "mode 09 support bitmaps: " + "; ".join(problems)
    return claimed


def _data_pids(claimed: Iterable[int]) -> list[int]:
    return sorted(p for p in claimed if p not in SUPPORT_PIDS)


def _pid_problem(number: int, answer: bytes | None) -> str | None:
    """Why ``answer`` is not a well-formed answer to a single-PID mode 01 request."""
    if answer is None:
        return f"PID 0x{number:02X}: claimed, but no answer"
    if answer[:2] != bytes([0x41, number]):
        return f"PID 0x{number:02X}: answered {answer.hex(' ')}, not 41 {number:02x} ..."
    size = PID_LENGTHS.get(number)
    data = answer[2:]
    if size is not None and len(data) != size:
        return f"PID 0x{number:02X}: {len(data)} data bytes, J1979 gives it {size}: {_hex(answer)}"
    if not data:
        return f"PID 0x{number:02X}: no data bytes"
    return None


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _vehicle_info(obd: ObdClient, dut: int, infotype: int) -> tuple[int, bytes]:
    """The number of data items and the data of the DUT's answer to info type ``infotype``."""
    answer = obd.answer_of(bytes([0x09, infotype]), dut, wait=ANSWER_WAIT)
    assert answer is not None, f"info type 0x{infotype:02X}: no answer from 0x{dut:X}"
    assert answer[:2] == bytes([0x49, infotype]), (
        f"info type 0x{infotype:02X}: answered {answer.hex(' ')}, not 49 {infotype:02x} NODI ..."
    )
    assert len(answer) >= 3, f"info type 0x{infotype:02X}: no NODI byte in {answer.hex(' ')}"
    return answer[2], answer[3:]


def _text_problems(item: bytes, what: str) -> list[str]:
    """ASCII text padded with 0x00 at the end only (J1979 CALID and ECUNAME items)."""
    text = item.rstrip(b"\x00")
    if not text:
        return [f"{what} is empty"]
    bad = [b for b in text if not 0x20 <= b <= 0x7E]
    if bad:
        return [f"{what} {item!r}: bytes {bytes(bad).hex(' ')} are not printable ASCII"]
    return []


# -- service $01: support bitmaps and PIDs ----------------------------------------------


@pytest.mark.requirement("OBD-001", clause="SAE J1979 6.1 / ISO 15031-5: service $01 PID $00")
def test_pid_00_answered_with_bitmap(obd: ObdClient, dut: int) -> None:
    answer = obd.answer_of(b"\x01\x00", dut, wait=ANSWER_WAIT)
    assert answer is not None, f"0x{dut:X} does not answer service $01 PID $00"
    assert answer[:2] == b"\x41\x00", f"answer {answer.hex(' ')} is not 41 00 ..."
    assert len(answer) == 6, f"PID $00 carries 4 data bytes, got {answer.hex(' ')}"


@pytest.mark.requirement(
    "OBD-002", clause="SAE J1979 6.1 / ISO 15031-5 Annex A: PIDs $00/$20/... chain"
)
def test_support_bitmap_chain_consistent(obd: ObdClient, dut: int) -> None:
    claimed, problems = _walk_chain(obd, dut, 0x01)
    assert not problems, "; ".join(problems)
    assert _data_pids(claimed), "the bitmaps claim no PID besides the support PIDs"


@pytest.mark.requirement(
    "OBD-003", clause="SAE J1979 6.1 / ISO 15031-5 Annex A: claimed PIDs answered, data sizes"
)
def test_claimed_pids_answered_with_their_length(
    obd: ObdClient, dut: int, claimed_pids: set[int]
) -> None:
    problems = []
    for number in _data_pids(claimed_pids):
        problem = _pid_problem(number, obd.answer_of(bytes([0x01, number]), dut, wait=ANSWER_WAIT))
        if problem is not None:
            problems.append(problem)
    assert not problems, "; ".join(problems)


@pytest.mark.requirement(
    "OBD-004", clause="SAE J1979 6.1 / ISO 15031-5: no answer for PIDs not supported"
)
def test_unclaimed_pids_not_answered(obd: ObdClient, dut: int, claimed_pids: set[int]) -> None:
    """Unclaimed PIDs go out five at a time beside a claimed one (the anchor), so each
    request is answered at once and must carry the anchor alone (J1979: an ECU answers
    the supported PIDs of a multi-PID request and leaves the others out)."""
    anchors = [p for p in _data_pids(claimed_pids) if p in PID_LENGTHS]
    unclaimed = [p for p in range(0x01, 0x100) if p not in claimed_pids and p not in SUPPORT_PIDS]
    problems = []
    if anchors:
        anchor = anchors[0]
        for group in _chunks(unclaimed, MAX_PIDS_PER_REQUEST - 1):
            request = bytes([0x01, anchor, *group])
            answer = obd.answer_of(request, dut, wait=ANSWER_WAIT)
            try:
                parts = split_pid_answer(answer) if answer is not None else {}
            except DiagnosticError as exc:
                problems.append(f"request {request.hex(' ')}: {exc}")
                continue
            extra = sorted(set(parts) - {anchor})
            if anchor not in parts or extra:
                problems.append(
                    f"request {request.hex(' ')}: answer {_hex(answer)} should carry PID "
                    f"0x{anchor:02X} alone" + (f" (it names 0x{extra[0]:02X})" if extra else "")
                )
    else:
        for group in _chunks(unclaimed, MAX_PIDS_PER_REQUEST):
            request = bytes([0x01, *group])
            answer = obd.answer_of(request, dut)
            if answer is not None and answer[:1] == b"\x41":
                problems.append(f"request {request.hex(' ')} answered {answer.hex(' ')}")
    unclaimed_support = [p for p in SUPPORT_PIDS if p not in claimed_pids and p != 0x00]
    for group in _chunks(unclaimed_support, MAX_PIDS_PER_REQUEST - 1):
        request = bytes([0x01, 0x00, *group])
        answer = obd.answer_of(request, dut, wait=ANSWER_WAIT)
        if answer is None or answer[:2] != b"\x41\x00" or len(answer) != 6:
            problems.append(
                f"request {request.hex(' ')}: answer {_hex(answer)} should carry PID 0x00 alone"
            )
    assert not problems, "; ".join(problems[:5]) + (
        f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    )


@pytest.mark.requirement(
    "OBD-005", clause="SAE J1979 6.1 / ISO 15031-5: up to six PIDs in one request"
)
def test_multi_pid_request_answered_in_one_response(
    obd: ObdClient, dut: int, claimed_pids: set[int]
) -> None:
    wanted = [p for p in _data_pids(claimed_pids) if p in PID_LENGTHS][:MAX_PIDS_PER_REQUEST]
    if len(wanted) < 2:
        pytest.skip("the DUT claims fewer than two PIDs of a size J1979 fixes")
    answer = obd.answer_of(bytes([0x01, *wanted]), dut, wait=ANSWER_WAIT)
    assert answer is not None, f"no answer to the multi-PID request {bytes(wanted).hex(' ')}"
    parts = split_pid_answer(answer)
    assert sorted(parts) == wanted, f"answer {answer.hex(' ')} names {sorted(parts)}"
    for number, data in parts.items():
        assert len(data) == PID_LENGTHS[number], f"PID 0x{number:02X}: {data.hex(' ')}"


@pytest.mark.requirement(
    "OBD-006", clause="SAE J1979 6.1 / ISO 15031-5: PIDs the DUT profile requires"
)
def test_required_pid_supported(
    obd: ObdClient, dut: int, claimed_pids: set[int], required_pid: int
) -> None:
    assert required_pid in claimed_pids, (
        f"PID 0x{required_pid:02X} is required ([obd] pids) but the support bitmaps do "
        f"not claim it; they claim {', '.join(f'0x{p:02X}' for p in sorted(claimed_pids))}"
    )
    if required_pid not in SUPPORT_PIDS:
        problem = _pid_problem(
            required_pid, obd.answer_of(bytes([0x01, required_pid]), dut, wait=ANSWER_WAIT)
        )
        assert problem is None, problem


@pytest.mark.requirement(
    "OBD-007", clause="ISO 15765-4 / SAE J1979 5.2: P2CAN 50 ms to functional requests"
)
def test_functional_requests_answered_within_p2(
    bench: Bench, obd: ObdClient, dut: int, claimed_pids: set[int]
) -> None:
    """From each functional request frame to the DUT's first answer frame. The median
    of the samples must meet P2CAN: on a loaded test machine one sample can be late for
    reasons that are not the DUT's (scheduling, garbage collection), a slow DUT is late
    every time. Each sample must still come within ``ANSWER_WAIT``."""
    config = bench.config.diagnostics
    assert config is not None
    channel = bench.can[config.channel]
    requests = [b"\x01\x00", *(bytes([0x01, p]) for p in _data_pids(claimed_pids)), b"\x03"]
    requests = (requests * TIMING_SAMPLES)[:TIMING_SAMPLES]
    delays = []
    for request in requests:
        since = channel.mark()
        answer = obd.answer_of(request, dut, wait=ANSWER_WAIT)
        assert answer is not None, f"no answer to {request.hex(' ')} within {ANSWER_WAIT:g} s"
        frames = channel.history.since(since.seq)
        at = next(
            i
            for i, f in enumerate(frames)
            if not f.is_rx and f.data[1 : 1 + len(request)] == request
        )
        first = next(f for f in frames[at:] if f.is_rx and f.arbitration_id == dut)
        delays.append(first.timestamp - frames[at].timestamp)
    median = statistics.median(delays)
    shown = ", ".join(f"{d * 1000:.1f}" for d in delays)
    assert median <= P2_CAN_MAX, (
        f"median response time {median * 1000:.1f} ms > P2CAN {P2_CAN_MAX * 1000:.0f} ms "
        f"(samples, ms: {shown})"
    )


# -- service $09: vehicle information ----------------------------------------------------


@pytest.mark.requirement(
    "OBD-010", clause="SAE J1979 6.9 / ISO 15031-5: service $09 info type $00 chain"
)
def test_infotype_support_bitmap_consistent(
    obd: ObdClient, dut: int, claimed_infotypes: set[int]
) -> None:
    assert _data_pids(claimed_infotypes), "the bitmaps claim no info type"


@pytest.mark.requirement(
    "OBD-011", clause="SAE J1979 6.9 / ISO 15031-5 Annex: claimed info types answered"
)
def test_claimed_infotypes_answered(obd: ObdClient, dut: int, claimed_infotypes: set[int]) -> None:
    problems = []
    for infotype in _data_pids(claimed_infotypes):
        answer = obd.answer_of(bytes([0x09, infotype]), dut, wait=ANSWER_WAIT)
        if answer is None or answer[:2] != bytes([0x49, infotype]) or len(answer) < 4:
            problems.append(f"info type 0x{infotype:02X}: claimed, answered {_hex(answer)}")
            continue
        count, data = answer[2], answer[3:]
        size = INFOTYPE_SIZES.get(infotype)
        if infotype == ECU_NAME_INFOTYPE:
            size = ECU_NAME_LENGTH
        if count == 0 or (size is not None and len(data) != count * size):
            expected = f"{count} x {size}" if size is not None else "at least one item"
            problems.append(
                f"info type 0x{infotype:02X}: {count} item(s) in {len(data)} bytes "
                f"(expected {expected} bytes): {answer.hex(' ')}"
            )
    assert not problems, "; ".join(problems)


@pytest.mark.requirement(
    "OBD-012", clause="SAE J1979 6.9 / ISO 15031-5: no answer for info types not supported"
)
def test_unclaimed_infotypes_not_answered(
    obd: ObdClient, dut: int, claimed_infotypes: set[int]
) -> None:
    answered = []
    for infotype in INFOTYPES_CHECKED:
        if infotype in claimed_infotypes:
            continue
        answer = obd.answer_of(bytes([0x09, infotype]), dut)
        if answer is not None and answer[:1] == b"\x49":
            answered.append(f"0x{infotype:02X}: {answer.hex(' ')}")
    assert not answered, "info types not claimed by the bitmap answered: " + "; ".join(answered)


@pytest.mark.requirement(
    "OBD-013", clause="SAE J1979 6.9 / ISO 15031-5: info types the DUT profile requires"
)
def test_required_infotype_supported(
    obd: ObdClient, dut: int, claimed_infotypes: set[int], required_infotype: int
) -> None:
    assert required_infotype in claimed_infotypes, (
        f"info type 0x{required_infotype:02X} is required ([obd] infotypes) but the bitmap "
        f"claims {', '.join(f'0x{p:02X}' for p in sorted(claimed_infotypes))}"
    )
    count, data = _vehicle_info(obd, dut, required_infotype)
    assert count >= 1, f"info type 0x{required_infotype:02X}: no data items"
    assert data, f"info type 0x{required_infotype:02X}: no data bytes"


@pytest.fixture
def vin_item(obd: ObdClient, dut: int, claimed_infotypes: set[int]) -> bytes:
    """The DUT's VIN data item (skip: it does not report the VIN, as J1979 lets every ECU
    but one do)."""
    if VIN_INFOTYPE not in claimed_infotypes:
        pytest.skip("the DUT does not claim info type $02 (VIN)")
    count, data = _vehicle_info(obd, dut, VIN_INFOTYPE)
    assert count == 1, f"the VIN answer names {count} data items, J1979 one: {data.hex(' ')}"
    return data


@pytest.mark.requirement(
    "OBD-014", clause="SAE J1979 6.9 / ISO 15031-5: info type $02 VIN, 17 characters"
)
def test_vin_has_17_characters(vin_item: bytes) -> None:
    assert len(vin_item) == VIN_LENGTH, (
        f"VIN {vin_item!r} has {len(vin_item)} bytes, J1979 sends all {VIN_LENGTH}"
    )
    assert b"\x00" not in vin_item, f"VIN {vin_item!r} is padded: fewer than 17 characters"


@pytest.mark.requirement("OBD-015", clause="ISO 3779 (VIN characters: no I, O, Q)")
def test_vin_character_set(vin_item: bytes) -> None:
    problems = [p for p in vin_problems(vin_item) if "bytes, not" not in p]
    assert not problems, f"VIN {vin_item!r}: " + "; ".join(problems)


@pytest.mark.requirement(
    "OBD-016", clause="SAE J1979 6.9 / ISO 14229-1 C.1: OBD VIN equals DID 0xF190"
)
def test_vin_matches_uds_vin(vin_item: bytes, uds: UdsClient) -> None:
    if uds.profile.did_by_id(VIN_DID) is None:
        pytest.skip("the DUT profile defines no DID 0xF190 (VIN)")
    uds_vin = uds.read_did(VIN_DID)
    obd_vin = vin_item.decode("ascii", errors="replace")
    assert obd_vin == uds_vin, f"OBD-II VIN {obd_vin!r} != UDS VIN (0xF190) {uds_vin!r}"


@pytest.mark.requirement(
    "OBD-017", clause="SAE J1979 6.9 / ISO 15031-5: info type $04 CALID, 16 bytes each"
)
def test_calibration_ids_well_formed(obd: ObdClient, dut: int, claimed_infotypes: set[int]) -> None:
    if CALID_INFOTYPE not in claimed_infotypes:
        pytest.skip("the DUT does not claim info type $04 (calibration IDs)")
    count, data = _vehicle_info(obd, dut, CALID_INFOTYPE)
    assert count >= 1, "no calibration ID"
    assert len(data) == count * CALID_LENGTH, (
        f"{count} calibration ID(s) in {len(data)} bytes, not {count} x {CALID_LENGTH}"
    )
    problems = []
    for index in range(count):
        item = data[index * CALID_LENGTH : (index + 1) * CALID_LENGTH]
        problems += _text_problems(item, f"calibration ID {index + 1}")
    assert not problems, "; ".join(problems)


@pytest.mark.requirement(
    "OBD-018", clause="SAE J1979 6.9 / ISO 15031-5: info type $0A ECUNAME, 20 bytes"
)
def test_ecu_name_well_formed(obd: ObdClient, dut: int, claimed_infotypes: set[int]) -> None:
    """J1979: an acronym of up to four characters, a '-', a name of up to 15 characters,
    filled up with 0x00 (the acronym's fill may come before the '-')."""
    if ECU_NAME_INFOTYPE not in claimed_infotypes:
        pytest.skip("the DUT does not claim info type $0A (ECU name)")
    count, data = _vehicle_info(obd, dut, ECU_NAME_INFOTYPE)
    assert count == 1, f"the ECU name answer names {count} data items, J1979 one"
    assert len(data) == ECU_NAME_LENGTH, f"ECU name {data!r}: {len(data)} bytes, not 20"
    acronym, dash, name = data.partition(b"-")
    acronym = acronym.rstrip(b"\x00")
    assert dash, f"ECU name {data!r} has no '-' between acronym and name"
    assert 1 <= len(acronym) <= 4, f"ECU name {data!r}: acronym {acronym!r} is not 1..4 chars"
    problems = _text_problems(acronym, "ECU acronym") + _text_problems(name, "ECU name")
    assert not problems, "; ".join(problems)
    assert len(name.rstrip(b"\x00")) <= 15, f"ECU name {data!r}: name part over 15 characters"


# -- services $03 and $07: DTCs ----------------------------------------------------------


def _dtc_answer(obd: ObdClient, dut: int, mode: int) -> list[str]:
    """The DTCs of the DUT's mode 03/07 answer, checked byte by byte (ISO 15765-4 form:
    count byte, then two bytes a DTC, no 0x0000 fill)."""
    answer = obd.answer_of(bytes([mode]), dut, wait=ANSWER_WAIT)
    assert answer is not None, f"no answer to service ${mode:02X} (J1979: every OBD ECU answers)"
    assert answer[:1] == bytes([mode + 0x40]), f"service ${mode:02X}: answered {answer.hex(' ')}"
    assert len(answer) >= 2, f"service ${mode:02X}: no DTC count byte in {answer.hex(' ')}"
    count, body = answer[1], answer[2:]
    assert len(body) == 2 * count, (
        f"service ${mode:02X}: {count} DTC(s) announced, {len(body)} bytes follow: "
        f"{answer.hex(' ')}"
    )
    codes = [body[i : i + 2] for i in range(0, len(body), 2)]
    assert b"\x00\x00" not in codes, f"service ${mode:02X}: a 0x0000 DTC in {answer.hex(' ')}"
    return [decode_obd_dtc(code) for code in codes]


@pytest.mark.requirement("OBD-020", clause="SAE J1979 6.3 / ISO 15031-5: service $03 format")
def test_stored_dtcs_well_formed(obd: ObdClient, dut: int) -> None:
    codes = _dtc_answer(obd, dut, 0x03)
    assert len(codes) == len(set(codes)), f"a DTC reported twice: {codes}"


@pytest.mark.requirement("OBD-021", clause="SAE J1979 6.7 / ISO 15031-5: service $07 format")
def test_pending_dtcs_well_formed(obd: ObdClient, dut: int) -> None:
    codes = _dtc_answer(obd, dut, 0x07)
    assert len(codes) == len(set(codes)), f"a DTC reported twice: {codes}"


@pytest.mark.requirement(
    "OBD-022", clause="SAE J1979 Appendix A / ISO 15031-5: PID $01 DTC count = service $03"
)
def test_monitor_status_counts_stored_dtcs(
    obd: ObdClient, dut: int, claimed_pids: set[int]
) -> None:
    if MONITOR_STATUS not in claimed_pids:
        pytest.skip("the DUT does not claim PID $01 (monitor status)")
    status = obd.answer_of(bytes([0x01, MONITOR_STATUS]), dut, wait=ANSWER_WAIT)
    assert status is not None, "no answer to PID $01"
    assert status[:2] == b"\x41\x01", f"PID $01 answered {status.hex(' ')}"
    assert len(status) == 6, f"PID $01 carries 4 data bytes: {status.hex(' ')}"
    codes = _dtc_answer(obd, dut, 0x03)
    assert status[2] & 0x7F == len(codes), (
        f"PID $01 counts {status[2] & 0x7F} stored DTC(s), service $03 reports {codes}"
    )

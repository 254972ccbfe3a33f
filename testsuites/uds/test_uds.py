"""UDS conformance (ISO 14229-1): services, negative responses, sessions, S3, security.

Parametrised at collection time by the bench's DUT profile (see ``conftest.py``), so it
runs against any bench with a ``[diagnostics]`` section. Raw requests go through
``uds.request`` so malformed and negative cases are sent exactly as written.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from uds_support import can_channel, enter, profile_sessions

from harness import clock
from harness.diag.client import UdsClient
from harness.diag.conformance import MARGIN, DutTiming, negative, pick_session, wrong_key
from harness.diag.names import SESSIONS
from harness.diag.profile import DidDefinition, DownloadDefinition, RoutineDefinition

pytestmark = pytest.mark.requires("diagnostics")

ACTIVE_SESSION_DID = 0xF186
"""ActiveDiagnosticSessionDataIdentifier (ISO 14229-1 Annex C.1)."""
RESPONSE_PENDING = 0x78

UNSUPPORTED_SERVICES = {
    0x23: "ReadMemoryByAddress",
    0x24: "ReadScalingDataByIdentifier",
    0x2A: "ReadDataByPeriodicIdentifier",
    0x2C: "DynamicallyDefineDataIdentifier",
    0x2F: "InputOutputControlByIdentifier",
    0x35: "RequestUpload",
    0x38: "RequestFileTransfer",
    0x3D: "WriteMemoryByAddress",
    0x86: "ResponseOnEvent",
    0x87: "LinkControl",
}
"""ISO 14229-1 services a DUT profile has no data for (memory map, IO controls, periodic
or dynamic DIDs, files), so the DUT must not claim them."""

WRONG_LENGTH = {
    "DSC-no-subfunction": "10",
    "DSC-too-long": "10 01 00",
    "TesterPresent-too-long": "3E 00 00",
    "RDBI-no-did": "22",
    "RDBI-half-did": "22 F1",
    "RDTCI-no-mask": "19 02",
    "CDTCI-short-group": "14 FF FF",
    "RC-no-routine": "31 01 02",
}
"""Requests one byte short or long of their service's format (NRC 0x13)."""

UNSUPPORTED_SUBFUNCTION = {
    "DSC-0x00": "10 00",
    "DSC-0x7F": "10 7F",
    "TesterPresent-0x01": "3E 01",
    "SecurityAccess-0x00": "27 00",
    "SecurityAccess-0x7F": "27 7F",
    "RDTCI-0x7F": "19 7F FF",
    "RC-0x00": "31 00 02 01",
}
"""Sub-functions ISO 14229-1 reserves (NRC 0x12), sent in the extended session where
each service is available."""


def raw(uds: UdsClient, text: str | bytes) -> bytes | None:
    return uds.request(bytes.fromhex(text) if isinstance(text, str) else text)


def rdbi(did: int) -> bytes:
    return bytes([0x22]) + did.to_bytes(2, "big")


def active_session(uds: UdsClient) -> str | None:
    """The session the DUT reports in DID 0xF186, None when the profile lacks it."""
    if uds.profile.did_by_id(ACTIVE_SESSION_DID) is None:
        return None
    response = raw(uds, rdbi(ACTIVE_SESSION_DID))
    assert negative(response, 0x22) is None
    assert response is not None
    number = response[3]
    return next((name for name, value in SESSIONS.items() if value == number), hex(number))


# -- ReadDataByIdentifier / WriteDataByIdentifier -----------------------------------------


@pytest.mark.requirement("UDS-001", clause="ISO 14229-1 11.2")
def test_every_did_is_readable_in_its_session(uds: UdsClient, did: DidDefinition) -> None:
    enter(uds, pick_session(did.sessions))
    if did.security is not None:
        uds.unlock(did.security)
    response = raw(uds, rdbi(did.id))
    assert negative(response, 0x22) is None, f"{did.label} refused"
    assert response is not None
    assert response[1:3] == did.id.to_bytes(2, "big"), "response echoes another DID"
    assert len(response) - 3 == did.length, f"{did.label}: {len(response) - 3} data bytes"
    did.decode(response[3:])


@pytest.mark.requirement("UDS-002", clause="ISO 14229-1 11.2.3 (NRC 0x31)")
def test_did_is_refused_outside_its_sessions(uds: UdsClient, restricted_did: DidDefinition) -> None:
    outside = ["default"] + [
        s for s in profile_sessions(uds.profile) if s not in restricted_did.sessions
    ]
    for session in outside:
        enter(uds, session)
        nrc = negative(raw(uds, rdbi(restricted_did.id)), 0x22)
        assert nrc == 0x31, f"{restricted_did.label} in the {session} session: {nrc}"


@pytest.mark.requirement("UDS-003", clause="ISO 14229-1 11.2.3 (NRC 0x33)")
def test_did_needing_security_is_refused_while_locked(
    uds: UdsClient, secured_did: DidDefinition
) -> None:
    enter(uds, pick_session(secured_did.sessions, non_default=True))
    assert negative(raw(uds, rdbi(secured_did.id)), 0x22) == 0x33
    assert secured_did.security is not None
    uds.unlock(secured_did.security)
    assert negative(raw(uds, rdbi(secured_did.id)), 0x22) is None


@pytest.mark.requirement("UDS-004", clause="ISO 14229-1 11.7")
def test_writable_did_is_written_only_where_allowed(
    uds: UdsClient, writable_did: DidDefinition
) -> None:
    did = writable_did
    session = pick_session(did.write_sessions, non_default=True)
    header = bytes([0x2E]) + did.id.to_bytes(2, "big")
    enter(uds, session)
    if did.security is not None:
        uds.unlock(did.security)
    before = raw(uds, rdbi(did.id))
    assert negative(before, 0x22) is None
    assert before is not None
    original = before[3:]
    changed = bytes(b ^ 0x01 for b in original)
    if did.codec_kind == "ascii":
        changed = original[::-1]
    if "default" not in did.write_sessions:
        enter(uds, "default")
        nrc = negative(raw(uds, header + changed), 0x2E)
        assert nrc in (0x31, 0x7F), "written outside its session"
        enter(uds, session)
    if did.write_security is not None:
        assert negative(raw(uds, header + changed), 0x2E) == 0x33, "written while locked"
        uds.unlock(did.write_security)
    assert negative(raw(uds, header + changed[:-1]), 0x2E) == 0x13, "short record accepted"
    try:
        response = raw(uds, header + changed)
        assert negative(response, 0x2E) is None
        assert response is not None
        assert response[1:3] == header[1:3]
        if did.security is not None:
            uds.unlock(did.security)
        after = raw(uds, rdbi(did.id))
        assert after is not None
        assert after[3:] == changed, "the written value did not stick"
    finally:
        raw(uds, header + original)


# -- services and negative responses ----------------------------------------------------------


@pytest.mark.requirement("UDS-010", clause="ISO 14229-1 10.7, 12.3")
def test_supported_services_answer_positively(uds: UdsClient) -> None:
    enter(uds, "default")
    assert raw(uds, "3E 00") == bytes.fromhex("7E 00"), "TesterPresent"
    if uds.profile.dtcs:
        count = raw(uds, "19 01 FF")
        assert negative(count, 0x19) is None, "ReadDTCInformation reportNumberOfDTCByStatusMask"
        records = uds.dtcs()
        assert count is not None
        assert int.from_bytes(count[4:6], "big") == len(records)
        known = {d.code for d in uds.profile.dtcs.values()}
        supported = uds.supported_dtcs()
        assert {r.code for r in supported} <= known, "DTCs the profile does not define"
        assert {r.code for r in records} <= {r.code for r in supported}


@pytest.mark.requirement("UDS-011", clause="ISO 14229-1 7.5, A.1 (NRC 0x11)")
@pytest.mark.parametrize("sid", list(UNSUPPORTED_SERVICES), ids=UNSUPPORTED_SERVICES.values())
def test_unsupported_service_gets_nrc_0x11(uds: UdsClient, sid: int) -> None:
    enter(uds, "default")
    assert negative(raw(uds, bytes([sid, 0x00, 0x00, 0x00])), sid) == 0x11


@pytest.mark.requirement("UDS-012", clause="ISO 14229-1 7.5 (functional: no NRC 0x11)")
def test_unsupported_service_functional_is_silent(uds: UdsClient) -> None:
    sid = next(iter(UNSUPPORTED_SERVICES))
    if uds.link.functional_connection("probe") is None:
        pytest.skip(f"not tested: {uds.link.protocol} here has no functional addressing")
    assert uds.functional.request(bytes([sid, 0x00, 0x00, 0x00])) is None
    assert raw(uds, "3E 00") == bytes.fromhex("7E 00"), "the DUT stopped answering"


@pytest.mark.requirement("UDS-013", clause="ISO 14229-1 7.5, A.1 (NRC 0x13)")
@pytest.mark.parametrize("request_hex", list(WRONG_LENGTH.values()), ids=list(WRONG_LENGTH))
def test_wrong_length_gets_nrc_0x13(uds: UdsClient, request_hex: str) -> None:
    enter(uds, "extended")
    sid = bytes.fromhex(request_hex)[0]
    assert negative(raw(uds, request_hex), sid) == 0x13


@pytest.mark.requirement("UDS-014", clause="ISO 14229-1 7.5, A.1 (NRC 0x12)")
@pytest.mark.parametrize(
    "request_hex", list(UNSUPPORTED_SUBFUNCTION.values()), ids=list(UNSUPPORTED_SUBFUNCTION)
)
def test_unsupported_subfunction_gets_nrc_0x12(uds: UdsClient, request_hex: str) -> None:
    enter(uds, "extended")
    sid = bytes.fromhex(request_hex)[0]
    assert negative(raw(uds, request_hex), sid) == 0x12


# -- sessions and S3 --------------------------------------------------------------------------


@pytest.mark.requirement("UDS-020", clause="ISO 14229-1 10.2")
def test_session_transitions(uds: UdsClient, session_name: str) -> None:
    p2, p2_star = uds.session("default")
    assert p2 is not None, "no P2 in the session response"
    assert p2_star is not None, "no P2* in the session response"
    assert active_session(uds) in (None, "default")
    enter(uds, session_name)
    assert active_session(uds) in (None, session_name)
    uds.session("default")
    assert active_session(uds) in (None, "default")


@pytest.mark.requirement("UDS-021", clause="ISO 14229-1 10.2.1, 10.4 (security relocked)")
def test_session_change_relocks_security(uds: UdsClient, secured_did: DidDefinition) -> None:
    session = pick_session(secured_did.sessions, non_default=True)
    assert secured_did.security is not None
    enter(uds, session)
    uds.unlock(secured_did.security)
    assert negative(raw(uds, rdbi(secured_did.id)), 0x22) is None
    uds.session("default")
    enter(uds, session)
    assert negative(raw(uds, rdbi(secured_did.id)), 0x22) == 0x33


@pytest.mark.requirement("UDS-022", clause="ISO 14229-2 7.5 (S3server)")
def test_s3_timeout_returns_to_default_session(uds: UdsClient, dut_timing: DutTiming) -> None:
    restricted = [d for d in uds.profile.dids.values() if "default" not in d.sessions]
    session = "extended"
    enter(uds, session)
    uds.session_entered = "default"  # expected to fall back by itself
    if restricted and restricted[0].security is None:
        assert negative(raw(uds, rdbi(restricted[0].id)), 0x22) is None
    assert active_session(uds) in (None, session)
    # No request for S3 (and a margin): the DUT must not answer anything meanwhile.
    channel = can_channel(uds, "watching the DUT stay silent for S3")
    mark = channel.mark()
    rxid = uds.config.address.response_id
    channel.expect_never(rxid, for_=dut_timing.s3 + MARGIN, since=mark)
    assert active_session(uds) in (None, "default"), "still in the extended session after S3"
    if restricted:
        assert negative(raw(uds, rdbi(restricted[0].id)), 0x22) == 0x31


# -- suppress positive response -------------------------------------------------------------


@pytest.mark.requirement("UDS-030", clause="ISO 14229-1 8.2.2 (suppressPosRspMsgIndicationBit)")
def test_suppress_positive_response(uds: UdsClient) -> None:
    enter(uds, "default")
    assert raw(uds, "3E 80") is None, "TesterPresent answered despite the suppress bit"
    assert raw(uds, "10 83") is None, "DiagnosticSessionControl answered despite the bit"
    uds.session_entered = "extended"
    assert active_session(uds) in (None, "extended"), "suppressed request not executed"
    assert raw(uds, "10 81") is None
    assert active_session(uds) in (None, "default")


@pytest.mark.requirement("UDS-031", clause="ISO 14229-1 8.2.2 (NRC sent despite the bit)")
def test_suppress_bit_does_not_suppress_negative_responses(uds: UdsClient) -> None:
    enter(uds, "extended")
    assert negative(raw(uds, "3E 80 00"), 0x3E) == 0x13
    assert negative(raw(uds, "10 80"), 0x10) == 0x12


# -- routines and responsePending -----------------------------------------------------------


@pytest.mark.requirement("UDS-040", clause="ISO 14229-1 14.2, A.1 (NRC 0x78)")
def test_routine_starts_with_response_pending_in_time(
    uds: UdsClient, routine: RoutineDefinition
) -> None:
    if "default" not in routine.sessions and "extended" not in routine.sessions:
        pytest.skip(f"{routine.name} runs in {routine.sessions} only (flash routines: not run)")
    _, p2_star = uds.session(pick_session(routine.sessions))
    if routine.security is not None:
        uds.unlock(routine.security)
    rxid = uds.config.address.response_id
    channel = can_channel(uds, "timing each responsePending")
    mark = channel.mark()
    started = clock.now()
    uds.routine(routine.name)
    frames = channel.frames(rxid, since=mark)
    times = [started] + [f.timestamp for f in frames]
    pending = [f for f in frames if f.data[1:4] == bytes([0x7F, 0x31, RESPONSE_PENDING])]
    limit = (p2_star or uds.config.p2_star) + 0.1
    for earlier, later in itertools.pairwise(times):
        if pending:
            assert later - earlier <= limit, f"{later - earlier:.3f} s between responses"


@pytest.mark.requirement("UDS-041", clause="ISO 14229-1 14.2.3 (NRC 0x31, 0x33)")
def test_routine_is_refused_outside_its_session_and_locked(
    uds: UdsClient, routine: RoutineDefinition
) -> None:
    start = bytes([0x31, 0x01]) + routine.id.to_bytes(2, "big")
    if "default" not in routine.sessions:
        enter(uds, "default")
        nrc = negative(raw(uds, start), 0x31)
        assert nrc in (0x31, 0x7F), "started outside its sessions"
    if routine.security is None:
        return
    if "extended" not in routine.sessions and "default" not in routine.sessions:
        return  # not entered (flash routines are not run)
    enter(uds, pick_session(routine.sessions, non_default=True))
    assert negative(raw(uds, start), 0x31) == 0x33, "started without security access"


# -- security access --------------------------------------------------------------------------


@pytest.mark.requirement("UDS-050", clause="ISO 14229-1 10.4 (NRC 0x35)")
def test_wrong_key_gets_nrc_0x35(
    uds: UdsClient, security_level: int, security_session: str
) -> None:
    enter(uds, security_session)
    seed = uds.request_seed(security_level)
    key = wrong_key(uds, security_level, seed)
    response = raw(uds, bytes([0x27, security_level + 1]) + key)
    assert negative(response, 0x27) == 0x35
    uds.unlock(security_level)  # a right key afterwards resets the attempt counter


@pytest.mark.requirement("UDS-051", clause="ISO 14229-1 10.4 (NRC 0x36, 0x37)")
def test_attempts_exceeded_then_delay(
    uds: UdsClient, security_level: int, security_session: str, dut_timing: DutTiming
) -> None:
    channel = can_channel(uds, "polling quietly through the security delay")
    enter(uds, security_session)
    seed_request = bytes([0x27, security_level])
    nrcs: list[int | None] = []
    for _ in range(dut_timing.max_attempts):
        response = raw(uds, seed_request)
        assert negative(response, 0x27) is None, "requestSeed refused before the lock-out"
        assert response is not None
        key = wrong_key(uds, security_level, response[2:])
        nrcs.append(negative(raw(uds, bytes([0x27, security_level + 1]) + key), 0x27))
        if nrcs[-1] != 0x35:
            break
    assert nrcs[-1] == 0x36, (
        f"no exceededNumberOfAttempts after {len(nrcs)} wrong keys: NRCs "
        + ", ".join(f"0x{n:02X}" if n is not None else "positive" for n in nrcs)
    )
    assert negative(raw(uds, seed_request), 0x27) == 0x37, "requestSeed during the delay"
    # The delay runs out by itself: poll requestSeed, quietly in between.
    rxid = uds.config.address.response_id
    deadline = clock.Deadline(dut_timing.security_delay + 2 * MARGIN)
    answered: int | None = 0x37
    while answered == 0x37 and not deadline.expired():
        channel.expect_never(rxid, for_=min(0.25, deadline.remaining()))
        answered = negative(raw(uds, seed_request), 0x27)
    assert answered is None, "requestSeed still refused after the security delay"
    uds.unlock(security_level)


# -- download (reprogramming) -----------------------------------------------------------------

DOWNLOAD_BLOCK = 16
"""Data bytes per TransferData block in the download tests (small: the tests check the
protocol, not the throughput)."""


@pytest.fixture
def download(uds: UdsClient) -> Iterator[DownloadDefinition]:
    """The DUT's download area, in its session and security level; skipped unless the
    profile has a ``[download]`` section and the bench allows flashing. Back in the default
    session afterwards, which abandons any transfer still open."""
    definition = uds.profile.download
    if definition is None:
        pytest.skip("the DUT profile has no [download] section")
    if not uds.config.flashing:
        pytest.skip("the bench does not allow flashing ([diagnostics] flashing = true)")
    enter(uds, definition.session)
    if definition.security is not None:
        uds.unlock(definition.security)
    yield definition
    enter(uds, "default")


def request_download(uds: UdsClient, area: DownloadDefinition, size: int) -> None:
    """RequestDownload of ``size`` bytes at the start of the area (4-byte address/size)."""
    request = bytes([0x34, 0x00, 0x44]) + area.address.to_bytes(4, "big") + size.to_bytes(4, "big")
    response = raw(uds, request)
    assert negative(response, 0x34) is None, "RequestDownload refused"


def transfer(uds: UdsClient, counter: int, block: bytes) -> int | None:
    """TransferData with ``counter``: the NRC, or None when accepted with that counter echoed."""
    response = raw(uds, bytes([0x36, counter]) + block)
    nrc = negative(response, 0x36)
    if nrc is None:
        assert response is not None
        assert response[1] == counter, f"TransferData echoes counter 0x{response[1]:02X}"
    return nrc


@pytest.mark.requirement("UDS-060", clause="ISO 14229-1 14.4, 14.5, 14.6 (download sequence)")
def test_download_is_accepted_in_order(uds: UdsClient, download: DownloadDefinition) -> None:
    image = bytes(range(4 * DOWNLOAD_BLOCK))
    result = uds.download(download.address, image)
    assert result.blocks >= 1


@pytest.mark.requirement(
    "UDS-061", clause="ISO 14229-1 14.5.3 (NRC 0x73 wrongBlockSequenceCounter)"
)
def test_transfer_data_with_wrong_block_counter_gets_nrc_0x73(
    uds: UdsClient, download: DownloadDefinition
) -> None:
    request_download(uds, download, 3 * DOWNLOAD_BLOCK)
    assert transfer(uds, 0x01, bytes(DOWNLOAD_BLOCK)) is None, "first block refused"
    nrc = transfer(uds, 0x03, bytes(DOWNLOAD_BLOCK))  # block 2 skipped
    assert nrc == 0x73, (
        f"a skipped block counter got {'a positive response' if nrc is None else hex(nrc)}"
    )


@pytest.mark.requirement("UDS-062", clause="ISO 14229-1 14.5.3 (NRC 0x24 requestSequenceError)")
def test_transfer_data_without_request_download_gets_nrc_0x24(
    uds: UdsClient, download: DownloadDefinition
) -> None:
    assert transfer(uds, 0x01, bytes(DOWNLOAD_BLOCK)) == 0x24

"""SAE J1939 conformance of the DUT: address claim and contention (J1939-81), requests
and acknowledgements, the transport protocol's timers and aborts (J1939-21),
diagnostic messages DM1/DM2/DM3/DM11 (J1939-73), and cycle times by PGN (J1939-71 /
the database).

Parametrised from the bench file (see ``conftest.py``): it runs against any bench with
a J1939 channel naming a ``dut_node``, and skips, saying why, on others.
"""

from __future__ import annotations

import itertools

import pytest
from j1939_support import MARGIN, PROBE_ADDRESS, TESTER_ADDRESS, WAIT, DutMessage, J1939Dut

from harness.canbus import rules
from harness.canbus.frame import Frame
from harness.canbus.saej1939.addressing import GLOBAL_ADDRESS, NULL_ADDRESS, build_id
from harness.canbus.saej1939.diagnostics import DiagnosticTool
from harness.canbus.saej1939.dm import DM1, Dtc
from harness.canbus.saej1939.request import ACKNOWLEDGEMENT, REQUEST, Acknowledgement, Control
from harness.canbus.saej1939.stack import J1939Node, name
from harness.canbus.saej1939.transport import (
    ABORT,
    BAM,
    BAM_GAP_MAX,
    BAM_GAP_MIN,
    CTS,
    END_OF_MSG_ACK,
    RTS,
    T2,
    TP_CM,
    TP_DT,
    TR,
    Reassembler,
)
from harness.sim.ecu import SimulatedEcu

pytestmark = pytest.mark.requires("can")

ADDRESS_CLAIMED = 60928
PROPRIETARY_A = 61184
"""PDU1, to one address: what a tester may send any node by RTS/CTS."""
UNSUPPORTED_PGN = 65534
"""A proprietary-B PGN no demo ECU sends: what a request the DUT cannot answer names."""
TIMEOUT_REASON = 3
CYCLE_SAMPLES = 5
"""Intervals measured per cycle-time check (at least)."""
MIN_WINDOW = 1.0
"""Seconds a cycle-time check listens at least: a fast message's few cycles would be a
window a loaded machine's scheduling swallows."""
GAP_SLACK = 0.001
"""Below the BAM's 50 ms minimum, what a timestamp's rounding may take off."""
LATE_ABORT = 1.0
"""Seconds an abort may come after T2: what matters is that it comes, and not before T2."""
SILENT_WINDOW = 1.0
"""Seconds the DUT must stay silent on the address it gave up."""
BAM_WINDOW = 3.0
"""Seconds to wait for the DUT to send something by BAM (DM1 comes every second)."""


def _tp(frames: list[Frame], source: int, control: int | None = None) -> list[Frame]:
    return [
        f
        for f in frames
        if f.source_address == source
        and (f.pgn == TP_CM if control is not None else f.pgn in (TP_CM, TP_DT))
        and (control is None or f.data[0] == control)
    ]


def _bus_time(frame: Frame) -> float:
    """When the frame was on the bus (the interface's stamp, else when the harness got it):
    gaps between a sender's frames, not the receiving thread's scheduling."""
    return frame.bus_timestamp or frame.timestamp


def _request(dut: J1939Dut, pgn: int, destination: int, source: int = TESTER_ADDRESS) -> Frame:
    return dut.channel.send_raw(
        build_id(REQUEST, source=source, destination=destination),
        pgn.to_bytes(3, "little"),
        is_extended_id=True,
    )


def _acknowledgements(frames: list[Frame], source: int, pgn: int) -> list[Acknowledgement]:
    found = []
    for frame in frames:
        if frame.pgn == ACKNOWLEDGEMENT and frame.source_address == source and frame.dlc >= 8:
            ack = Acknowledgement.parse(frame.data)
            if ack.pgn == pgn:
                found.append(ack)
    return found


def _dut_name(j1939: J1939Dut, tester: J1939Node) -> int:
    since = j1939.channel.mark()
    tester.request(ADDRESS_CLAIMED, j1939.address)
    claim = j1939.channel.wait_for(
        "AC", where={"source_address": j1939.address}, since=since, timeout=WAIT
    )
    return int.from_bytes(claim.data, "little")


# -- address claim (J1939-81) ------------------------------------------------------------


@pytest.mark.requirement(
    "J1939-001", clause="SAE J1939-81 4.4.3 request for address claimed; J1939-21 5.4.2 Tr 200 ms"
)
def test_address_claimed_answered_within_tr(j1939: J1939Dut, tester: J1939Node) -> None:
    since = j1939.channel.mark()
    asked = _request(j1939, ADDRESS_CLAIMED, GLOBAL_ADDRESS)
    claim = j1939.channel.wait_for(
        "AC", where={"source_address": j1939.address}, since=since, timeout=TR + MARGIN
    )
    assert claim.timestamp - asked.timestamp <= TR + MARGIN
    cannot = j1939.channel.frames("AC", where={"source_address": NULL_ADDRESS}, since=since)
    assert not cannot, f"a node cannot claim: {cannot[0].describe()}"


@pytest.mark.requirement("J1939-002", clause="SAE J1939-81 4.5.2 address claim at power-up")
def test_claims_its_address_at_power_up(j1939: J1939Dut, dut_sim: SimulatedEcu) -> None:
    since = j1939.channel.mark()
    dut_sim.power_off()
    dut_sim.power_on()
    claim = j1939.channel.wait_for(
        "AC", where={"source_address": j1939.address}, since=since, timeout=TR + MARGIN
    )
    lost = j1939.channel.frames("AC", where={"source_address": NULL_ADDRESS}, since=since)
    assert not lost, f"after power-up a node cannot claim: {lost[0].describe()}"
    assert claim.destination_address == GLOBAL_ADDRESS


@pytest.mark.requirement(
    "J1939-003", clause="SAE J1939-81 4.5.3 contention: the lower NAME keeps the address"
)
def test_defends_its_address_against_a_lower_priority_name(
    j1939: J1939Dut, tester: J1939Node
) -> None:
    dut_name = _dut_name(j1939, tester)
    contender = name(identity=0x1FFFFF, function=254, industry_group=7, ecu_instance=7)
    if int.from_bytes(contender.bytes, "little") <= dut_name:
        pytest.skip(f"not tested: the DUT's NAME 0x{dut_name:016X} has the lowest priority")
    since = j1939.channel.mark()
    with J1939Node(j1939.channel, contender, j1939.address):
        defended = j1939.channel.wait_for(
            "AC", where={"source_address": j1939.address}, since=since, timeout=TR + MARGIN
        )
        # the contender, having lost, says it cannot claim
        j1939.channel.wait_for(
            "AC", where={"source_address": NULL_ADDRESS}, since=since, timeout=WAIT, sent=True
        )
    assert int.from_bytes(defended.data, "little") == dut_name


@pytest.mark.requirement(
    "J1939-004", clause="SAE J1939-81 4.5.3/4.5.4 contention lost: cannot claim, silent"
)
def test_gives_up_its_address_to_a_higher_priority_name(
    j1939: J1939Dut, tester: J1939Node, dut_sim: SimulatedEcu
) -> None:
    dut_name = _dut_name(j1939, tester)
    contender = name(identity=0, function=0, manufacturer=0, industry_group=0)
    if int.from_bytes(contender.bytes, "little") >= dut_name:
        pytest.skip(f"not tested: the DUT's NAME 0x{dut_name:016X} has the highest priority")
    since = j1939.channel.mark()
    with J1939Node(j1939.channel, contender, j1939.address) as rival:
        assert rival.wait_claimed(WAIT) == j1939.address
        gave_up = j1939.channel.wait_for(
            "AC",
            where=lambda f: (
                int.from_bytes(f.data, "little") == dut_name and f.source_address != j1939.address
            ),
            since=since,
            timeout=TR + MARGIN,
        )
        after = j1939.channel.collect(None, duration=SILENT_WINDOW + TR, since=since)
    late = [
        f
        for f in after
        if f.is_rx
        and f.source_address == j1939.address
        and f.timestamp > gave_up.timestamp + TR
        and int.from_bytes(f.data, "little") != int.from_bytes(contender.bytes, "little")
    ]
    assert not late, f"the DUT still sends from 0x{j1939.address:02X}: {late[0].describe()}"
    if gave_up.source_address == NULL_ADDRESS:
        return  # cannot claim: not arbitrary-address capable
    assert gave_up.source_address < NULL_ADDRESS  # claimed another address


# -- requests (J1939-21 5.4) ---------------------------------------------------------------


@pytest.mark.requirement(
    "J1939-005", clause="SAE J1939-21 5.4.2 request to a specific address, answered within Tr"
)
def test_answers_a_request_for_each_pgn_it_sends(j1939: J1939Dut, tester: J1939Node) -> None:
    problems = []
    for message in j1939.messages:
        since = j1939.channel.mark()
        asked = _request(j1939, message.pgn, j1939.address)

        def answers(frame: Frame, pgn: int = message.pgn) -> bool:
            if frame.source_address != j1939.address:
                return False
            if frame.pgn == TP_CM:  # a long answer: its announcement names the PGN
                return frame.data[0] in (RTS, BAM) and frame.data[5:8] == pgn.to_bytes(3, "little")
            return frame.pgn in (pgn, ACKNOWLEDGEMENT)

        try:
            answer = j1939.channel.wait_for(None, where=answers, since=since, timeout=TR + MARGIN)
        except AssertionError:
            problems.append(f"{message.name} (PGN {message.pgn}): no answer in {TR + MARGIN:g} s")
            continue
        if answer.pgn == ACKNOWLEDGEMENT:
            problems.append(f"{message.name}: {Acknowledgement.parse(answer.data).meaning}")
        elif answer.timestamp - asked.timestamp > TR + MARGIN:
            problems.append(f"{message.name}: {answer.timestamp - asked.timestamp:.3f} s")
    assert not problems, "requests not answered:\n  " + "\n  ".join(problems)


@pytest.mark.requirement(
    "J1939-006", clause="SAE J1939-21 5.4.4 NACK to a specific request for an unsupported PGN"
)
def test_nacks_a_request_for_an_unsupported_pgn(j1939: J1939Dut, tester: J1939Node) -> None:
    since = j1939.channel.mark()
    asked = _request(j1939, UNSUPPORTED_PGN, j1939.address)
    answer = j1939.channel.wait_for(
        None,
        where=lambda f: f.pgn == ACKNOWLEDGEMENT and f.source_address == j1939.address,
        since=since,
        timeout=TR + MARGIN,
    )
    ack = Acknowledgement.parse(answer.data)
    assert (ack.control, ack.pgn, ack.address) == (Control.NACK, UNSUPPORTED_PGN, TESTER_ADDRESS)
    assert answer.timestamp - asked.timestamp <= TR + MARGIN


@pytest.mark.requirement("J1939-007", clause="SAE J1939-21 5.4.4 no NACK to a global request")
def test_no_nack_to_a_global_request(j1939: J1939Dut, tester: J1939Node) -> None:
    since = j1939.channel.mark()
    _request(j1939, UNSUPPORTED_PGN, GLOBAL_ADDRESS)
    # every node answers a request for its address claim: the barrier for the first request
    _request(j1939, ADDRESS_CLAIMED, j1939.address)
    j1939.channel.wait_for(
        "AC", where={"source_address": j1939.address}, since=since, timeout=TR + MARGIN
    )
    acks = _acknowledgements(j1939.channel.frames(since=since), j1939.address, UNSUPPORTED_PGN)
    assert not acks, f"the DUT acknowledged a global request: {acks[0]}"


# -- transport protocol (J1939-21 5.10) ----------------------------------------------------


@pytest.mark.requirement(
    "J1939-008", clause="SAE J1939-21 5.10.3.5 BAM: data packets 50 to 200 ms apart"
)
def test_bam_packets_are_50_to_200_ms_apart(j1939: J1939Dut) -> None:
    since = j1939.channel.mark()
    try:
        announce = j1939.channel.wait_for(
            None,
            where=lambda f: (
                f.pgn == TP_CM
                and f.source_address == j1939.address
                and f.destination_address == GLOBAL_ADDRESS
                and f.data[0] == BAM
            ),
            since=since,
            timeout=BAM_WINDOW,
        )
    except AssertionError:
        pytest.skip(f"not tested: the DUT sent nothing by BAM within {BAM_WINDOW:g} s")
    packets = announce.data[3]
    frames = j1939.channel.collect(
        None,
        where=lambda f: f.pgn == TP_DT and f.source_address == j1939.address,
        duration=packets * (BAM_GAP_MAX + MARGIN) + MARGIN,
        since=since,
    )
    data = [f for f in frames if f.timestamp >= announce.timestamp][:packets]
    assert [f.data[0] for f in data] == list(range(1, packets + 1)), "sequence numbers"
    stamps = [_bus_time(f) for f in [announce, *data]]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    wrong = [g for g in gaps if not BAM_GAP_MIN - GAP_SLACK <= g <= BAM_GAP_MAX + MARGIN]
    assert not wrong, (
        f"BAM of PGN {int.from_bytes(announce.data[5:8], 'little')}: gaps "
        + ", ".join(f"{g * 1000:.1f}" for g in gaps)
        + " ms (50 to 200 ms allowed)"
    )
    reassembler = Reassembler()
    done = [reassembler.feed(f.arbitration_id, f.data, f.timestamp) for f in [announce, *data]]
    assert done[-1] is not None, "the BAM did not reassemble"
    assert len(done[-1].data) == int.from_bytes(announce.data[1:3], "little")


@pytest.mark.requirement(
    "J1939-009", clause="SAE J1939-21 5.10.2 RTS/CTS: CTS and EndOfMsgAck within Tr"
)
def test_receives_by_rts_cts(j1939: J1939Dut, tester: J1939Node) -> None:
    payload = bytes(range(100))
    since = j1939.channel.mark()
    tester.send(PROPRIETARY_A, payload, destination=j1939.address)
    answers = j1939.channel.collect(
        None,
        where=lambda f: (
            f.pgn == TP_CM
            and f.source_address == j1939.address
            and f.destination_address == TESTER_ADDRESS
        ),
        duration=WAIT / 2,
        since=since,
    )
    assert answers, "the DUT answered the RTS with nothing"
    first = answers[0]
    assert first.data[0] in (CTS, ABORT), f"the DUT answered the RTS with {first.describe()}"
    assert first.timestamp - since.timestamp <= TR + MARGIN
    if first.data[0] == ABORT:
        pytest.skip(
            f"not tested: the DUT refused PGN {PROPRIETARY_A} (abort reason {first.data[1]})"
        )
    acks = [f for f in answers if f.data[0] == END_OF_MSG_ACK]
    assert acks, "no EndOfMsgAck from the DUT"
    assert int.from_bytes(acks[0].data[1:3], "little") == len(payload)


@pytest.mark.requirement(
    "J1939-010", clause="SAE J1939-21 5.10.2.4 T2: abort when no data follows a CTS"
)
def test_aborts_a_connection_whose_data_never_comes(j1939: J1939Dut) -> None:
    since = j1939.channel.mark()
    rts = bytes((RTS, 20, 0, 3, 0xFF)) + PROPRIETARY_A.to_bytes(3, "little")
    j1939.channel.send_raw(
        build_id(TP_CM, source=PROBE_ADDRESS, destination=j1939.address, priority=7),
        rts,
        is_extended_id=True,
    )
    frames = j1939.channel.collect(
        None,
        where=lambda f: (
            f.pgn == TP_CM
            and f.source_address == j1939.address
            and f.destination_address == PROBE_ADDRESS
        ),
        duration=T2 + LATE_ABORT + TR,
        since=since,
    )
    controls = [f.data[0] for f in frames]
    assert controls[:1] == [CTS], f"the DUT answered the RTS with {controls or 'nothing'}"
    aborts = [f for f in frames if f.data[0] == ABORT]
    assert aborts, f"no abort within {T2 + LATE_ABORT:g} s of the CTS"
    waited = _bus_time(aborts[0]) - _bus_time(frames[0])
    assert T2 - MARGIN <= waited <= T2 + LATE_ABORT, (
        f"abort {waited:.3f} s after the CTS (T2 = {T2} s)"
    )
    assert aborts[0].data[1] == TIMEOUT_REASON


# -- diagnostic messages (J1939-73) --------------------------------------------------------


def _dm1_starts(frames: list[Frame], address: int) -> list[float]:
    """When each DM1 of ``address`` began: its single frame, or its BAM announcement."""
    stamps = []
    for frame in frames:
        if frame.source_address != address:
            continue
        if frame.pgn == DM1 or (
            frame.pgn == TP_CM
            and frame.data[0] == BAM
            and frame.data[5:8] == DM1.to_bytes(3, "little")
        ):
            stamps.append(_bus_time(frame))
    return stamps


@pytest.mark.requirement("J1939-011", clause="SAE J1939-73 5.7.1 DM1 once a second")
def test_dm1_every_second(j1939: J1939Dut) -> None:
    frames = j1939.channel.collect(None, duration=CYCLE_SAMPLES + 1.5)
    stamps = _dm1_starts([f for f in frames if f.is_rx], j1939.address)
    assert len(stamps) >= 2, (
        f"{len(stamps)} DM1 from 0x{j1939.address:02X} in {CYCLE_SAMPLES + 1.5:g} s"
    )
    verdict = rules.check_cycle(rules.intervals(stamps), 1.0)
    assert verdict.passed, f"DM1 every {verdict.mean:.3f} s on average (1 s +-10 %)"


@pytest.mark.requirement("J1939-012", clause="SAE J1939-73 5.7.1 DM1 content: lamps, SPN/FMI/OC")
def test_dm1_content(
    j1939: J1939Dut, tester: J1939Node, bench_sim_dm1: tuple[str, tuple[Dtc, ...]] | None
) -> None:
    dm = DiagnosticTool(tester, timeout=WAIT).dm1(j1939.address)
    lamps = (dm.malfunction_lamp, dm.red_stop_lamp, dm.amber_warning_lamp, dm.protect_lamp)
    for dtc in dm.dtcs:
        assert 0 < dtc.spn < 1 << 19, f"SPN out of range: {dtc}"
        assert dtc.fmi <= 31, f"FMI out of range: {dtc}"
        assert dtc.occurrences <= 126, f"occurrence count out of range: {dtc}"
    if not dm.dtcs:
        assert set(lamps) <= {0, 3}, f"lamps {lamps} lit with no active DTC"
        return
    assert 1 in lamps, (
        f"{len(dm.dtcs)} active DTC(s) ({', '.join(map(str, dm.dtcs))}), every lamp off"
    )
    if bench_sim_dm1 is not None:
        lamp, dtcs = bench_sim_dm1
        assert dm.dtcs == dtcs, "DTCs other than the ECU file's"
        lit = {"mil": lamps[0], "red": lamps[1], "amber": lamps[2], "protect": lamps[3]}
        assert lit[lamp] == 1, f"the {lamp} lamp is off: lamps {lamps}"


@pytest.mark.requirement(
    "J1939-013", clause="SAE J1939-73 5.7.2/5.7.3 DM2 read, DM3 clears previously active DTCs"
)
def test_dm3_clears_the_previously_active_dtcs(
    j1939: J1939Dut, tester: J1939Node, dut_sim: SimulatedEcu
) -> None:
    tool = DiagnosticTool(tester, timeout=WAIT)
    before = tool.dm2(j1939.address)
    assert tool.dm3(j1939.address).positive
    after = tool.dm2(j1939.address)
    assert after.dtcs == (), (
        f"DM2 after DM3 still lists {', '.join(map(str, after.dtcs))} (was {len(before.dtcs)})"
    )


@pytest.mark.requirement("J1939-014", clause="SAE J1939-73 5.7.11 DM11 clears active DTCs")
def test_dm11_clears_the_active_dtcs(
    j1939: J1939Dut, tester: J1939Node, dut_sim: SimulatedEcu
) -> None:
    tool = DiagnosticTool(tester, timeout=WAIT)
    assert tool.dm11(j1939.address).positive
    after = tool.dm1(j1939.address)
    assert after.dtcs == (), f"DM1 after DM11 still lists {', '.join(map(str, after.dtcs))}"


# -- cycle times by PGN ---------------------------------------------------------------------


@pytest.mark.requirement(
    "J1939-015",
    clause="SAE J1939-71 transmission rate of the PGN (database GenMsgCycleTime, +-10 %)",
)
def test_cycle_time_by_pgn(j1939: J1939Dut, cyclic: DutMessage) -> None:
    cycle = cyclic.cycle_time
    assert cycle is not None
    frames = j1939.channel.collect(
        cyclic.name,
        where={"source_address": j1939.address},
        duration=max((CYCLE_SAMPLES + 1.5) * cycle, MIN_WINDOW),
    )
    stamps = [_bus_time(f) for f in frames]
    assert len(stamps) >= 2, f"{len(stamps)} frame(s) of {cyclic.name} from 0x{j1939.address:02X}"
    verdict = rules.check_cycle(rules.intervals(stamps), cycle)
    assert verdict.passed, (
        f"{cyclic.name} (PGN {cyclic.pgn}) from 0x{j1939.address:02X} every "
        f"{verdict.mean * 1000:.1f} ms on average, declared {cycle * 1000:g} ms (+-10 %)"
    )

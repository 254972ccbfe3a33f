"""``harness.trace.analysis``: each check's verdict over traces written with python-can's
own BLF writer, faults put in by hand; "not tested"/"not verified" where nothing is declared."""

from __future__ import annotations

from pathlib import Path

import can
import pytest

from harness.canbus.database import SignalDatabase
from harness.canbus.protection import declared, protect
from harness.trace.analysis import FAILED, NOT_TESTED, NOT_VERIFIED, PASSED, analyze_trace

ROOT = Path(__file__).resolve().parents[2]
DEMO = SignalDatabase.load(ROOT / "dbc" / "demo_vehicle.dbc")
T0 = 1_700_000_000.0


def engine(t: float, counter: int, *, throttle: float = 20.0, corrupt: bool = False) -> can.Message:
    definition = DEMO.cantools.get_message_by_name("ECM_EngineData")
    values = {
        "EngineSpeed": 800.0,
        "CoolantTemp": 90,
        "ThrottlePosition": throttle,
        "EngineRunning": 1,
        "ECM_Counter": counter % 16,
        "ECM_Checksum": 0,
    }
    data = bytearray(definition.encode(values, strict=False))
    protect(data, definition, declared(definition), counter)
    if corrupt:
        data[7] ^= 0x01
    return can.Message(
        timestamp=t, arbitration_id=0x100, is_extended_id=False, data=bytes(data), channel=0
    )


def write(path: Path, messages: list[can.Message]) -> Path:
    with can.BLFWriter(str(path)) as writer:
        for message in sorted(messages, key=lambda m: m.timestamp):
            writer.on_message_received(message)
    return path


def verdicts(path: Path, **kwargs: object) -> dict[tuple[str, str], str]:
    result = analyze_trace(path, [DEMO], **kwargs)  # type: ignore[arg-type]
    return {(f.check, f.subject): f.verdict for f in result.findings}


def test_a_clean_cyclic_message_passes_every_declared_check(tmp_path: Path) -> None:
    trace = write(tmp_path / "ok.blf", [engine(T0 + i * 0.010, i) for i in range(200)])
    found = verdicts(trace, bitrate=500_000)
    for check in ("cycle_time", "gaps", "length", "range", "counter", "checksum"):
        assert found[(check, "ECM_EngineData")] == PASSED, check
    for check in ("undeclared_ids", "error_frames", "bus_load"):
        assert found[(check, "channel 0")] == PASSED, check


def test_a_slow_cycle_fails_naming_the_mean(tmp_path: Path) -> None:
    trace = write(tmp_path / "slow.blf", [engine(T0 + i * 0.015, i) for i in range(50)])
    result = analyze_trace(trace, [DEMO])
    (finding,) = [f for f in result.findings if f.check == "cycle_time"]
    assert finding.verdict == FAILED
    assert result.failed
    assert "mean 15.000 ms, expected 10 ms" in finding.figure
    assert finding.requirement == "CAN-001"


def test_a_gap_over_two_periods_fails_and_says_where(tmp_path: Path) -> None:
    stamps = [T0 + i * 0.010 for i in range(100) if not 40 <= i < 45]
    trace = write(tmp_path / "gap.blf", [engine(t, i) for i, t in enumerate(stamps)])
    result = analyze_trace(trace, [DEMO])
    (gaps,) = [f for f in result.findings if f.check == "gaps"]
    assert gaps.verdict == FAILED
    assert "1 gap(s) over 20 ms" in gaps.figure
    assert "longest 60.000 ms from 0.390000 s" in gaps.figure


def test_counter_skips_freezes_and_bad_checksums_are_counted(tmp_path: Path) -> None:
    counters = [0, 1, 2, 2, 3, 5, 6, 7, 8, 9]  # a freeze at 3, a skip at 5
    frames = [engine(T0 + i * 0.01, c, corrupt=i == 7) for i, c in enumerate(counters)]
    result = analyze_trace(write(tmp_path / "c.blf", frames), [DEMO])
    by_check = {f.check: f for f in result.findings}
    assert by_check["counter"].verdict == FAILED
    assert "1 skip(s), 1 freeze(s) in 9 steps of ECM_Counter" in by_check["counter"].figure
    assert by_check["checksum"].verdict == FAILED
    assert by_check["checksum"].figure.startswith("1 of 10 frame(s) with a wrong crc8_j1850")


def test_values_outside_the_dbc_range_and_wrong_lengths_fail(tmp_path: Path) -> None:
    frames = [engine(T0 + i * 0.01, i, throttle=102.0 if i == 3 else 20.0) for i in range(10)]
    short = can.Message(
        timestamp=T0 + 0.105, arbitration_id=0x320, is_extended_id=False, data=bytes(4)
    )
    result = analyze_trace(write(tmp_path / "r.blf", [*frames, short]), [DEMO])
    by_key = {(f.check, f.subject): f for f in result.findings}
    assert by_key[("range", "ECM_EngineData")].verdict == FAILED
    assert "ThrottlePosition 1" in by_key[("range", "ECM_EngineData")].figure
    assert by_key[("length", "BCM_Lights")].verdict == FAILED
    assert by_key[("length", "BCM_Lights")].examples == ("4 bytes at 0.105000 s",)


def test_undeclared_ids_and_error_frames_fail_per_channel(tmp_path: Path) -> None:
    frames = [
        engine(T0, 0),
        can.Message(
            timestamp=T0 + 0.01, arbitration_id=0x7AB, is_extended_id=False, data=b"\x00", channel=0
        ),
        can.Message(timestamp=T0 + 0.02, is_error_frame=True, channel=0),
    ]
    found = analyze_trace(write(tmp_path / "u.blf", frames), [DEMO]).findings
    by_check = {f.check: f for f in found if f.subject == "channel 0"}
    assert by_check["undeclared_ids"].verdict == FAILED
    assert "0x7AB (1)" in by_check["undeclared_ids"].figure
    assert by_check["error_frames"].verdict == FAILED


def test_what_is_not_declared_is_not_tested_never_passed(tmp_path: Path) -> None:
    request = [
        can.Message(timestamp=T0 + i, arbitration_id=0x300, is_extended_id=False, data=bytes(8))
        for i in range(3)
    ]
    found = verdicts(write(tmp_path / "e.blf", request))
    assert found[("cycle_time", "BCM_Request")] == NOT_TESTED  # event-triggered: no cycle
    assert found[("gaps", "BCM_Request")] == NOT_TESTED
    assert found[("counter", "BCM_Request")] == NOT_VERIFIED
    assert found[("checksum", "BCM_Request")] == NOT_VERIFIED
    assert found[("bus_load", "channel 0")] == NOT_TESTED  # no bitrate given


def test_declared_periods_override_the_dbc_and_messages_narrow(tmp_path: Path) -> None:
    trace = write(tmp_path / "p.blf", [engine(T0 + i * 0.015, i) for i in range(50)])
    assert verdicts(trace, periods={"ECM_EngineData": 0.015})[("cycle_time", "ECM_EngineData")] == (
        PASSED
    )
    assert not any(s == "ECM_EngineData" for _, s in verdicts(trace, messages=["BCM_Lights"]))


@pytest.mark.parametrize("suffix", ["asc", "log"])
def test_text_traces_give_the_same_verdicts(tmp_path: Path, suffix: str) -> None:
    frames = [engine(T0 + i * 0.015, i) for i in range(20)]
    blf = write(tmp_path / "t.blf", frames)
    other = tmp_path / f"t.{suffix}"
    with can.Logger(str(other)) as writer:
        for frame in frames:
            writer.on_message_received(frame)

    def per_message(found: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
        return {key: v for key, v in found.items() if not key[1].startswith("channel ")}

    assert per_message(verdicts(other)) == per_message(verdicts(blf))
    assert FAILED in per_message(verdicts(other)).values()

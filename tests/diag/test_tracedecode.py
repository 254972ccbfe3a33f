"""Reading a diagnostic conversation back out of a recording (``harness decode --uds``)."""

from __future__ import annotations

import json
from pathlib import Path

import can
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import main
from harness.diag.profile import load_profile
from harness.diag.tracedecode import (
    conversation,
    conversation_lines,
    describe_request,
    describe_response,
    parse_uds_spec,
    timed_conversation,
)

ROOT = Path(__file__).resolve().parents[2]
PROFILE = load_profile(ROOT / "fixtures" / "dut" / "bcm.toml")

RECORDING = [  # (seconds, id, data): a tester and the BCM, as a bus log shows them
    (0.000, 0x7E0, "03 22 f1 90 cc cc cc cc"),
    (0.002, 0x7E8, "10 14 62 f1 90 57 44 45"),  # VIN: first frame
    (0.003, 0x7E0, "30 00 00 cc cc cc cc cc"),  # flow control from the tester
    (0.004, 0x7E8, "21 4d 4f 30 30 30 30 30"),
    (0.005, 0x7E8, "22 30 30 30 30 30 30 31"),
    (0.010, 0x7DF, "02 3e 00 cc cc cc cc cc"),  # functional TesterPresent
    (0.011, 0x7E8, "02 7e 00 cc cc cc cc cc"),
    (0.020, 0x7E0, "02 27 01 cc cc cc cc cc"),
    (0.021, 0x7E8, "06 67 01 11 22 33 44 cc"),
    (0.030, 0x7E0, "06 27 02 de ad be ef cc"),  # the key: must never be printed
    (0.031, 0x7E8, "03 7f 27 35 cc cc cc cc"),
    (0.040, 0x7E0, "04 31 01 02 01 cc cc cc"),
    (0.041, 0x7E8, "03 7f 31 78 cc cc cc cc"),
    (0.340, 0x7E8, "05 71 01 02 01 00 cc cc"),
    (0.350, 0x123, "01 02 03 04 05 06 07 08"),  # other traffic is ignored
    (0.400, 0x7E0, "10 1b 2e 02 00 01 02 03"),  # a write whose second CF is numbered wrong
    (0.401, 0x7E8, "30 00 00 cc cc cc cc cc"),
    (0.402, 0x7E0, "23 04 05 06 07 08 09 0a"),
    (0.500, 0x7E0, "03 19 02 ff cc cc cc cc"),
    (0.501, 0x7E8, "07 59 02 ff 90 01 13 2f"),
    (0.600, 0x7E8, "0b 59 02 ff 90 01 13 2f"),  # a single frame claiming 11 bytes
]


def messages(rows: list[tuple[float, int, str]] = RECORDING) -> list[can.Message]:
    return [
        can.Message(
            timestamp=100 + t, arbitration_id=i, data=bytes.fromhex(d), is_extended_id=False
        )
        for t, i, d in rows
    ]


def test_the_conversation_with_names_and_redaction() -> None:
    lines = list(conversation_lines(messages(), "7E0:7E8:7DF", profile=PROFILE))
    assert lines[:10] == [
        "    0.000000  ->  ReadDataByIdentifier VIN (0xF190)",
        "    0.005000  <-  ReadDataByIdentifier positive: VIN (0xF190) = 'WDEMO000000000001'",
        "    0.010000  =>  TesterPresent",
        "    0.011000  <-  TesterPresent positive: 00",
        "    0.020000  ->  SecurityAccess requestSeed level 0x01",
        "    0.021000  <-  SecurityAccess positive: seed 11 22 33 44",
        "    0.030000  ->  SecurityAccess sendKey level 0x01: key 4 bytes (redacted)",
        "    0.031000  <-  SecurityAccess negative response 0x35 invalidKey",
        "    0.040000  ->  RoutineControl start SelfTest (0x0201)",
        "    0.041000  <-  RoutineControl responsePending (0x78)",
    ]
    assert lines[10] == "    0.340000  <-  RoutineControl positive: status 00"
    assert lines[11].startswith("    0.402000  !!  ISO-TP (request): WrongSequenceNumberError")
    assert lines[12:14] == [
        "    0.500000  ->  ReadDTCInformation reportDTCByStatusMask mask 0xFF",
        "    0.501000  <-  ReadDTCInformation positive: B1001-13 DriverDoorMotorOpen status 0x2F",
    ]
    assert lines[14].startswith("    0.600000  !!  ISO-TP (response): InvalidCanDataError")
    assert len(lines) == 15
    text = "\n".join(lines)
    assert "de ad" not in text
    assert "dead" not in text


def test_without_a_profile_numbers_stand_in_for_names() -> None:
    found = list(conversation(messages(RECORDING[:5]), 0x7E0, 0x7E8))
    assert [m.kind for m in found] == ["request", "response"]
    value = "57 44 45 4d 4f 30 30 30 30 30 30 30 30 30 30 30 ... (17 bytes)"
    assert found[1].text == f"ReadDataByIdentifier positive: 0xF190 = {value}"
    assert found[1].payload == bytes.fromhex("62 f1 90") + b"WDEMO000000000001"


def test_29_bit_identifiers() -> None:
    rows = [(0.0, 0x18DA10F1, "02 10 03"), (0.001, 0x18DAF110, "06 50 03 00 32 00 c8")]
    msgs = [
        can.Message(timestamp=t, arbitration_id=i, data=bytes.fromhex(d), is_extended_id=True)
        for t, i, d in rows
    ]
    texts = [m.text for m in conversation(msgs, 0x18DA10F1, 0x18DAF110)]
    assert texts == [
        "DiagnosticSessionControl extended",
        "DiagnosticSessionControl positive: extended session, P2 50 ms, P2* 2000 ms",
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("7E0:7E8", (0x7E0, 0x7E8, None)),
        ("0x18DA10F1:18DAF110:18DB33F1", (0x18DA10F1, 0x18DAF110, 0x18DB33F1)),
    ],
)
def test_uds_specs(spec: str, expected: tuple[int, int, int | None]) -> None:
    assert parse_uds_spec(spec) == expected


@pytest.mark.parametrize("spec", ["7E0", "7E0:7E0", "7E0:zz", "1:2:3:4", "7E0:20000000"])
def test_bad_uds_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="CAN ID"):
        parse_uds_spec(spec)


@given(st.binary(min_size=1, max_size=40))
def test_any_payload_can_be_described(payload: bytes) -> None:
    assert isinstance(describe_request(payload, PROFILE), str)
    assert isinstance(describe_response(payload, PROFILE), str)
    if payload[0] == 0x27 and len(payload) > 2 and payload[1] % 2 == 0:
        assert payload[2:].hex(" ") not in describe_request(payload, PROFILE)


def test_harness_decode_uds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "diag.asc"
    with can.ASCWriter(trace) as writer:
        for msg in messages():
            writer.on_message_received(msg)
    profile = ROOT / "fixtures" / "dut" / "bcm.toml"
    args = ["decode", str(trace), "--uds", "7E0:7E8:7DF", "--profile", str(profile), "-n", "2"]
    main(args)
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "    0.000000  ->  ReadDataByIdentifier VIN (0xF190)",
        "    0.005000  <-  ReadDataByIdentifier positive: VIN (0xF190) = 'WDEMO000000000001'",
    ]
    with pytest.raises(SystemExit) as caught:
        main(["decode", str(trace), "--uds", "7E0"])
    assert caught.value.code == 2
    assert "--uds" in capsys.readouterr().err


def test_times_count_from_the_first_frame_of_the_trace_as_the_frame_view() -> None:
    rows = [(0.0, 0x123, "01"), *RECORDING[:2]]  # other traffic first
    lines = list(conversation_lines(messages(rows), "7E0:7E8", profile=PROFILE))
    assert lines[0] == "    0.000000  ->  ReadDataByIdentifier VIN (0xF190)"
    rows = [(0.0, 0x123, "01"), *[(t + 0.5, i, d) for t, i, d in RECORDING[:1]]]
    assert next(iter(conversation_lines(messages(rows), "7E0:7E8"))).startswith("    0.500000  ->")


def test_answers_from_other_ecus_are_shown_not_dropped() -> None:
    rows = [
        (0.010, 0x7DF, "02 3e 00 cc cc cc cc cc"),
        (0.011, 0x7E8, "02 7e 00 cc cc cc cc cc"),
        (0.012, 0x7E9, "02 7e 00 cc cc cc cc cc"),  # a second ECU answers the functional request
        (0.013, 0x7E9, "03 7f 3e 11 cc cc cc cc"),
    ]
    lines = list(conversation_lines(messages(rows), "7E0:7E8:7DF", absolute=True))
    assert lines[2:] == [
        "  100.012000  <-  [ECU 0x7E9] TesterPresent positive: 00",
        "  100.013000  <-  [ECU 0x7E9] TesterPresent negative response 0x11 serviceNotSupported",
    ]


def test_a_json_record_never_holds_the_key() -> None:
    key_request = [
        m for _, m in timed_conversation(messages(), "7E0:7E8") if m.payload[:1] == b"\x27"
    ]
    record = key_request[1].record()
    assert record["data"] == "2702"
    assert "deadbeef" not in json.dumps(record)


def test_harness_decode_uds_writes_jsonl_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "diag.asc"
    with can.ASCWriter(trace) as writer:
        for msg in messages([*RECORDING[:5], (0.006, 0x7E9, "02 7e 00 cc cc cc cc cc")]):
            writer.on_message_received(msg)
    main(["decode", str(trace), "--uds", "7E0:7E8", "--format", "jsonl"])
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [(r["kind"], r["id"], r["other_ecu"]) for r in records] == [
        ("request", 0x7E0, False),
        ("response", 0x7E8, False),
        ("response", 0x7E9, True),
    ]
    assert records[0]["data"] == "22f190"
    assert captured.err.strip() == "3 UDS messages, 1 from other ECUs"

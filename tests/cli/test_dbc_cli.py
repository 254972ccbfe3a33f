"""``harness dbc show``: message and signal tables, and one-line errors for bad files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from clitools import assert_one_error_line, run_main, run_script

from harness.cli import cli, main
from harness.exceptions import DatabaseError, UnknownNameError

ROOT = Path(__file__).resolve().parents[2]
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"
LENIENT_ONLY = {"opendbc/vw_mqb.dbc", "cantools/bad_message_length.dbc"}
"""Corpus files that fail strict loading but load with --no-strict."""

DEMO_MESSAGES = [
    "ECM_EngineData",
    "ABS_WheelSpeeds",
    "BCM_Request",
    "BCM_DoorStatus",
    "BCM_Lights",
    "TCU_Status",
    "TCU_Telemetry",
    "GW_VehicleSnapshot",
    "Tester_FunctionalReq",
    "BCM_DiagReq",
    "BCM_DiagResp",
]

DBC_HEADER = 'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: Ecu\n\n'
OVERLAPPING_DBC = (
    DBC_HEADER + "BO_ 256 Overlap: 8 Ecu\n"
    ' SG_ Wide : 0|16@1+ (1,0) [0|65535] "" Ecu\n'
    ' SG_ Narrow : 8|8@1+ (1,0) [0|255] "" Ecu\n'
)
UNUSED_VALUE_TABLE_DBC = (
    DBC_HEADER + 'BO_ 256 Msg: 8 Ecu\n SG_ Sig : 0|8@1+ (1,0) [0|255] "" Ecu\n\n'
    'VAL_ 256 Missing 0 "OFF" 1 "ON" ;\n'
)


def row(output: str, name: str) -> str:
    """The table row that starts with ``name``."""
    for line in output.splitlines():
        if re.match(rf"\W*{re.escape(name)}\b", line):
            return line
    raise AssertionError(f"no row for {name!r} in:\n{output}")


# --- the message list ------------------------------------------------------------------


def test_show_lists_every_message() -> None:
    result = CliRunner().invoke(cli, ["dbc", "show", str(DEMO_DBC)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for name in DEMO_MESSAGES:
        assert name in out
    assert "demo_vehicle.dbc: 11 messages" in out
    assert re.search(r"Nodes: ECM, ABS, BCM, GW, TCU, Tester", out)


def test_show_message_columns() -> None:
    out = CliRunner().invoke(cli, ["dbc", "show", str(DEMO_DBC)]).stdout
    ecm = row(out, "ECM_EngineData")
    assert "0x100" in ecm
    assert "10 ms" in ecm
    assert re.search(r"\bCAN\b(?! FD)", ecm)
    assert re.search(r"\b6\b\W*$", ecm)  # signal count, last column

    telemetry = row(out, "TCU_Telemetry")
    assert "0x18FF1021" in telemetry
    assert "ext" in telemetry
    assert "500 ms" in telemetry

    snapshot = row(out, "GW_VehicleSnapshot")
    assert "CAN FD" in snapshot
    assert re.search(r"\b32\b", snapshot)
    assert "ext" not in snapshot

    request = row(out, "BCM_Request")
    assert "event" in request
    assert "TCU, Tester" in request
    assert "ext" not in row(out, "ABS_WheelSpeeds")


def test_show_is_plain_text_when_piped() -> None:
    """No colour codes, and no cell cut short, when stdout is not a terminal."""
    result = CliRunner().invoke(cli, ["dbc", "show", str(DEMO_DBC), "-m", "TCU_Status"])
    assert "\x1b[" not in result.stdout
    assert "…" not in result.stdout
    assert "0=NOT_REGISTERED, 1=HOME, 2=SEARCHING, 3=DENIED, ... (+1 more)" in result.stdout


# --- one message's signals -------------------------------------------------------------


def test_show_message_signals() -> None:
    result = CliRunner().invoke(cli, ["dbc", "show", str(DEMO_DBC), "--message", "ECM_EngineData"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ECM_EngineData  0x100  CAN  8 bytes  cycle 10 ms" in out
    assert "SAE J1850 CRC8" in out  # the message comment
    for name in ["EngineSpeed", "CoolantTemp", "ThrottlePosition", "EngineRunning"]:
        assert name in out
    coolant = row(out, "CoolantTemp").split()
    cells = [cell for cell in coolant if cell not in {"│", "┃"}]
    assert cells[1:11] == ["16", "8", "little", "unsigned", "1", "-40", "-40", "215", "degC", "20"]
    assert "16383.75" in row(out, "EngineSpeed")
    assert "0=STOPPED, 1=RUNNING" in row(out, "EngineRunning")
    assert "Mux" not in out  # not a multiplexed message


def test_show_multiplexed_message() -> None:
    out = CliRunner().invoke(cli, ["dbc", "show", str(DEMO_DBC), "-m", "TCU_Status"]).stdout
    assert "Mux" in out
    assert "selector" in row(out, "InfoType")
    latitude = row(out, "Latitude")
    assert "InfoType=1" in latitude
    assert "signed" in latitude
    assert "1e-06" in latitude
    assert "-90" in latitude
    assert "InfoType=2" in row(out, "Longitude")
    quality = row(out, "SignalQuality")
    assert "UNKNOWN" in quality
    assert "InfoType=0" in quality


def test_show_big_endian_fd_signals() -> None:
    out = CliRunner().invoke(cli, ["dbc", "show", str(DEMO_DBC), "-m", "GW_VehicleSnapshot"]).stdout
    assert "CAN FD  32 bytes" in out
    ambient = row(out, "AmbientTemp")
    assert "big" in ambient
    assert "signed" in ambient
    assert "0=P, 1=R, 2=N, 3=D" in row(out, "GearPosition")


def test_unknown_message_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "dbc", "show", str(DEMO_DBC), "-m", "BCM_DorStatus")
    assert_one_error_line(code, err, "demo_vehicle.dbc", "'BCM_DorStatus'", "'BCM_DoorStatus'")
    assert out == ""


def test_unknown_message_raises_through_the_group() -> None:
    """The group raises; only main() turns errors into lines (so --debug can show them)."""
    result = CliRunner().invoke(cli, ["dbc", "show", str(DEMO_DBC), "-m", "Nope"])
    assert isinstance(result.exception, UnknownNameError)


# --- files that do not load ------------------------------------------------------------


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "absent.dbc"
    code, out, err = run_main(capsys, "dbc", "show", str(path))
    line = assert_one_error_line(code, err, str(path), "no such file")
    assert "--no-strict" not in line
    assert out == ""


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError):
        main(["--debug", "dbc", "show", str(tmp_path / "absent.dbc")])


def test_strict_failure_hints_no_strict(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "overlap.dbc"
    path.write_text(OVERLAPPING_DBC)
    code, _, err = run_main(capsys, "dbc", "show", str(path))
    assert_one_error_line(code, err, str(path), "overlapping", "--no-strict")

    code, out, err = run_main(capsys, "dbc", "show", str(path), "--no-strict")
    assert code == 0, err
    assert "Overlap" in out
    code, out, err = run_main(capsys, "dbc", "show", str(path), "--no-strict", "-m", "Overlap")
    assert code == 0, err
    assert "Narrow" in out


def test_no_hint_when_lenient_loading_fails_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "unused_val.dbc"
    path.write_text(UNUSED_VALUE_TABLE_DBC)
    code, _, err = run_main(capsys, "dbc", "show", str(path))
    line = assert_one_error_line(code, err, str(path))
    assert "--no-strict" not in line


# --- the real console script -----------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"\x00\xffgarbage\x80", b'BO_ 256 X: 8 Y\n SG_ S : 0|8@1+ (1,0 [0|255] "" Y\n'],
    ids=["binary", "bad-dbc"],
)
def test_script_bad_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.dbc"
    path.write_bytes(content)
    proc = run_script("dbc", "show", str(path))
    assert_one_error_line(proc.returncode, proc.stderr, str(path))
    assert proc.stdout == ""


def test_script_missing_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "absent.dbc"
    proc = run_script("dbc", "show", str(path))
    assert_one_error_line(proc.returncode, proc.stderr, str(path))


def test_script_show_when_piped() -> None:
    proc = run_script("dbc", "show", str(DEMO_DBC))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "\x1b[" not in proc.stdout
    assert "0x18FF1021" in row(proc.stdout, "TCU_Telemetry")
    for name in DEMO_MESSAGES:
        assert name in proc.stdout


def test_help_has_examples() -> None:
    result = CliRunner().invoke(cli, ["dbc", "show", "--help"])
    assert result.exit_code == 0
    assert "harness dbc show dbc/demo_vehicle.dbc --message" in result.stdout
    assert "--no-strict" in result.stdout
    group = CliRunner().invoke(cli, ["dbc", "--help"])
    assert "show" in group.stdout


# --- the corpus ------------------------------------------------------------------------


def test_corpus_show(capsys: pytest.CaptureFixture[str], corpus: Path, corpus_dbc: str) -> None:
    """Every real-world DBC lists all its messages, or fails with one line."""
    path = corpus / "dbc" / corpus_dbc
    code, out, err = run_main(capsys, "dbc", "show", str(path))
    if code != 0:
        line = assert_one_error_line(code, err, str(path))
        assert ("--no-strict" in line) == (corpus_dbc in LENIENT_ONLY)
        assert out == ""
        if corpus_dbc not in LENIENT_ONLY:
            return
        code, out, err = run_main(capsys, "dbc", "show", "--no-strict", str(path))
    assert code == 0, err
    assert err == ""
    title = re.search(r": (\d+) messages?\b", out)
    assert title, out
    count = int(title.group(1))
    rows = [line for line in out.splitlines() if re.search(r"0x[0-9A-F]{3,8}\b", line)]
    assert len(rows) == count

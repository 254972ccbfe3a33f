"""``harness decode``: table, CSV and JSONL output, the summary, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import can
import pytest
from click.testing import CliRunner
from clitools import assert_one_error_line, harness_script, run_main, run_script, script_env

from harness.cli import cli
from harness.exceptions import TraceError
from harness.trace.reader import read_trace

ROOT = Path(__file__).resolve().parents[2]
TRACE_DBC = ROOT / "tests" / "data" / "trace_test.dbc"


def message(t: float, can_id: int, data: bytes = b"", **kwargs: object) -> can.Message:
    fields: dict[str, Any] = {
        "timestamp": t,
        "arbitration_id": can_id,
        "is_extended_id": can_id > 0x7FF,
        "data": data,
        "channel": 0,
    }
    fields.update(kwargs)
    return can.Message(**fields)


T0 = 1_700_000_000.0
"""A wall-clock start: python-can's BLF writer keeps only epoch-like times absolute."""

KNOWN_FRAMES = [
    message(T0 + 0.00, 0x110, bytes([1, 0xE2, 0x04, 3, 0, 0, 0, 0])),  # DoorStatus
    message(T0 + 0.01, 0x7FF, bytes(range(8))),  # no database knows it
    message(T0 + 0.02, 0x18FF0001, bytes([0xD0, 0x04, 0, 0, 0, 0, 0, 0]), channel=1),  # Telemetry
    message(T0 + 0.03, 0x110, b"\x01\x02"),  # DoorStatus, too short to decode
    can.Message(timestamp=T0 + 0.04, is_error_frame=True, channel=0),
    message(T0 + 0.05, 0x200, is_remote_frame=True, dlc=2, is_rx=False),  # Request, remote
    message(T0 + 0.06, 0x123, bytes(range(12)), is_fd=True),
]


@pytest.fixture
def door_blf(tmp_path: Path) -> Path:
    path = tmp_path / "door.blf"
    with can.BLFWriter(path) as writer:
        for msg in KNOWN_FRAMES:
            writer.on_message_received(msg)
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["decode", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# --- table ---------------------------------------------------------------------------------


def table_rows(out: str) -> list[str]:
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["time", "ch"]
    return lines[1:]


def test_table_decodes_known_ids_and_shows_the_rest_raw(door_blf: Path) -> None:
    code, out, err = invoke(str(door_blf), "--dbc", str(TRACE_DBC))
    assert code == 0, err
    rows = table_rows(out)
    assert len(rows) == len(KNOWN_FRAMES)
    door, unknown, telemetry, short, error, remote, fd = rows
    assert re.search(r"^\s+0\.000000\s+0\s+rx\s+0x110\s+8\s+DoorStatus\s+", door)
    assert door.endswith("Locked=UNLOCKED Speed=12.5 km/h Counter=3")
    assert re.search(r"0x7FF\s+8\s+\?\s+00 01 02 03 04 05 06 07$", unknown)
    assert re.search(
        r"^\s+0\.0200\d\d\s+1\s+rx\s+0x18FF0001\s+8\s+Telemetry\s+Voltage=12\.32 V$", telemetry
    )
    assert re.search(r"DoorStatus\s+01 02  \[undecodable: .*2 instead of 8", short)
    assert re.search(r"ERR\s+0\s+-\s+error frame$", error)
    assert re.search(r"tx\s+0x200 RTR\s+2\s+Request\s+remote request$", remote)
    assert re.search(r"0x123 FD\s+12\s+\?\s+00 01 .* 0b$", fd)


def test_table_columns_line_up(door_blf: Path) -> None:
    _, out, _ = invoke(str(door_blf), "--dbc", str(TRACE_DBC))
    layout = set()
    for line in table_rows(out):
        match = re.match(r"(.*?0x[0-9A-F]+)\D*\d+  (?=\S)", line)
        assert match, line
        layout.add((match.end(1), match.end()))
    assert len(layout) == 1  # on every row, the ID ends and the name starts in the same column


def test_summary_goes_to_stderr(door_blf: Path) -> None:
    _, out, err = invoke(str(door_blf), "--dbc", str(TRACE_DBC))
    assert err.strip() == ("7 frames: 2 decoded, 2 unknown, 1 undecodable, 1 error frame, 1 remote")
    assert "frames:" not in out


def test_without_database_everything_is_raw(door_blf: Path) -> None:
    code, out, err = invoke(str(door_blf))
    assert code == 0
    assert "Locked" not in out
    assert "01 e2 04 03 00 00 00 00" in out
    assert err.startswith("7 frames: 0 decoded, 5 unknown")


def test_limit_and_absolute_times(door_blf: Path) -> None:
    code, out, err = invoke(str(door_blf), "--dbc", str(TRACE_DBC), "--limit", "2", "--absolute")
    assert code == 0
    rows = table_rows(out)
    assert len(rows) == 2
    assert rows[0].split()[0] == "1700000000.000000"
    assert "(stopped at --limit)" in err


def test_first_database_given_wins(door_blf: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.dbc"
    other.write_text(
        'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: X\n\n'
        'BO_ 2047 Diag: 8 X\n SG_ First : 0|8@1+ (1,0) [0|255] "" X\n\n'
        'BO_ 272 Shadow: 8 X\n SG_ Whole : 0|64@1+ (1,0) [0|0] "" X\n'
    )
    _, out, _ = invoke(str(door_blf), "--dbc", str(TRACE_DBC), "--dbc", str(other))
    rows = table_rows(out)
    assert "DoorStatus" in rows[0]
    assert "Shadow" not in out
    assert re.search(r"Diag\s+First=0$", rows[1])


# --- csv and jsonl ---------------------------------------------------------------------------


def test_csv_parses_and_holds_every_frame(door_blf: Path) -> None:
    code, out, _ = invoke(str(door_blf), "--dbc", str(TRACE_DBC), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(KNOWN_FRAMES)
    door, unknown, telemetry, short, error, remote, fd = rows
    assert door["name"] == "DoorStatus"
    assert json.loads(door["signals"]) == {"Locked": "UNLOCKED", "Speed": 12.5, "Counter": 3}
    assert (door["id"], door["extended"], door["dlc"], door["data"]) == (
        "0x110", "0", "8", "01e2040300000000",
    )  # fmt: skip
    assert (unknown["name"], unknown["data"], json.loads(unknown["signals"])) == (
        "", "0001020304050607", {},
    )  # fmt: skip
    assert (telemetry["id"], telemetry["extended"], telemetry["channel"]) == (
        "0x18FF0001",
        "1",
        "1",
    )
    assert json.loads(telemetry["signals"])["Voltage"] == pytest.approx(12.32)
    assert "2 instead of 8" in short["decode_error"]
    assert error["error"] == "1"
    assert (remote["remote"], remote["direction"], remote["name"]) == ("1", "tx", "Request")
    assert (fd["fd"], fd["dlc"]) == ("1", "12")
    assert float(telemetry["timestamp"]) == pytest.approx(0.02, abs=1e-5)


def test_jsonl_one_object_per_line(door_blf: Path) -> None:
    code, out, _ = invoke(str(door_blf), "--dbc", str(TRACE_DBC), "-f", "jsonl")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == len(KNOWN_FRAMES)
    door, unknown, telemetry, short, error, remote, _ = records
    assert door["signals"] == {"Locked": "UNLOCKED", "Speed": 12.5, "Counter": 3}
    assert (door["id"], door["extended"], door["timestamp"]) == (0x110, False, 0.0)
    assert (unknown["name"], unknown["signals"], unknown["data"]) == (None, {}, "0001020304050607")
    assert telemetry["name"] == "Telemetry"
    assert short["decode_error"]
    assert error["error"] is True
    assert (remote["remote"], remote["direction"]) == (True, "tx")


def test_csv_without_direction_column_values(tmp_path: Path) -> None:
    """python-can's CSV format does not record rx/tx, so decode does not invent it."""
    path = tmp_path / "run.csv"
    with can.CSVWriter(path) as writer:
        writer.on_message_received(message(1.0, 0x110, bytes(8)))
    _, out, _ = invoke(str(path), "-f", "csv")
    (row,) = csv.DictReader(io.StringIO(out))
    assert row["direction"] == ""


def test_empty_trace_still_gets_its_header(tmp_path: Path) -> None:
    path = tmp_path / "quiet.blf"
    with can.BLFWriter(path):
        pass
    code, out, err = invoke(str(path), "-f", "csv")
    assert code == 0
    assert out.startswith("timestamp,channel,")
    assert err.startswith("0 frames")


# --- errors --------------------------------------------------------------------------------


def test_error_mid_trace_keeps_what_was_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.log"
    path.write_text("(0.0) vcan0 110#01E2040300000000\n(0.1) vcan0 7FF#00\n(0.2) vcan0 zz#\n")
    code, out, err = run_main(capsys, "decode", str(path), "--dbc", str(TRACE_DBC))
    assert_one_error_line(code, err, "bad.log", "line 3, column 13 (after 2 messages)")
    rows = table_rows(out)
    assert len(rows) == 2
    assert "Locked=UNLOCKED" in rows[0]


def test_missing_database_is_one_line(door_blf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "decode", str(door_blf), "--dbc", "nowhere.dbc")
    assert_one_error_line(code, err, "nowhere.dbc")


@pytest.mark.parametrize("name", ["absent.blf", "trace.txt"])
def test_bad_trace_path_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out, err = run_main(capsys, "decode", str(tmp_path / name))
    assert_one_error_line(code, err, name)
    assert out == ""


def test_script_garbage_trace_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "garbage.blf"
    path.write_bytes(b"\x00\xffnot a trace\x80" * 50)
    proc = run_script("decode", str(path), "--dbc", str(TRACE_DBC))
    assert_one_error_line(proc.returncode, proc.stderr, "garbage.blf")
    assert proc.stdout == ""


def test_script_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """``harness decode big.blf | head -1``: no traceback when head stops reading."""
    path = tmp_path / "big.blf"
    with can.BLFWriter(path) as writer:
        for n in range(20_000):
            writer.on_message_received(
                message(n * 0.001, 0x110, bytes([n % 2, n % 256, 4, 3, 0, 0, 0, 0]))
            )
    with subprocess.Popen(
        [str(harness_script()), "decode", str(path), "--dbc", str(TRACE_DBC)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=script_env(),
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert proc.stdout.readline().split()[:2] == [b"time", b"ch"]
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert code == 141, err
    assert "Traceback" not in err
    assert "Exception ignored" not in err


def test_reader_warnings_go_into_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """python-can logs TRC lines it skips; they belong in the summary, not among the rows."""
    path = tmp_path / "skips.trc"
    path.write_text(
        ";$FILEVERSION=1.1\n;$STARTTIME=44548.6\n"
        "      1)         1.0  Rx        0110  8  01 E2 04 03 00 00 00 00\n"
        "      2)  broken\n"
    )
    code, out, err = run_main(capsys, "decode", str(path), "--dbc", str(TRACE_DBC))
    assert code == 0, err
    assert len(table_rows(out)) == 1
    (summary,) = err.splitlines()
    assert summary.startswith("1 frame: 1 decoded")
    assert "python-can skipped 1 line" in summary


# --- every corpus trace --------------------------------------------------------------------


def test_corpus_trace_decodes_or_fails_in_one_line(
    corpus: Path, capsys: pytest.CaptureFixture[str], corpus_trace: str
) -> None:
    path = corpus / "traces" / corpus_trace
    try:
        expected: int | None = sum(1 for _ in read_trace(path))
    except TraceError:
        expected = None
    for output_format in ("table", "jsonl"):
        code, out, err = run_main(capsys, "decode", str(path), "-f", output_format)
        if expected is None:
            assert_one_error_line(code, err, corpus_trace.rsplit("/", 1)[-1])
            continue
        assert code == 0, err
        lines = out.splitlines()
        assert len(lines) == expected + (output_format == "table")
        assert err.startswith(f"{expected} frame")
        if output_format == "jsonl":
            assert all(isinstance(json.loads(line), dict) for line in lines)


# --- 11-bit IDs written with 8 digits -------------------------------------------------------


@pytest.fixture
def padded_log(tmp_path: Path) -> Path:
    """A candump log whose logger wrote the 11-bit DoorStatus ID (0x110) with 8 digits."""
    path = tmp_path / "padded.log"
    lines = [f"({T0 + i / 100:.6f}) can0 00000110#01E2040300000000\n" for i in range(421)]
    path.write_text("".join(lines) + f"({T0 + 5:.6f}) can0 000007FF#0001\n")
    return path


def test_an_11_bit_id_written_with_8_digits_decodes_and_is_counted(padded_log: Path) -> None:
    code, out, err = invoke(str(padded_log), "--dbc", str(TRACE_DBC), "--format", "jsonl")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["name"] for r in records[:421]] == ["DoorStatus"] * 421
    assert records[0]["extended"] is True  # shown as recorded
    assert records[421]["name"] is None  # no 11-bit message 0x7FF either
    assert err.startswith("422 frames: 421 decoded (421 by 11-bit ID though flagged extended")
    assert "1 unknown" in err


def test_strict_ids_takes_the_extended_flag_as_recorded(padded_log: Path) -> None:
    code, _, err = invoke(str(padded_log), "--dbc", str(TRACE_DBC), "--strict-ids")
    assert code == 0, err
    assert err.startswith("422 frames: 0 decoded, 422 unknown")


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict-ids"])
def test_parquet_reads_8_digit_11_bit_ids_as_decode_does(
    padded_log: Path, tmp_path: Path, strict: bool
) -> None:
    out = tmp_path / "out"
    args = [str(padded_log), "--dbc", str(TRACE_DBC), "--to", "parquet", str(out)]
    code, _, err = invoke(*args, *(["--strict-ids"] if strict else []))
    assert code == 0, err
    frames = "422 frames: 0 decoded, 422 unknown" if strict else "422 frames: 421 decoded (421 by"
    assert err.startswith(frames), err
    assert (out / "DoorStatus").exists() is not strict


def test_skip_bad_counts_bad_lines_in_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_text("(0.0) vcan0 110#01E2040300000000\n(oops) vcan0 110#00\n(0.2) vcan0 7FF#00\n")
    code, out, err = invoke(str(path), "--dbc", str(TRACE_DBC), "--skip-bad")
    assert code == 0, err
    assert len(table_rows(out)) == 2
    assert err.strip().endswith(
        "; skipped 1 bad line (first: line 2, column 1: expected a time in parentheses, "
        + "e.g. (1436509052.249713), found '(oops)')"
    )

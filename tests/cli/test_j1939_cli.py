"""``harness j1939 dm1|dm2|dm3|dm11`` against the simulated engine of the J1939 bench."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from clitools import run_script

from harness.cli import cli

BENCH = str(Path(__file__).resolve().parents[2] / "fixtures" / "benches" / "virtual-j1939.toml")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["j1939", *args, "--bench", BENCH])
    return result.exit_code, result.output


def test_dm1_prints_the_lamps_and_the_dtcs() -> None:
    code, output = _run("dm1", "--address", "0x00")
    assert code == 0, output
    assert "amber warning on" in output
    assert [line.split() for line in output.splitlines()[-2:]] == [
        ["110", "0", "3"],
        ["100", "1", "1"],
    ]


def test_dm2_then_dm3_the_previously_active_dtc() -> None:
    code, output = _run("dm2", "--address", "0")
    assert code == 0, output
    assert output.splitlines()[-1].split() == ["91", "3", "2"]
    code, output = _run("dm3", "--address", "0")
    assert (code, output.strip()) == (0, "DM3 to 0x00: ACK")


def test_dm11_on_the_cab_without_dtcs_is_acknowledged() -> None:
    code, output = _run("dm11", "--address", "0x21")
    assert (code, output.strip()) == (0, "DM11 to 0x21: ACK")


def test_no_answer_is_one_error_line_and_exit_2() -> None:
    done = run_script("j1939", "dm1", "--bench", BENCH, "--address", "0x42", "--timeout", "0.3")
    assert done.returncode == 2
    assert done.stderr.startswith("error: J1939 node 0xF9: no PGN 59392 or 65226 from 0x42")
    assert len(done.stderr.strip().splitlines()) == 1


def test_bad_address_and_help() -> None:
    code, output = _run("dm1", "--address", "0xFF")
    assert code == 2
    assert "not a node's address" in output
    code, output = _run("dm11", "--help")
    assert code == 0
    assert "Clear the active DTCs (DM11, PGN 65235)" in output

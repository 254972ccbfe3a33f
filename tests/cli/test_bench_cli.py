"""``harness bench check``: a table of every channel's status, exit 1 if any failed."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from can.interfaces import virtual
from click.testing import CliRunner
from clitools import run_main, run_script

from harness.cli import COMMANDS, EXIT_CODES, cli
from harness.cli.bench import bitrate_text

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "tests" / "data" / "mini.dbc"
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"
VIRTUAL_BENCH = ROOT / "fixtures" / "benches" / "virtual.toml"
BCM_ECU = ROOT / "fixtures" / "ecus" / "bcm.toml"

HEAD = """\
[bench]
name = "cli-test"
description = "a bench for the CLI tests"

[dut]
name = "Test ECU"
part_number = "ECU-0042"

[dut.identity]
supplier = "Acme"
"""


def write_bench(tmp_path: Path, channels: dict[str, str], extra: str = "") -> Path:
    """A bench with one mini.dbc channel per entry (name -> interface), unique bus names."""
    text = HEAD + "".join(
        f'\n[can.{name}]\ninterface = "{interface}"\nchannel = "{tmp_path.name}-{name}"\n'
        f'bitrate = 500000\ndbc = "{MINI}"\ndut_node = "Ecu"\n'
        for name, interface in channels.items()
    )
    path = tmp_path / "bench.toml"
    path.write_text(text + extra)
    return path


def row(output: str, name: str) -> str:
    """The table row whose first cell is ``name``."""
    for line in output.splitlines():
        if re.match(rf"\W*{re.escape(name)}\s", line):
            return line
    raise AssertionError(f"no row for {name!r} in:\n{output}")


def cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]


# --- a bench that opens ----------------------------------------------------------------


def test_check_ok_lists_channels_database_and_dut(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_bench(tmp_path, {"body": "virtual", "chassis": "virtual"})
    code, out, err = run_main(capsys, "bench", "check", str(path))
    assert code == 0, err
    assert err == ""
    assert "Bench 'cli-test': a bench for the CLI tests" in out
    assert "DUT: Test ECU, part number ECU-0042" in out
    assert "identity: supplier=Acme" in out
    body = cells(row(out, "body"))
    # name, interface, channel, bitrate, database, messages, DUT node, DUT sends, status
    assert body == [
        "body",
        "virtual",
        f"{tmp_path.name}-body",
        "500 kbit/s",
        "mini.dbc",
        "7",
        "Ecu",
        "5",
        "ok",
    ]
    assert cells(row(out, "chassis"))[-1] == "ok"
    assert "Serial devices: none" in out
    assert "Simulated ECUs: none" in out
    assert out.splitlines()[-1] == "bench 'cli-test' ok: 2 CAN channels opened and closed"
    assert "\x1b[" not in out  # plain text in a pipe
    assert f"{tmp_path.name}-body" not in virtual.channels


def test_check_lists_the_other_sections(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    extra = (
        '\n[serial.console]\nkind = "console"\nurl = "loop://"\nbaudrate = 115200\n'
        '\n[power]\nresource = "ASRLloop://::INSTR"\nswitch_on = false\n'
        "\n[diagnostics]\nrequest_id = 0x7E0\n"
    )
    path = write_bench(tmp_path, {"body": "virtual"}, extra)
    code, out, err = run_main(capsys, "bench", "check", str(path))
    assert code == 0, err
    assert "  console: kind=console, url=loop://, baudrate=115200" in out
    assert "Power: resource=ASRLloop://::INSTR, switch_on=False" in out
    assert "Diagnostics: request_id=0x7E0" in out


def test_check_fd_channel_shows_both_bitrates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_bench(tmp_path, {"body": "virtual"}, "fd = true\ndata_bitrate = 2000000\n")
    code, out, err = run_main(capsys, "bench", "check", str(path))
    assert code == 0, err
    assert "500 kbit/s / 2 Mbit/s FD" in row(out, "body")


@pytest.mark.skipif(not DEMO_DBC.is_file(), reason="dbc/demo_vehicle.dbc not written yet")
def test_check_the_virtual_bench_starts_its_simulated_ecus(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_main(
        capsys, "bench", "check", str(VIRTUAL_BENCH), "--set", "can.body.channel=bench-cli-virt"
    )
    assert code == 0, err
    assert cells(row(out, "body"))[-1] == "ok"
    for ecu in ("bcm", "abs", "ecm", "tcu", "gateway"):
        assert cells(row(out, ecu))[-1] == "ok (started)"
    assert "chassis (+ body)" in row(out, "gateway")
    assert "5 simulated ECUs started" in out.splitlines()[-1]


# --- what fails is shown, with everything else ---------------------------------------


def test_a_broken_channel_does_not_hide_the_others(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_bench(
        tmp_path, {"body": "virtual", "broken": "no-such-interface", "chassis": "virtual"}
    )
    code, out, err = run_main(capsys, "bench", "check", str(path))
    assert code == 2  # a bench that does not open is bad input, not a verdict
    assert cells(row(out, "body"))[-1] == "ok"
    assert cells(row(out, "chassis"))[-1] == "ok"
    broken = row(out, "broken")
    assert "cannot open CAN channel 'broken'" in broken
    assert "no-such-interface" in broken
    assert cells(broken)[7] == "5"  # the DUT's messages come from the database, opened or not
    assert err.splitlines() == ["bench 'cli-test' failed: 1 of 3 CAN channels failed: broken"]
    for name in ("body", "chassis"):
        assert f"{tmp_path.name}-{name}" not in virtual.channels


def test_a_dut_node_missing_from_the_database_fails_its_channel(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_bench(tmp_path, {"body": "virtual", "chassis": "virtual"})
    code, out, err = run_main(
        capsys, "bench", "check", str(path), "--set", 'can.body.dut_node="Ecuu"'
    )
    assert code == 2  # a bench that does not open is bad input, not a verdict
    assert "dut_node 'Ecuu' is not a node of mini.dbc (did you mean 'Ecu'?)" in row(out, "body")
    assert cells(row(out, "chassis"))[-1] == "ok"
    assert "1 of 2 CAN channels failed: body" in err


def test_a_database_that_does_not_load_fails_its_channel(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.dbc"
    bad.write_text('BO_ 256 X: 8 Y\n SG_ S : 0|8@1+ (1,0 [0|255] "" Y\n')
    path = write_bench(tmp_path, {"body": "virtual", "chassis": "virtual"})
    code, out, err = run_main(
        capsys, "bench", "check", str(path), "--set", f'can.chassis.dbc="{bad}"', "--no-open"
    )
    assert code == 2  # a bench that does not open is bad input, not a verdict
    assert f"{bad}: cannot load" in row(out, "chassis")
    assert cells(row(out, "body"))[-1] == "valid (not opened)"
    assert "failed: chassis" in err


@pytest.mark.skipif(not DEMO_DBC.is_file(), reason="dbc/demo_vehicle.dbc not written yet")
def test_an_unknown_seeded_fault_fails_its_simulated_ecu(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(
        f'[can.body]\ninterface = "virtual"\nchannel = "{tmp_path.name}"\ndbc = "{DEMO_DBC}"\n'
        f'\n[simulation.ecus.bcm]\nfile = "{BCM_ECU}"\nfaults = ["no_such_fault"]\n'
    )
    code, out, err = run_main(capsys, "bench", "check", str(path))
    assert code == 2  # a bench that does not open is bad input, not a verdict
    assert "bcm.toml has no fault 'no_such_fault'" in row(out, "bcm")
    assert cells(row(out, "body"))[-1] == "ok"  # the channel still opened on its own
    assert "1 simulated ECU failed: bcm" in err


# --- overrides and --no-open -----------------------------------------------------------


def test_a_bench_naming_nothing_to_test_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "empty.toml"
    path.write_text('[bench]\nname = "empty"\n[dut]\nname = "BCM"\n')
    code, out, err = run_main(capsys, "bench", "check", str(path))
    assert code == 2, out
    assert err.strip() == (
        f"error: {path}: names nothing to test (no CAN channel, serial device, power supply "
        "or diagnostics: add a [can.NAME], [serial.NAME], [power] or [diagnostics] table)"
    )


def test_set_overrides_a_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_bench(tmp_path, {"body": "virtual"})
    code, out, err = run_main(
        capsys,
        "bench",
        "check",
        str(path),
        "--set",
        "can.body.channel=elsewhere",
        "--set",
        "can.body.bitrate=250000",
    )
    assert code == 0, err
    assert cells(row(out, "body"))[2:4] == ["elsewhere", "250 kbit/s"]


def test_set_wins_over_the_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_bench(tmp_path, {"body": "virtual"})
    monkeypatch.setenv("HARNESS_BENCH_SET", "can.body.channel=from-env can.body.bitrate=125000")
    code, out, err = run_main(capsys, "bench", "check", str(path))
    assert code == 0, err
    assert cells(row(out, "body"))[2:4] == ["from-env", "125 kbit/s"]

    code, out, err = run_main(capsys, "bench", "check", str(path), "--set", "can.body.channel=cli")
    assert code == 0, err
    assert cells(row(out, "body"))[2:4] == ["cli", "125 kbit/s"]


def test_no_open_validates_without_touching_the_interface(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_bench(tmp_path, {"body": "no-such-interface"})
    code, out, err = run_main(capsys, "bench", "check", str(path), "--no-open")
    assert code == 0, err
    body = cells(row(out, "body"))
    assert body[4:] == ["mini.dbc", "7", "Ecu", "5", "valid (not opened)"]
    assert out.splitlines()[-1] == (
        "bench 'cli-test' is valid (1 CAN channel; nothing opened: --no-open)"
    )


# --- a bench file that does not validate ---------------------------------------------


def test_invalid_file_propagates_through_the_group(tmp_path: Path) -> None:
    """The group raises; only main() turns errors into lines (so --debug can show them)."""
    path = tmp_path / "bench.toml"
    path.write_text('[can.body]\ninterface = "virtual"\n')
    result = CliRunner().invoke(cli, ["bench", "check", str(path)])
    assert type(result.exception).__name__ == "ConfigError"


@pytest.mark.parametrize(
    ("content", "key", "problem"),
    [
        (
            '[can.body]\ninterfac = "virtual"\nchannel = "x"\n',
            "can.body.interface",
            "missing (expected a string) (misspelled as 'interfac'?)",
        ),
        (
            '[can.body]\ninterface = "virtual"\nchannel = "x"\nbitrate = "fast"\n',
            "can.body.bitrate",
            "expected an integer",
        ),
        ("[can.body\n", "", "not valid TOML"),
    ],
    ids=["misspelled", "wrong-type", "not-toml"],
)
def test_script_invalid_bench_is_one_error_line(
    tmp_path: Path, content: str, key: str, problem: str
) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(content)
    proc = run_script("bench", "check", str(path))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {path}: {key}")
    assert problem in lines[0]
    assert proc.stdout == ""


def test_script_exits_2_when_a_channel_fails(tmp_path: Path) -> None:
    path = write_bench(tmp_path, {"body": "virtual", "broken": "no-such-interface"})
    proc = run_script("bench", "check", str(path))
    assert proc.returncode == 2, proc.stderr
    assert cells(row(proc.stdout, "body"))[-1] == "ok"
    assert proc.stderr.splitlines()[-1] == (
        "bench 'cli-test' failed: 1 of 2 CAN channels failed: broken"
    )


def test_script_missing_file_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    proc = run_script("bench", "check", str(path))
    assert proc.returncode == 2
    assert proc.stderr == f"error: {path}: no such bench file\n"


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["bench", "check", "--help"])
    assert result.exit_code == 0
    assert "harness bench check fixtures/benches/virtual.toml" in result.stdout
    assert "--set KEY=VALUE" in result.stdout
    assert "--no-open" in result.stdout
    group = CliRunner().invoke(cli, ["bench", "--help"])
    assert "check" in group.stdout


@pytest.mark.parametrize(
    ("bitrate", "text"),
    [
        (None, "-"),
        (500_000, "500 kbit/s"),
        (83_333, "83.333 kbit/s"),
        (2_000_000, "2 Mbit/s"),
        (5_000_000, "5 Mbit/s"),
        (999, "999 bit/s"),
    ],
)
def test_bitrate_text(bitrate: int | None, text: str) -> None:
    assert bitrate_text(bitrate) == text


def test_every_command_documents_the_exit_codes_in_its_help() -> None:
    runner = CliRunner()
    commands: list[list[str]] = [[]]
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        commands.append([name])
        if isinstance(command, click.Group):
            commands.extend([name, sub] for sub in command.commands)
    for args in commands:
        result = runner.invoke(cli, [*args, "--help"], terminal_width=500)
        assert result.exit_code == 0, args
        assert EXIT_CODES in " ".join(result.output.split()), args


def test_diagnostics_show_ids_and_padding_in_hex_and_no_seed_key_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_main(capsys, "bench", "check", str(VIRTUAL_BENCH), "--no-open")
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("Diagnostics: "))
    for shown in ("request_id=0x7E0", "response_id=0x7E8", "functional_id=0x7DF", "padding=0xCC"):
        assert shown in line
    assert "params=(1 redacted)" in line
    assert "mask" not in line
    assert str(0x5A3CC3A5) not in out
    assert "5A3CC3A5" not in out.upper()

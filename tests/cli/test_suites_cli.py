"""harness suites list and harness run, on a folder of small suites written by the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from clitools import assert_one_error_line, run_script

from harness.cli.suites import BiteResult, SeededFaultRun, seeded_fault_runs
from harness.config import load_bench

PASSING = """
import pytest

@pytest.mark.requirement("REQ-A-1", clause="ISO 14229-1 10.3")
def test_one():
    assert True

@pytest.mark.requirement("REQ-A-2")
def test_two():
    assert True
"""

FAILING = """
def test_fails():
    assert 1 == 2
"""


NEEDS_A_POWERTRAIN = """
import pytest

@pytest.mark.requires("can:powertrain")
def test_dials():
    pass

@pytest.mark.requires("can:powertrain")
def test_hangs_up():
    pass
"""


@pytest.fixture
def suites(tmp_path: Path) -> Path:
    folder = tmp_path / "suites"
    (folder / "alpha").mkdir(parents=True)
    (folder / "alpha" / "test_alpha.py").write_text(PASSING)
    (folder / "beta").mkdir()
    (folder / "beta" / "test_beta.py").write_text(FAILING)
    (folder / "notes").mkdir()  # no tests: not a suite
    return folder


def test_list_shows_every_test_with_its_requirements(suites: Path) -> None:
    result = run_script("suites", "list", "--suites", str(suites))
    assert result.returncode == 0, result.stderr
    assert "REQ-A-1 (ISO 14229-1 10.3)" in result.stdout
    assert "REQ-A-2" in result.stdout
    assert "test_fails" in result.stdout
    assert result.stdout.rstrip().endswith("3 tests in 2 suites")


def test_list_of_one_suite(suites: Path) -> None:
    result = run_script("suites", "list", "beta", "--suites", str(suites))
    assert "test_one" not in result.stdout
    assert result.stdout.rstrip().endswith("1 test in 1 suite")


def test_run_exit_codes_follow_the_harness_convention(suites: Path) -> None:
    passed = run_script("run", "alpha", "--suites", str(suites), "-q", "-p", "no:cacheprovider")
    assert passed.returncode == 0, passed.stdout
    assert "2 passed" in passed.stdout
    failed = run_script("run", "beta", "--suites", str(suites), "-q", "-p", "no:cacheprovider")
    assert failed.returncode == 1
    assert "1 failed" in failed.stdout
    usage = run_script("run", "alpha", "--suites", str(suites), "--no-such-pytest-option")
    assert usage.returncode == 2, usage.stdout + usage.stderr  # pytest's usage error is 4


def test_a_run_where_every_test_skipped_is_not_a_pass(suites: Path) -> None:
    (suites / "gamma").mkdir()
    (suites / "gamma" / "test_gamma.py").write_text(NEEDS_A_POWERTRAIN)
    result = run_script("run", "gamma", "--suites", str(suites), "-q", "-p", "no:cacheprovider")
    assert result.returncode == 1, result.stdout
    assert "2 skipped" in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no test ran: 2 skipped (bench 'virtual' ")
    assert last.endswith("has no can 'powertrain')")


def test_a_run_that_collects_nothing_is_not_a_pass(suites: Path) -> None:
    args = ("--suites", str(suites), "-q", "-p", "no:cacheprovider", "-k", "no_such_test")
    result = run_script("run", "alpha", *args)
    assert result.returncode == 1, result.stdout
    assert (
        result.stderr.strip().splitlines()[-1] == "error: no test ran: the suite collected no test"
    )


def test_allow_empty_makes_a_run_with_nothing_tested_exit_0(suites: Path) -> None:
    (suites / "gamma").mkdir()
    (suites / "gamma" / "test_gamma.py").write_text(NEEDS_A_POWERTRAIN)
    args = ("--suites", str(suites), "-q", "-p", "no:cacheprovider", "--allow-empty")
    result = run_script("run", "gamma", *args)
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr


@pytest.mark.parametrize("command", [("run", "alpa"), ("suites", "list", "alpa")])
def test_an_unknown_suite_is_one_error_line_with_suggestions(
    suites: Path, command: tuple[str, ...]
) -> None:
    result = run_script(*command, "--suites", str(suites))
    line = assert_one_error_line(result.returncode, result.stderr, "alpa")
    assert "did you mean 'alpha'" in line
    assert "suites: alpha, beta, all" in line


def test_a_missing_suites_folder_is_named(tmp_path: Path) -> None:
    result = run_script("suites", "list", "--suites", str(tmp_path / "none"))
    assert_one_error_line(result.returncode, result.stderr, "no such suites folder")


DOOR_SUITE = """
import pytest

@pytest.mark.requires("can:body")
def test_no_unlock_while_moving(can, residual_bus):
    body = can.body
    body.send("Wheel", WheelSpeed=30)
    since = body.mark()
    body.send("Req", Unlock=1)
    body.expect_never("Status", where={"Locked": "UNLOCKED"}, since=since, for_=0.2)
"""


def door_bench(tmp_path: Path, suite: str) -> Path:
    """A bench simulating the door ECU of tests/data, and a suites folder with ``suite``."""
    data = Path(__file__).resolve().parents[1] / "data"
    bench = tmp_path / "bench.toml"
    bench.write_text(
        f'[can.body]\ninterface = "virtual"\nchannel = "{tmp_path.name}"\n'
        f'dbc = "{data / "mini.dbc"}"\n'
        f'[simulation.ecus.door]\nfile = "{data / "ecus" / "door.toml"}"\n'
    )
    (tmp_path / "suites" / "door").mkdir(parents=True)
    (tmp_path / "suites" / "door" / "test_door.py").write_text(suite)
    return bench


def test_bite_runs_each_fault_and_names_what_caught_it(tmp_path: Path) -> None:
    bench = door_bench(tmp_path, DOOR_SUITE)
    result = run_script(
        "suites", "bite", "--suites", str(tmp_path / "suites"), "--bench", str(bench), "-j", "2",
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr  # most faults go unnoticed
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "all pass" in rows["(no fault)"]
    assert "test_no_unlock_while_moving" in rows["door:unlock_ignores_speed"]
    assert "NOTHING" in rows["door:never_unlocks"]
    assert "1 of 5 seeded faults caught" in result.stdout
    assert "[6/6]" in result.stderr  # progress, one line per finished run


def test_bite_first_stops_each_run_at_its_first_catch(tmp_path: Path) -> None:
    twice = DOOR_SUITE + DOOR_SUITE.split("import pytest", 1)[1].replace(
        "test_no_unlock_while_moving", "test_no_unlock_while_moving_again"
    )
    bench = door_bench(tmp_path, twice)
    result = run_script(
        "suites", "bite", "--first", "--suites", str(tmp_path / "suites"),
        "--bench", str(bench), timeout=300,
    )  # fmt: skip
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    caught = rows["door:unlock_ignores_speed"]
    assert "test_no_unlock_while_moving" in caught
    assert "_again" not in result.stdout, "the run went on after its first failure"


def test_bite_runs_cover_ecu_and_device_faults_and_mark_quirks() -> None:
    bench = load_bench(Path(__file__).resolve().parents[2] / "fixtures/benches/virtual.toml")
    runs = {run.label: run for run in seeded_fault_runs(bench)}
    assert runs["(no fault)"].override is None
    assert runs["bcm:diag_s3_ignored"].override == 'simulation.ecus.bcm.faults=["diag_s3_ignored"]'
    assert runs["modem:no_answer"].override == 'serial.modem.faults=["no_answer"]'
    assert not runs["modem:no_answer"].quirk
    assert runs["modem:double_cr"].quirk
    assert any(label.startswith("gateway:") for label in runs)


def test_bite_verdicts() -> None:
    bug = SeededFaultRun("ecu:bug", "a bug", "x")
    quirk = SeededFaultRun("dev:quirk", "a quirk", "y", quirk=True)
    baseline = SeededFaultRun("(no fault)", "no fault")
    assert BiteResult(bug, ("t",), 1).verdict_ok
    assert not BiteResult(bug, (), 0).verdict_ok
    assert BiteResult(quirk, (), 0).verdict_ok
    assert not BiteResult(quirk, ("t",), 1).verdict_ok
    assert not BiteResult(baseline, (), 2).verdict_ok  # e.g. a collection error


def _no_cycle_times_bench(tmp_path: Path, cycle_ms: str = "") -> Path:
    """The demo network with every GenMsgCycleTime removed; the BCM simulated, sending
    BCM_Lights every 100 ms as its ECU file says."""
    demo = Path("dbc/demo_vehicle.dbc").read_text()
    lines = [line for line in demo.splitlines() if '"GenMsgCycleTime" BO_' not in line]
    dbc = tmp_path / "no_cycles.dbc"
    dbc.write_text("\n".join(lines) + "\n")
    ecu = tmp_path / "bcm.toml"
    ecu.write_text(
        f'[ecu]\nname = "BCM"\nnode = "BCM"\ndbc = "{dbc}"\n'
        "[messages.BCM_Lights]\nperiod_ms = 100\n"
    )
    bench = tmp_path / "bench.toml"
    bench.write_text(
        '[bench]\nname = "no-cycles"\n'
        f'[can.body]\ninterface = "virtual"\nchannel = "no-cycles"\ndbc = "{dbc}"\n'
        f'dut_node = "BCM"\n{cycle_ms}\n'
        f'[simulation.ecus.bcm]\nfile = "{ecu}"\nchannel = "body"\n'
    )
    return bench


def test_a_message_without_a_cycle_time_is_not_tested(tmp_path: Path) -> None:
    bench = _no_cycle_times_bench(tmp_path)
    args = ("-q", "-p", "no:cacheprovider", "-rs", "-k", "test_cycle_time_within_tolerance")
    result = run_script("run", "can_timing", "--bench", str(bench), *args, timeout=120)
    for message in ("BCM_DoorStatus", "BCM_Lights"):
        assert f"not tested: no cycle time declared for {message}" in result.stdout
    assert result.returncode == 1, result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("error: no test ran: 2 skipped")


def test_the_bench_declares_a_cycle_time_the_database_lacks(tmp_path: Path) -> None:
    bench = _no_cycle_times_bench(tmp_path, "cycle_ms = { BCM_Lights = 100 }")
    args = ("-q", "-p", "no:cacheprovider", "-rs", "-k", "test_cycle_time_within_tolerance")
    result = run_script("run", "can_timing", "--bench", str(bench), *args, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    assert "not tested: no cycle time declared for BCM_DoorStatus" in result.stdout

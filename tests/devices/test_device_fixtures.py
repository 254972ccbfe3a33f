"""The plugin's serial-device fixtures and per-test serial logs, run as users run them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DEVICES = Path(__file__).resolve().parents[2] / "fixtures" / "devices"

BENCH = f"""
[bench]
name = "serial-bench"

[serial.modem]
kind = "modem"
simulation = "{DEVICES / "modem.toml"}"
timeout = 0.5

[serial.psu]
kind = "power"
simulation = "{DEVICES / "psu.toml"}"

[power]
serial = "psu"
voltage = 12.0
off_time = 0.01
"""

TESTS = """
def test_passes(modem, power):
    modem.sync()
    power.power_cycle()

def test_fails(modem):
    modem.command("AT+CGMI")
    assert modem.command("AT+CGMM").value() == "another model"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "bench.toml").write_text(BENCH)
    pytester.makeini("[pytest]\nbench = bench.toml\n")
    pytester.makepyfile(test_devices=TESTS)
    return pytester


def test_a_failure_reports_the_serial_traffic_and_the_log_file(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*harness serial*",
            "serial log (written when the test ends): *serial.log",
            "*modem      tx AT+CGMM\\r",
            "*modem      rx *SIM-LTE-1*",
        ]
    )
    path = Path(re.search(r"written when the test ends\): (\S+)", result.stdout.str()).group(1))  # type: ignore[union-attr]
    text = path.read_text()
    assert text.startswith("# serial log: test_devices.py::test_fails")
    assert "tx AT+CGMI\\r" in text
    assert "psu" not in text  # only this test's traffic
    junit = (project.path / "junit.xml").read_text()
    assert 'property name="test_devices.py::test_fails serial_log"' in junit  # xunit2: suite level


def test_serial_log_dir_collects_every_test_s_log(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--serial-log-dir", "logs")
    result.assert_outcomes(passed=1, failed=1)
    logs = sorted(p.name for p in (project.path / "logs").iterdir())
    assert logs == ["test_devices.py_test_fails.log", "test_devices.py_test_passes.log"]
    passed = (project.path / "logs" / "test_devices.py_test_passes.log").read_text()
    assert "psu        tx OUTP OFF;:SYST:ERR?\\n" in passed
    assert "modem      tx AT\\r" in passed


def test_fixtures_skip_on_a_bench_without_the_device(pytester: pytest.Pytester) -> None:
    bare = '[bench]\nname = "bare"\n[can.body]\ninterface = "virtual"\nchannel = "bare-body"\n'
    (pytester.path / "bench.toml").write_text(bare)  # a CAN channel: something to test
    pytester.makeini("[pytest]\nbench = bench.toml\n")
    pytester.makepyfile(
        "def test_console(console): pass\n"
        "def test_modem(modem): pass\n"
        "def test_power(power): pass\n"
    )
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(
        [
            "*bench 'bare' (*bench.toml) has no serial device of kind 'console'*",
            "*bench 'bare' (*bench.toml) has no serial device of kind 'modem'*",
            "*bench 'bare' (*bench.toml) has no ?power?*",
        ]
    )

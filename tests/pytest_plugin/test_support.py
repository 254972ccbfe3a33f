"""What suites share: helper modules imported by name beside a suite's conftest, once;
the DUT profile while pytest collects."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.exceptions import HarnessError
from harness.pytest_plugin.support import import_beside


@pytest.fixture
def forget() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        sys.modules.pop(name, None)


def test_imports_the_module_beside_the_anchor_once(tmp_path: Path, forget: list[str]) -> None:
    forget.append("demo_support_x1")
    (tmp_path / "demo_support_x1.py").write_text("LOADS = []\nLOADS.append(1)\n")
    first = import_beside(tmp_path / "conftest.py", "demo_support_x1")
    again = import_beside(tmp_path / "conftest.py", "demo_support_x1")
    assert first is again
    assert first.LOADS == [1]
    assert sys.modules["demo_support_x1"] is first


def test_a_missing_module_is_named(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"no suite helper module 'nowhere_support_x2'"):
        import_beside(tmp_path / "conftest.py", "nowhere_support_x2")
    assert "nowhere_support_x2" not in sys.modules


def test_a_module_that_fails_to_import_is_not_left_half_loaded(
    tmp_path: Path, forget: list[str]
) -> None:
    forget.append("broken_support_x3")
    (tmp_path / "broken_support_x3.py").write_text("raise ValueError('broken on purpose')\n")
    with pytest.raises(ValueError, match="broken on purpose"):
        import_beside(tmp_path / "conftest.py", "broken_support_x3")
    assert "broken_support_x3" not in sys.modules


PROFILE_CONFTEST = """
from harness.pytest_plugin.support import collection_profile

def pytest_generate_tests(metafunc):
    if "did" in metafunc.fixturenames:
        profile = collection_profile(metafunc.config)
        names = sorted(profile.dids) if profile is not None else []
        metafunc.parametrize("did", names)
"""


def profile_project(pytester: pytest.Pytester, profile: str | None) -> None:
    diagnostics = ""
    if profile is not None:
        (pytester.path / "dut.toml").write_text(profile)
        diagnostics = '[diagnostics]\nprofile = "dut.toml"\n'
    (pytester.path / "bench.toml").write_text(
        f'[can.body]\ninterface = "virtual"\nchannel = "{pytester.path.name}"\n{diagnostics}'
    )
    pytester.makeconftest(PROFILE_CONFTEST)
    pytester.makepyfile("def test_reads(did):\n    assert did\n")


def test_suites_parametrise_from_the_profile(pytester: pytest.Pytester) -> None:
    profile_project(
        pytester,
        '[dids.VIN]\nid = 0xF190\ncodec = "ascii"\nlength = 17\n'
        '[dids.Serial]\nid = 0xF18C\ncodec = "ascii"\nlength = 8\n',
    )
    result = pytester.runpytest_subprocess("--bench", "bench.toml", "-v")
    result.stdout.fnmatch_lines(["*test_reads?Serial? PASSED*", "*test_reads?VIN? PASSED*"])
    result.assert_outcomes(passed=2)


def test_no_profile_leaves_nothing_to_parametrise(pytester: pytest.Pytester) -> None:
    profile_project(pytester, None)
    result = pytester.runpytest_subprocess("--bench", "bench.toml")
    result.assert_outcomes(skipped=1)  # pytest skips a test parametrised with no values


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_bad_profile_stops_the_run_in_one_line(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    profile_project(pytester, '[dids.VIN]\nid = 0xF190\ncodec = "asci"\nlength = 17\n')
    result = pytester.runpytest_subprocess("--bench", "bench.toml", *xdist)
    assert result.ret in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.TESTS_FAILED)
    result.stdout.fnmatch_lines(["harness: *dut.toml: dids.VIN.codec: *did you mean 'ascii'*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str()

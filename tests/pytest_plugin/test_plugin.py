"""The pytest plugin, exercised the way users run it: pytest in a subprocess on a project."""

from __future__ import annotations

from pathlib import Path

import pytest

MINI = Path(__file__).resolve().parents[1] / "data" / "mini.dbc"

CONFTEST = """
import pytest

@pytest.fixture
def ecu(can):
    '''A second bus on the same virtual channel, playing the ECU.'''
    import can as pycan
    from harness.canbus.channel import Channel
    body = can.body
    with Channel("ecu", pycan.Bus(interface="virtual", channel=body.bus.channel_info.split()[-1]),
                 body.db) as channel:
        yield channel
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with a one-channel virtual bench at the default location and an ECU fixture."""
    benches = pytester.path / "fixtures" / "benches"
    benches.mkdir(parents=True)
    (benches / "virtual.toml").write_text(bench_text("default", "vbus-default"))
    pytester.makeconftest(CONFTEST)
    return pytester


def bench_text(name: str, channel: str, extra: str = "") -> str:
    return (
        f'[bench]\nname = "{name}"\n[can.body]\ninterface = "virtual"\n'
        f'channel = "{channel}"\ndbc = "{MINI}"\n{extra}'
    )


def test_help_lists_the_options_and_markers(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--bench=PATH*", "*--bench-set=KEY=VALUE*", "*bench (string)*"])
    markers = project.runpytest_subprocess("--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.requires(*resources)*"])


def test_a_test_talks_to_the_default_virtual_bench(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_request_and_reply(can, ecu, bench):
            assert bench.name == "default"
            since = ecu.mark()
            can.body.send("Req", Unlock=1)
            assert ecu.wait_for("Req", since=since, timeout=30)["Unlock"] == 1
            since = can.body.mark()
            ecu.send("Status", Locked="UNLOCKED")
            can.body.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=30)
        """
    )
    project.runpytest_subprocess().assert_outcomes(passed=1)


def test_the_bench_comes_from_option_then_environment_then_ini(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("opt", "env", "ini"):
        (project.path / f"{name}.toml").write_text(bench_text(name, f"vbus-{name}"))
    project.makeini("[pytest]\nbench = ini.toml\n")
    project.makepyfile("def test_which(bench):\n    print('BENCH=' + bench.name)\n")
    project.runpytest_subprocess("-s").stdout.fnmatch_lines(["*BENCH=ini*"])
    monkeypatch.setenv("HARNESS_BENCH", str(project.path / "env.toml"))
    project.runpytest_subprocess("-s").stdout.fnmatch_lines(["*BENCH=env*"])
    project.runpytest_subprocess("-s", "--bench", "opt.toml").stdout.fnmatch_lines(["*BENCH=opt*"])


def test_bench_set_overrides_a_key(project: pytest.Pytester) -> None:
    project.makepyfile(
        "def test_channel(bench):\n"
        "    assert bench.config.can['body'].channel == 'elsewhere'\n"
        "    assert bench.config.description == 'from ini'\n"
    )
    project.makeini("[pytest]\nbench_set = bench.description=from ini\n")
    project.runpytest_subprocess("--bench-set", "can.body.channel=elsewhere").assert_outcomes(
        passed=1
    )


def test_requires_skips_what_the_bench_lacks_with_a_reason(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest

        @pytest.mark.requires("can:body")
        def test_has_body(can):
            assert "body" in can

        @pytest.mark.requires("serial:modem")
        def test_needs_modem():
            raise AssertionError("must not run")

        @pytest.mark.requires("can:chassis", "power")
        def test_needs_chassis():
            raise AssertionError("must not run")
        """
    )
    result = project.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*bench 'default' (*virtual.toml) has no serial 'modem'*",
            "*bench 'default' (*virtual.toml) has no can 'chassis'*",
        ]
    )


def test_an_unknown_resource_kind_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        "import pytest\n@pytest.mark.requires('cann:body')\ndef test_x():\n    pass\n"
    )
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown resource kind 'cann' (did you mean 'can'?)*"])


def test_a_broken_bench_file_fails_each_test_with_one_line(project: pytest.Pytester) -> None:
    (project.path / "broken.toml").write_text('[can.body]\ninterface = "virtual"\nchanel = "x"\n')
    project.makepyfile("def test_a(can):\n    pass\n\ndef test_b(bench):\n    pass\n")
    result = project.runpytest_subprocess("--bench", "broken.toml")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            (
                "*harness: broken.toml: can.body.channel: missing (expected a string)"
                " (misspelled as 'chanel'?)"
            )
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()


def test_a_bench_naming_nothing_to_test_is_an_error(project: pytest.Pytester) -> None:
    (project.path / "empty.toml").write_text('[bench]\nname = "empty"\n')
    project.makepyfile("def test_a(bench):\n    pass\n")
    result = project.runpytest_subprocess("--bench", "empty.toml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*harness: empty.toml: names nothing to test (no CAN channel*"])
    assert "Traceback" not in result.stdout.str()


def test_a_bench_that_cannot_open_says_why(project: pytest.Pytester) -> None:
    (project.path / "bad.toml").write_text(
        bench_text("bad", "x").replace('"virtual"', '"no-such-interface"')
    )
    project.makepyfile("def test_a(can):\n    pass\n")
    result = project.runpytest_subprocess("--bench", "bad.toml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*harness: cannot open bench 'bad': cannot open CAN channel 'body'*"]
    )


def test_a_failed_expectation_shows_the_decoded_traffic_of_the_test(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        def test_door_unlocks(can, ecu):
            since = can.body.mark()
            ecu.send("Status", Locked="LOCKED", Speed=42)
            can.body.send("Req", Unlock=1)
            can.body.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=0.2)
        """
    )
    result = project.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ExpectationError: expected Status where Locked == 'UNLOCKED' on 'body' within 0.2 s*",
            "*closest miss at * Locked='LOCKED' (wanted 'UNLOCKED')*",
            "*channel 'body': 2 frames since the mark, * in all; trace: *.body.blf",
            "*- harness traffic -*",
            "channel 'body': 2 frames during the test, 2 since the mark; trace: *.body.blf:",
        ]
    )
    section = result.stdout.str().split("harness traffic")[1]
    assert "body rx Status Locked=LOCKED Speed=42 Counter=0" in section
    # one origin: the deciding frame has the same time in the headline and the section
    out = result.stdout.str()
    deciding = out.split("; deciding frame: ")[1].splitlines()[0]
    assert deciding.startswith("+")
    assert "rx Status Locked=LOCKED Speed=42" in deciding
    assert f"  {deciding}" in section
    assert "times from the failed expectation's mark, as in its message" in section
    assert "body tx Req Unlock=1 Level=7" in section
    assert "def decide" not in result.stdout.str()  # the traceback stops at the user's test


def test_periodic_messages_a_test_starts_stop_when_it_ends(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_first(can):
            can.body.send_periodic("Status", period=0.01)
            assert len(can.body.periodic) == 1

        def test_second(can):
            assert can.body.periodic == ()
        """
    )
    project.runpytest_subprocess().assert_outcomes(passed=2)


def test_figures_go_to_junit_without_a_warning(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_measures(record_figure):
            record_figure("latency_s", 0.0123)
        """
    )
    result = project.runpytest_subprocess(
        "--junitxml=junit.xml", "-W", "error::pytest.PytestWarning", "--harness-results", "none"
    )
    result.assert_outcomes(passed=1)
    assert "PytestWarning" not in result.stdout.str()  # an error here with -W error::
    text = (project.path / "junit.xml").read_text()
    nodeid = "test_figures_go_to_junit_without_a_warning.py::test_measures"
    assert f'<property name="{nodeid} latency_s" value="0.0123"' in text


def test_a_failed_test_over_doip_shows_the_doip_messages(pytester: pytest.Pytester) -> None:
    """No CAN trace holds UDS over DoIP: the tester's messages are the evidence."""
    virtual = Path(__file__).resolve().parents[2] / "fixtures" / "benches" / "virtual.toml"
    pytester.makepyfile(
        """
        def test_vin(uds):
            uds.session("extended")
            uds.unlock(1)
            assert uds.read_did("VIN") == "SOMETHING ELSE"
        """
    )
    result = pytester.runpytest_subprocess(
        "--bench", str(virtual), "--bench-set", "diagnostics.transport=doip"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- harness doip -*", "doip 127.0.0.1:* DoIP messages:"])
    section = result.stdout.str().split("harness doip")[1]
    assert "doip tx routing activation request" in section
    assert "0x0E00->0x0010: ReadDataByIdentifier 22 f1 90" in section
    assert "0x0010->0x0E00: ReadDataByIdentifier positive 62 f1 90 57 44 45 4d 58" in section
    assert "SecurityAccess 27 02 00 00 00 00" in section  # the key never shown

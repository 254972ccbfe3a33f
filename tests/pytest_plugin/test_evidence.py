"""Evidence, exercised as users run it (pytest in a subprocess on a project): per-test
traces, JUnit properties, the results store, the HTML report, interrupted and crashed
runs, DUT identity stamping and a hostile DUT."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from click.testing import CliRunner

from harness.cli import cli
from harness.report.store import ResultsStore
from harness.trace.reader import read_trace

MINI = Path(__file__).resolve().parents[1] / "data" / "mini.dbc"

BENCH = f"""
[bench]
name = "evidence-bench"
description = "two channels, no hardware"
[dut]
name = "Mini ECU"
part_number = "MINI-0042"
[can.body]
interface = "virtual"
channel = "ev-body"
dbc = "{MINI}"
[can.chassis]
interface = "virtual"
channel = "ev-chassis"
dbc = "{MINI}"
"""

CONFTEST = """
import pytest

@pytest.fixture
def ecu(can):
    '''A second bus on the body channel, playing the ECU.'''
    import can as pycan
    from harness.canbus.channel import Channel
    with Channel("ecu", pycan.Bus(interface="virtual", channel="ev-body"), can.body.db) as ch:
        yield ch
"""

TESTS = """
import pytest

pytestmark = pytest.mark.requirement("REQ-SUITE")

@pytest.mark.requirement("REQ-ECU-001", clause="ISO 14229-1 10.3")
def test_request_is_answered(can, ecu):
    since = can.body.mark()
    ecu.send("Status", Locked=1, Speed=10)
    can.body.wait_for("Status", since=since, timeout=30)

@pytest.mark.requirement("REQ-ECU-002", "REQ-ECU-003")
def test_unlock_is_confirmed(can, ecu):
    since = can.body.mark()
    can.body.send("Req", Unlock=1)
    for speed in (0, 5, 10):
        ecu.send("Status", Locked=1, Speed=speed)
    can.body.wait_for("Status", where={"Locked": 0}, since=since, timeout=0.2)

def test_without_the_bench():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    benches = pytester.path / "fixtures" / "benches"
    benches.mkdir(parents=True)
    (benches / "virtual.toml").write_text(BENCH)
    pytester.makeconftest(CONFTEST)
    return pytester


def only_run(project: pytest.Pytester) -> tuple[Path, ResultsStore]:
    runs = list((project.path / "results" / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0], ResultsStore.open(project.path / "results" / "harness.sqlite", create=False)


def _junit_properties(root: ET.Element, nodeid: str) -> list[tuple[str, str]]:
    """A test's JUnit properties: under xunit2 testsuite properties named ``NODEID NAME``."""
    prefix = f"{nodeid} "
    return [
        (str(p.get("name")).removeprefix(prefix), str(p.get("value")))
        for p in root.iter("property")
        if str(p.get("name")).startswith(prefix)
    ]


def test_a_run_leaves_traces_junit_report_and_store(project: pytest.Pytester) -> None:
    project.makepyfile(test_ecu=TESTS)
    result = project.runpytest_subprocess("--junitxml=junit.xml")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*- harness evidence -*", "run *: results/runs/*", "report: results/runs/*/report.html"]
    )
    run_dir, store = only_run(project)

    # traces: every channel of the failing test, none of the passing ones (default: failed)
    traces = sorted(p.name for p in (run_dir / "traces").iterdir())
    assert traces == [
        "test_ecu.test_unlock_is_confirmed.body.blf",
        "test_ecu.test_unlock_is_confirmed.chassis.blf",
    ]
    body = list(read_trace(run_dir / "traces" / traces[0]))
    assert [(m.arbitration_id, m.is_rx) for m in body] == [(256, False)] + [(272, True)] * 3
    assert list(read_trace(run_dir / "traces" / traces[1])) == []
    # the failure message and the traffic section name the trace
    footer = "E *channel 'body': * frames since the mark, * in all; trace: *"
    result.stdout.fnmatch_lines([footer + "test_unlock_is_confirmed.body.blf"])

    # the store: the run, its DUT, each result with requirements and files
    with store:
        run = store.run("latest")
    assert run.summary.state == "failed"
    assert run.summary.part_number == "MINI-0042"
    outcomes = {r.name: r.outcome for r in run.results}
    assert outcomes == {
        "test_request_is_answered": "passed",
        "test_unlock_is_confirmed": "failed",
        "test_without_the_bench": "passed",
    }
    failed = next(r for r in run.results if r.outcome == "failed")
    assert [str(q) for q in failed.requirements] == ["REQ-ECU-002", "REQ-ECU-003", "REQ-SUITE"]
    assert "expected Status where Locked == 0" in failed.message
    assert [name for name, _ in failed.sections] == ["harness traffic"]
    assert [a.label for a in failed.artifacts] == ["body", "chassis"]
    (plot,) = failed.plots
    assert plot["message"] == "Status"
    assert next(iter(plot["signals"])) == "Locked"  # the signal the expectation named first
    assert plot["signals"]["Speed"]["v"] == [0.0, 5.0, 10.0]
    assert {a.kind for a in run.artifacts} == {"report", "junit"}

    # JUnit: suite properties (run, bench, DUT) and per-test requirements and traces
    root = ET.parse(project.path / "junit.xml").getroot()
    suite = {
        p.get("name"): p.get("value")
        for p in root.iter("property")
        if p.get("name") in ("bench", "dut.part_number", "dut.name", "harness_run")
    }
    assert suite == {
        "bench": "evidence-bench",
        "dut.part_number": "MINI-0042",
        "dut.name": "Mini ECU",
        "harness_run": run.summary.id,
    }
    assert not [c for c in root.iter("testcase") if c.find("properties") is not None]
    props = _junit_properties(root, "test_ecu.py::test_request_is_answered")
    assert props == [
        ("requirement", "REQ-ECU-001"),
        ("clause", "REQ-ECU-001: ISO 14229-1 10.3"),
        ("requirement", "REQ-SUITE"),
    ]
    failing = dict(_junit_properties(root, "test_ecu.py::test_unlock_is_confirmed"))
    assert str(failing["trace.body"]).endswith("test_ecu.test_unlock_is_confirmed.body.blf")
    assert (run_dir / "junit.xml").is_file()  # kept with the run

    # the HTML report and the command line
    html = (run_dir / "report.html").read_text()
    assert "REQ-ECU-001" in html
    assert "ISO 14229-1 10.3" in html
    assert 'href="traces/test_ecu.test_unlock_is_confirmed.body.blf"' in html
    assert "data:image/png;base64," in html
    assert (project.path / "results" / "latest").resolve() == run_dir.resolve()
    store_path = str(project.path / "results" / "harness.sqlite")
    listed = CliRunner().invoke(cli, ["results", "dut", "MINI-0042", "--store", store_path])
    assert listed.exit_code == 0, listed.output
    assert run.summary.id in listed.output


FILES = """
from harness.pytest_plugin.evidence import add_artifact

def test_with_a_file_of_its_own(evidence, request):
    path = evidence.path(".scope.csv")
    path.write_text("t,v\\n0,1\\n")
    add_artifact(request.node, path, "scope", "csv")
"""


def test_keep_all_in_asc_to_a_store_of_its_own(project: pytest.Pytester) -> None:
    """Ini options, the store option, and a file another layer adds to a test."""
    project.makepyfile(test_ecu=TESTS, test_files=FILES)
    project.makeini("[pytest]\nharness_trace_format = asc\nharness_keep_traces = all\n")
    project.runpytest_subprocess(
        "-k", "answered or file", "--harness-store", "lab.sqlite", "--junitxml=junit.xml"
    ).assert_outcomes(passed=2)
    (run_dir,) = (project.path / "results" / "runs").iterdir()
    names = sorted(p.name for p in (run_dir / "traces").iterdir())
    assert names == [
        "test_ecu.test_request_is_answered.body.asc",
        "test_ecu.test_request_is_answered.chassis.asc",
        "test_files.test_with_a_file_of_its_own.body.asc",
        "test_files.test_with_a_file_of_its_own.chassis.asc",
        "test_files.test_with_a_file_of_its_own.scope.csv",
    ]
    assert [m.arbitration_id for m in read_trace(run_dir / "traces" / names[0])] == [272]
    assert not (project.path / "results" / "harness.sqlite").exists()
    with ResultsStore.open(project.path / "lab.sqlite", create=False) as store:
        results = {r.name: r for r in store.run("latest").results}
    assert len(results) == 2
    files = results["test_with_a_file_of_its_own"].artifacts
    assert [(a.kind, a.label) for a in files] == [
        ("trace", "body"),
        ("trace", "chassis"),
        ("scope", "csv"),
    ]
    root = ET.parse(project.path / "junit.xml").getroot()
    assert "scope.csv" in dict(
        _junit_properties(root, "test_files.py::test_with_a_file_of_its_own")
    )


def test_results_none_records_nothing(project: pytest.Pytester) -> None:
    project.makepyfile(test_ecu=TESTS)
    project.runpytest_subprocess("--harness-results", "none", "-k", "not unlock").assert_outcomes(
        passed=2
    )
    assert not (project.path / "results").exists()


INTERRUPTED = """
import os, signal
import pytest

def test_first(can):
    can.body.send("Req", Unlock=1)

@pytest.mark.requirement("REQ-STOP", clause="ISO 1 2")
def test_interrupted(can):
    for n in range(50):
        can.body.send("Req", Unlock=n % 2, Level=n)
    {stop}

def test_never_runs(can):
    pass
"""


@pytest.mark.parametrize(
    ("stop", "status"),
    [
        ("raise KeyboardInterrupt", "interrupted"),
        ("os.kill(os.getpid(), signal.SIGTERM)", "interrupted"),
        ("os._exit(3)", "incomplete"),
    ],
    ids=["ctrl-c", "sigterm", "crash"],
)
def test_a_run_stopped_halfway_keeps_readable_traces_and_what_finished(
    project: pytest.Pytester, stop: str, status: str
) -> None:
    project.makepyfile(test_stop=INTERRUPTED.format(stop=stop))
    project.runpytest_subprocess()
    run_dir, store = only_run(project)
    with store:
        run = store.run("latest")
    assert run.summary.state == status
    assert not run.summary.complete
    outcomes = {r.name: r.outcome for r in run.results}
    assert outcomes["test_first"] == "passed"
    assert "test_never_runs" not in outcomes
    trace = run_dir / "traces" / "test_stop.test_interrupted.body.blf"
    levels = [m.data[1] for m in read_trace(trace)]
    if status == "interrupted":
        assert outcomes["test_interrupted"] == "interrupted"
        # stored with its requirement, which reads interrupted, not passed
        assert [(r.id, r.verdict, r.clauses) for r in run.requirements] == [
            ("REQ-STOP", "interrupted", ["ISO 1 2"])
        ]
        assert levels == list(range(50))
        html = (run_dir / "report.html").read_text()
        assert "INTERRUPTED" in html
    else:  # killed: the store keeps what finished; the trace what reached the disk
        assert "test_interrupted" not in outcomes
        assert levels == list(range(len(levels)))


HOSTILE = """
from harness.report import identity

calls = []

def hostile(bench):
    calls.append(1)
    return {
        "vin": "<script>document.title='PWNED'</script>",
        "software_version": f"<img src=x onerror=alert({len(calls)})>",
    }

identity.register("hostile", hostile)
"""


def test_a_hostile_dut_is_escaped_and_its_reflash_midway_flagged(project: pytest.Pytester) -> None:
    """The DUT answers markup, and a different software version at the end of the run."""
    (project.path / "conftest.py").write_text(CONFTEST + HOSTILE)
    project.makepyfile(test_ecu=TESTS)
    result = project.runpytest_subprocess("--junitxml=junit.xml", "-k", "not unlock")
    result.assert_outcomes(passed=2)
    changed = "'<img src=x onerror=alert(1)>' -> '<img src=x onerror=alert(2)>'"
    result.stdout.fnmatch_lines([f"*DUT identity changed during the run: *(hostile): {changed}*"])
    run_dir, store = only_run(project)
    with store:
        assert store.run("latest").summary.identity_changed
    html = (run_dir / "report.html").read_text()
    assert "<script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert 'id="identity-changed"' in html
    root = ET.parse(project.path / "junit.xml").getroot()
    names = [p.get("name") for p in root.iter("property")]
    assert "dut_identity_changed" in names


def test_a_malformed_requirement_marker_stops_the_run(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest

        @pytest.mark.requirement(clause="ISO 14229-1")
        def test_x():
            pass
        """
    )
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x: requirement() needs at least one requirement ID*"])


def test_the_store_option_takes_a_file(project: pytest.Pytester) -> None:
    project.makepyfile(test_ecu=TESTS)
    project.runpytest_subprocess("--harness-store", "lab.sqlite", "-k", "answered")
    with sqlite3.connect(project.path / "lab.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone() == (1,)


def test_measured_figures_reach_store_report_and_junit(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_figures="""
        import pytest

        def test_start_up(bench, record_figure):
            record_figure("start_up_s", 0.0425)
            record_figure("frames", 12)

        def test_a_figure_is_a_number(bench, record_figure):
            with pytest.raises(TypeError, match="a figure is a number"):
                record_figure("state", "fast")
        """
    )
    result = project.runpytest_subprocess(
        "--junitxml=junit.xml", "-W", "error::pytest.PytestWarning"
    )
    result.assert_outcomes(passed=2)
    run_dir, store = only_run(project)
    with store:
        run = store.run("latest")
    figures = {r.name: r.figures for r in run.results}
    assert figures == {
        "test_start_up": {"start_up_s": 0.0425, "frames": 12.0},
        "test_a_figure_is_a_number": {},
    }
    report = (run_dir / "report.html").read_text()
    assert "frames = 12<br>start_up_s = 0.0425" in report  # by name
    root = ET.parse(project.path / "junit.xml").getroot()
    props = dict(_junit_properties(root, "test_figures.py::test_start_up"))
    assert (props["start_up_s"], props["frames"]) == ("0.0425", "12")


JUNIT_XSD = Path(__file__).parent.parent / "data" / "junit-10.xsd"


def test_every_run_folder_holds_a_junit_that_validates(project: pytest.Pytester) -> None:
    """No --junitxml: the run still writes one beside its report, valid under pytest's
    default xunit2 (no testcase <properties>), the requirements still in it."""
    project.makepyfile(test_ecu=TESTS)
    project.runpytest_subprocess().assert_outcomes(passed=2, failed=1)
    junit = project.path / "results" / "latest" / "junit.xml"
    assert junit.is_file()
    assert not list((project.path / "results").glob(".junit-*.xml"))  # moved, not copied
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(junit))
    root = ET.parse(junit).getroot()
    props = _junit_properties(root, "test_ecu.py::test_request_is_answered")
    assert ("requirement", "REQ-ECU-001") in props


def test_under_xunit1_the_properties_are_the_testcases(project: pytest.Pytester) -> None:
    project.makepyfile(test_ecu=TESTS)
    result = project.runpytest_subprocess("-o", "junit_family=xunit1")
    result.assert_outcomes(passed=2, failed=1)
    root = ET.parse(project.path / "results" / "latest" / "junit.xml").getroot()
    case = next(c for c in root.iter("testcase") if c.get("name") == "test_request_is_answered")
    names = [p.get("name") for p in case.iter("property")]
    assert names == ["requirement", "clause", "requirement"]


SPREAD = """
import os

import pytest

from harness.pytest_plugin.evidence import add_artifact

@pytest.mark.xdist_group("one")
@pytest.mark.requirement("REQ-W-1")
def test_on_one_worker(can, evidence, request, record_figure):
    '''Sends a frame (recorded in its trace) and names its worker in a file of its own.'''
    can.body.send("Req", Unlock=1)
    path = evidence.path(".worker.txt")
    path.write_text(os.environ["PYTEST_XDIST_WORKER"])
    add_artifact(request.node, path, "worker", os.environ["PYTEST_XDIST_WORKER"])
    record_figure("frames", 1)

@pytest.mark.xdist_group("two")
@pytest.mark.requirement("REQ-W-2")
def test_on_the_other_worker(can, evidence, request):
    can.body.send("Req", Unlock=0)
    path = evidence.path(".worker.txt")
    path.write_text(os.environ["PYTEST_XDIST_WORKER"])
    add_artifact(request.node, path, "worker", os.environ["PYTEST_XDIST_WORKER"])
    assert False, "fails on purpose"

@pytest.mark.xdist_group("three")
def test_on_a_worker_that_never_opens_the_bench():
    pass
"""


def test_under_xdist_the_controller_records_one_run_of_every_worker(
    project: pytest.Pytester,
) -> None:
    """Workers, each its own bench: one run in the store with every result (also of a
    worker that never opened a bench), one report, one run folder with the workers'
    traces, the DUT in the JUnit (once), the workers' per-test properties and figures,
    the identity change each worker saw."""
    (project.path / "conftest.py").write_text(CONFTEST + HOSTILE)
    project.makepyfile(test_spread=SPREAD)
    result = project.runpytest_subprocess(
        "-n", "3", "--dist", "loadgroup", "--junitxml=junit.xml", "--harness-keep-traces", "all"
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- harness evidence -*",
            "run *: results/runs/*",
            "report: results/runs/*/report.html",
            "results store: results/harness.sqlite",
            "DUT identity changed during the run: *(hostile)*",
        ]
    )
    run_dir, store = only_run(project)
    with store:
        run = store.run("latest")
        assert len(store.runs()) == 1
    assert run.summary.state == "failed"
    assert run.summary.complete
    assert run.summary.part_number == "MINI-0042"
    assert run.summary.identity_changed
    results = {r.name: r for r in run.results}
    assert {n: r.outcome for n, r in results.items()} == {
        "test_on_one_worker": "passed",
        "test_on_the_other_worker": "failed",
        "test_on_a_worker_that_never_opens_the_bench": "passed",
    }
    workers = {a.label for r in run.results for a in r.artifacts if a.kind == "worker"}
    assert len(workers) == 2  # each test ran on a worker of its own (which ones xdist picks)
    assert workers <= {"gw0", "gw1", "gw2"}
    assert results["test_on_one_worker"].figures == {"frames": 1.0}
    assert [str(q) for q in results["test_on_the_other_worker"].requirements] == ["REQ-W-2"]
    assert "fails on purpose" in results["test_on_the_other_worker"].message

    traces = sorted(p.name for p in (run_dir / "traces").glob("*.blf"))
    assert traces == [
        "test_spread.test_on_one_worker.body.blf",
        "test_spread.test_on_one_worker.chassis.blf",
        "test_spread.test_on_the_other_worker.body.blf",
        "test_spread.test_on_the_other_worker.chassis.blf",
    ]
    sent = list(read_trace(run_dir / "traces" / traces[0]))
    assert [(m.arbitration_id, m.is_rx) for m in sent] == [(256, False)]

    html = (run_dir / "report.html").read_text()
    assert "test_on_one_worker" in html
    assert "test_on_the_other_worker" in html
    assert "REQ-W-2" in html

    root = ET.parse(project.path / "junit.xml").getroot()
    suite = [
        (p.get("name"), p.get("value"))
        for p in root.iter("property")
        if p.get("name") in ("bench", "dut.part_number", "harness_run")
    ]
    assert suite == [
        ("harness_run", run.summary.id),
        ("bench", "evidence-bench"),
        ("dut.part_number", "MINI-0042"),
    ]  # each once, though both workers sent them
    names = [p.get("name") for p in root.iter("property")]
    assert "dut_identity_changed" in names
    assert ("requirement", "REQ-W-1") in _junit_properties(
        root, "test_spread.py::test_on_one_worker"
    )
    props = dict(_junit_properties(root, "test_spread.py::test_on_one_worker"))
    assert props["frames"] == "1"
    assert props["trace.body"].endswith("test_spread.test_on_one_worker.body.blf")
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(run_dir / "junit.xml"))


def test_under_xdist_results_none_records_nothing(project: pytest.Pytester) -> None:
    project.makepyfile(test_ecu=TESTS)
    result = project.runpytest_subprocess("-n", "2", "--harness-results", "none")
    result.assert_outcomes(passed=2, failed=1)
    assert not (project.path / "results").exists()
    assert "harness evidence" not in result.stdout.str()

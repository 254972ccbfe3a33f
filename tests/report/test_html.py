"""The HTML report: built from the store, self-contained, every DUT string escaped; checked
as a person would see it, in headless Chromium (the DOM it builds and a screenshot)."""

from __future__ import annotations

from pathlib import Path

from browser import run_chromium

from harness.report.html import identity_rows, render_report, write_report
from harness.report.identity import IdentityReading, Value
from harness.report.store import (
    Artifact,
    Requirement,
    ResultsStore,
    RunInfo,
    RunRecord,
    TestResult,
)

XSS_VIN = "<script>document.title='PWNED'</script>"
XSS_SW = "<img src=x onerror=\"document.title='PWNED'\">"
XSS_SERIAL = "[/oops]<svg onload=\"document.title='PWNED'\">{{ 7*7 }}"
"""Rich markup, an SVG handler and template syntax: shown as written, nothing runs."""
XSS_PART = 'BCM-1</td></tr></table><h1 id="injected">x</h1><!--'
"""Markup that would close the table and start an element, or comment the page out."""

PLOT = {
    "channel": "body",
    "message": "BCM_DoorStatus",
    "failed_at": 0.3,
    "headline": "expected BCM_DoorStatus where DriverDoorLocked == 'UNLOCKED'",
    "signals": {
        "DriverDoorLocked": {
            "t": [0.0, 0.1, 0.2],
            "v": [1.0, 1.0, 1.0],
            "names": {"0": "UNLOCKED", "1": "LOCKED"},
        },
        "BCM_Counter": {"t": [0.0, 0.1, 0.2], "v": [1.0, 2.0, 3.0], "names": {}},
    },
}


def make_run(tmp_path: Path, *, finish: bool = True, end_sw: str = XSS_SW) -> RunRecord:
    """A run with a hostile DUT, a pass, a failure with evidence and a skip, via the store."""
    traces = tmp_path / "results" / "runs" / "r1" / "traces"
    traces.mkdir(parents=True)
    trace = traces / "test_doors.test_unlock.body.blf"
    trace.write_bytes(b"")
    with ResultsStore.open(tmp_path / "results" / "harness.sqlite") as store:
        store.start_run(
            RunInfo(
                id="r1",
                started_at=1_700_000_000.0,
                bench_name="lab <b>3</b>",
                bench={
                    "name": "lab <b>3</b>",
                    "description": "desc",
                    "file": "benches/lab3.toml",
                    "channels": [
                        {
                            "name": "body",
                            "interface": "pcan",
                            "channel": "PCAN_USBBUS1",
                            "bitrate": 500000,
                            "fd": False,
                            "data_bitrate": None,
                            "dbc": "demo.dbc",
                            "dut_node": "BCM",
                        }
                    ],
                    "simulation": [],
                    "serial": [{"name": "modem", "kind": "modem"}],
                },
                environment={
                    "harness": "0.1.0",
                    "python": "3.11",
                    "platform": "Linux",
                    "packages": {"python-can": "4.6.1"},
                },
                results_dir=str(tmp_path / "results"),
                command="pytest testsuites/examples",
                host="bench-pc",
            )
        )
        start = IdentityReading(read_at=1.0)
        start.entries = [
            Value("uds", "vin", XSS_VIN),
            Value("uds", "software_version", XSS_SW),
            Value("uds", "part_number", XSS_PART),
            Value("uds", "serial_number", XSS_SERIAL),
        ]
        store.record_identity("r1", "start", start)
        end = IdentityReading(read_at=2.0)
        end.entries = [Value("uds", "vin", XSS_VIN), Value("uds", "software_version", end_sw)]
        store.record_identity("r1", "end", end)
        store.record_result(
            "r1",
            TestResult(
                "t/test_doors.py::test_lock",
                "t/test_doors.py",
                "test_lock",
                "passed",
                0.1,
                1.0,
                requirements=[Requirement("REQ-1", "ISO 1 2.3")],
            ),
        )
        store.record_result(
            "r1",
            TestResult(
                "t/test_doors.py::test_unlock",
                "t/test_doors.py",
                "test_unlock",
                "failed",
                0.5,
                2.0,
                message="ExpectationError: expected <UNLOCKED>",
                longrepr="Traceback <most recent>",
                sections=[("harness traffic", "channel 'body': <frames>")],
                plots=[PLOT],
                requirements=[Requirement("REQ-1"), Requirement("REQ-2", "ISO 1 4.5")],
                artifacts=[Artifact("trace", str(trace), "body")],
            ),
        )
        store.record_result(
            "r1",
            TestResult(
                "t/test_more.py::test_skip",
                "t/test_more.py",
                "test_skip",
                "skipped",
                0.0,
                3.0,
                message="no modem",
                requirements=[Requirement("REQ-3")],
            ),
        )
        if finish:
            store.finish_run("r1", "failed", 1_700_000_010.0, 1)
        return store.run("r1")


def test_every_dut_string_is_escaped_and_the_page_runs_nothing(tmp_path: Path) -> None:
    html = render_report(make_run(tmp_path), tmp_path)
    assert "<script" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in html
    assert "lab &lt;b&gt;3&lt;/b&gt;" in html
    assert "Content-Security-Policy" in html
    assert "default-src 'none'" in html


def test_the_report_is_self_contained_with_plots_and_relative_links(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    path = write_report(run, tmp_path / "results" / "runs" / "r1" / "report.html")
    html = path.read_text()
    assert html.count('src="data:image/png;base64,') == 1
    assert 'href="traces/test_doors.test_unlock.body.blf"' in html
    assert "http://" not in html
    assert "https://" not in html
    assert "FAILED: 1 of 3 tests" in html
    assert "REQ-2" in html
    assert "ISO 1 4.5" in html


def test_links_never_become_urls(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    run.results[1].artifacts = [Artifact("trace", "javascript:alert(1)", "evil")]
    html = render_report(run, tmp_path)
    assert 'href="javascript' not in html
    assert "javascript%3Aalert%281%29" in html


def test_requirements_get_one_verdict_from_all_their_tests(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    rows = {row.id: row for row in run.requirements}
    assert rows["REQ-1"].verdict == "failed"
    assert [nodeid for nodeid, _ in rows["REQ-1"].tests] == [
        "t/test_doors.py::test_lock",
        "t/test_doors.py::test_unlock",
    ]
    assert rows["REQ-1"].clauses == ["ISO 1 2.3"]
    assert rows["REQ-2"].verdict == "failed"
    assert rows["REQ-3"].verdict == "not tested"  # only a skipped test names it
    html = render_report(run, tmp_path, plots=False)
    assert "2 failed</span><span" in html.split('id="requirement-counts"')[1]
    assert "1 not tested" in html.split('id="requirement-counts"')[1].split("</p>")[0]


def test_a_changed_identity_is_marked(tmp_path: Path) -> None:
    rows = {row.key: row for row in identity_rows(make_run(tmp_path, end_sw="2.0"))}
    assert rows["software_version"].changed
    assert rows["software_version"].end == "2.0"
    assert not rows["vin"].changed
    assert rows["part_number"].end is None  # not read at the end: no change claimed
    assert list(rows)[:4] == ["vin", "part_number", "serial_number", "software_version"]


def test_an_unfinished_run_says_so(tmp_path: Path) -> None:
    html = render_report(make_run(tmp_path, finish=False), tmp_path, plots=False)
    assert "INCOMPLETE" in html
    assert "did not finish" in html


def test_chromium_shows_the_report_and_runs_no_dut_markup(tmp_path: Path) -> None:
    from PIL import Image

    run = make_run(tmp_path, end_sw="<b>2.0</b>")
    path = write_report(run, tmp_path / "results" / "runs" / "r1" / "report.html")
    url = path.resolve().as_uri()
    dom = run_chromium(tmp_path, "--dump-dom", url).stdout
    # the DOM Chromium built: the hostile strings are text, not elements, and nothing ran
    assert "<title>Test report r1: failed</title>" in dom
    assert "PWNED</title>" not in dom
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom
    assert '<img src="x"' not in dom
    assert dom.count("<script") == 0
    assert dom.count('<img class="plot"') == 1
    assert "FAILED: 1 of 3 tests" in dom
    assert 'id="identity-changed"' in dom
    assert "&lt;b&gt;2.0&lt;/b&gt;" in dom
    assert '<h1 id="injected"' not in dom  # the part number closed no table, made no element
    assert (
        'BCM-1&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;h1 id="injected"&gt;x&lt;/h1&gt;&lt;!--'
        in dom
    )
    assert "[/oops]&lt;svg onload=\"document.title='PWNED'\"&gt;{{ 7*7 }}" in dom
    assert "<svg" not in dom
    assert dom.rstrip().endswith("</html>")  # nothing commented the rest of the page out
    assert 'id="versions-table"' in dom

    shot = tmp_path / "report.png"
    run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", url)
    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        # the red "FAILED" banner is painted near the top
        banner = [rgb.getpixel((x, y)) for y in range(40, 160, 4) for x in (100, 600)]
    assert (0xC6, 0x28, 0x28) in banner
    assert len(colours) > 50  # text, tables and a plot, not a blank page

"""``harness results list|show|dut`` and ``harness report``, on a store filled through its API."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli, main
from harness.report.identity import IdentityReading, Value
from harness.report.store import Artifact, Requirement, ResultsStore, RunInfo, TestResult


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "results" / "harness.sqlite"
    with ResultsStore.open(path) as store:
        for n, (software, status) in enumerate([("1.0", "passed"), ("1.1", None)]):
            run_id = f"2025010{n + 1}-120000-abc{n}"
            store.start_run(
                RunInfo(
                    run_id,
                    1_735_732_800.0 + 86400 * n,
                    "lab-3",
                    {"name": "lab-3"},
                    {"harness": "0.1.0"},
                    str(tmp_path / "results"),
                    "pytest",
                    "pc",
                )
            )
            reading = IdentityReading(read_at=1.0)
            reading.entries = [
                Value("uds", "part_number", "BCM-4711"),
                Value("uds", "serial_number", f"SN{n}"),
                Value("uds", "software_version", software),
            ]
            store.record_identity(run_id, "start", reading)
            store.record_result(
                run_id,
                TestResult(
                    "s/test_a.py::test_x",
                    "s/test_a.py",
                    "test_x",
                    "passed" if status else "failed",
                    0.5,
                    1.0,
                    message="" if status else "expected LOCKED",
                    requirements=[Requirement("REQ-7", "ISO 14229-1 9.2")],
                    artifacts=[Artifact("trace", "/r/x.body.blf", "body")],
                    figures={"start_up_s": 0.0425},
                ),
            )
            if status:
                store.finish_run(run_id, status, 1_735_732_900.0, 0)
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_list_shows_runs_newest_first_and_an_unfinished_one_as_incomplete(
    store_path: Path,
) -> None:
    code, out = invoke("results", "list", "--store", str(store_path))
    assert code == 0
    assert out.index("20250102-120000-abc1") < out.index("20250101-120000-abc0")
    assert "incomplete" in out
    assert "1 failed" in out
    assert "BCM-4711" in out


def test_dut_lists_the_part_across_firmware_versions(store_path: Path) -> None:
    code, out = invoke("results", "dut", "BCM-4711", "--store", str(store_path))
    assert code == 0
    assert "2 run(s)" in out
    assert out.index("1.0") < out.index("1.1")
    code, out = invoke("results", "dut", "NOPE", "--store", str(store_path))
    assert code == 2  # bad input: a part the store does not hold
    assert "no runs of part number 'NOPE'; part numbers in the store: BCM-4711" in out


def test_show_prints_identity_tests_and_files(store_path: Path) -> None:
    code, out = invoke("results", "show", "20250102", "--store", str(store_path))
    assert code == 0, out
    for text in ("software version", "1.1", "test_x", "REQ-7 (ISO 14229-1 9.2)", "x.body.blf"):
        assert text in out
    for text in ("measured", "start_up_s", "0.0425"):  # the column may fold its cells
        assert text in out


def test_report_rebuilds_the_html(store_path: Path, tmp_path: Path) -> None:
    code, out = invoke("report", "latest", "--store", str(store_path))
    assert code == 0, out
    built = tmp_path / "results" / "runs" / "20250102-120000-abc1" / "report.html"
    assert f"report of run 20250102-120000-abc1: {built}" in out
    assert "REQ-7" in built.read_text()
    code, _ = invoke(
        "report", "20250101", "--store", str(store_path), "-o", str(tmp_path / "a.html")
    )
    assert code == 0
    assert (tmp_path / "a.html").is_file()


def test_the_store_comes_from_the_environment(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_STORE", str(store_path))
    code, out = invoke("results", "list")
    assert code == 0
    assert "lab-3" in out


def test_errors_are_one_line_naming_the_store_or_run(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, expected in [
        (
            ["results", "list", "--store", str(tmp_path / "none.sqlite")],
            "none.sqlite: no results store here",
        ),
        (["results", "show", "nope", "--store", str(store_path)], "no run 'nope'"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ")
        assert expected in err


def test_show_prints_stored_strings_as_text_never_as_markup(tmp_path: Path) -> None:
    """A supplier named ``[/oops]`` raised rich's MarkupError; ``[body/BCM_DoorStatus]`` in
    a test id vanished; ``:smile:`` would become an emoji."""
    path = tmp_path / "harness.sqlite"
    nodeid = "s/test_a.py::test_x[body/BCM_DoorStatus]"
    with ResultsStore.open(path) as store:
        store.start_run(
            RunInfo("r1", 1.0, "lab [bold]3[/bold]", {}, {}, str(tmp_path), "pytest", "pc")
        )
        reading = IdentityReading(read_at=1.0)
        reading.entries = [
            Value("uds", "supplier", "[/oops]"),
            Value("uds", "vin", "[red]VIN[/red] :smile:"),
        ]
        store.record_identity("r1", "start", reading)
        store.record_result(
            "r1",
            TestResult(
                nodeid,
                "s/test_a.py",
                "test_x[body/BCM_DoorStatus]",
                "interrupted",
                0.1,
                1.0,
                message="[/] the run was interrupted",
                requirements=[Requirement("[REQ-1]", "[ISO 1]")],
            ),
        )
    code, out = invoke("results", "show", "r1", "--store", str(path))
    assert code == 0, out
    for text in (
        "[/oops]",
        "[red]VIN[/red] :smile:",
        "lab [bold]3[/bold]",
        nodeid,
        "[/] the run was interrupted",
        "[REQ-1] ([ISO 1])",
    ):
        assert text in out
    assert "1 interrupted" in out.split("its tests", 1)[1]  # the requirement's verdict


def test_show_gives_each_requirement_its_verdict(store_path: Path) -> None:
    code, out = invoke("results", "show", "20250102", "--store", str(store_path))
    assert code == 0, out
    requirements = out.split("its tests", 1)[1]
    assert "REQ-7" in requirements
    assert "failed" in requirements
    assert "1 failed" in requirements

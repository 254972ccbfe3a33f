"""The results store, on SQLite and on a real PostgreSQL server: runs, DUTs, results,
artifacts; incomplete runs; history of a part; values never formatted into SQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.exceptions import ResultsStoreError
from harness.report.identity import IdentityReading, Value
from harness.report.store import (
    Artifact,
    Requirement,
    ResultsStore,
    RunInfo,
    TestResult,
    redact,
)


def run_info(run_id: str, started: float = 1_700_000_000.0) -> RunInfo:
    return RunInfo(
        id=run_id,
        started_at=started,
        bench_name="lab-3",
        bench={"name": "lab-3", "channels": [{"name": "body"}]},
        environment={"harness": "0.1.0", "packages": {"python-can": "4.6.1"}},
        results_dir="/results",
        command="pytest testsuites/examples",
        host="bench-pc",
    )


def reading(**values: str) -> IdentityReading:
    found = IdentityReading(read_at=1_700_000_001.0)
    found.entries = [Value("uds", key, value) for key, value in values.items()]
    return found


def result(nodeid: str, outcome: str = "passed", **changes: object) -> TestResult:
    path, _, name = nodeid.partition("::")
    made = TestResult(nodeid, path, name, outcome, 0.25, 1_700_000_002.0)
    for key, value in changes.items():
        setattr(made, key, value)
    return made


def test_a_run_round_trips_with_identity_results_and_files(store_target: str) -> None:
    with ResultsStore.open(store_target) as store:
        store.start_run(run_info("20250101-100000-aaaa"))
        store.record_identity(
            "20250101-100000-aaaa",
            "start",
            reading(part_number="BCM-1", serial_number="SN1", software_version="1.0"),
        )
        store.record_result(
            "20250101-100000-aaaa",
            result(
                "suite/test_a.py::test_ok",
                requirements=[Requirement("REQ-1", "ISO 14229-1 10.3"), Requirement("REQ-2")],
            ),
        )
        store.record_result(
            "20250101-100000-aaaa",
            result(
                "suite/test_a.py::test_bad",
                "failed",
                message="expected X",
                longrepr="Traceback...",
                sections=[("harness traffic", "channel 'body': 2 frames")],
                plots=[{"message": "M", "channel": "body", "signals": {}}],
                artifacts=[Artifact("trace", "/results/t.body.blf", "body")],
            ),
        )
        store.add_artifacts("20250101-100000-aaaa", [Artifact("report", "/r.html", "HTML")])
        store.finish_run("20250101-100000-aaaa", "failed", 1_700_000_010.0, 1)

    with ResultsStore.open(store_target, create=False) as store:
        run = store.run("20250101-100000-aaaa")
    assert run.summary.state == "failed"
    assert run.summary.complete
    assert (run.summary.part_number, run.summary.serial_number) == ("BCM-1", "SN1")
    assert run.summary.software_version == "1.0"
    assert run.summary.counts == {"passed": 1, "failed": 1}
    assert run.bench["channels"] == [{"name": "body"}]
    assert run.environment["packages"] == {"python-can": "4.6.1"}
    ok, bad = run.results
    assert [str(r) for r in ok.requirements] == ["REQ-1 (ISO 14229-1 10.3)", "REQ-2"]
    assert bad.message == "expected X"
    assert bad.sections == [("harness traffic", "channel 'body': 2 frames")]
    assert bad.plots[0]["message"] == "M"
    assert bad.artifacts == [Artifact("trace", "/results/t.body.blf", "body")]
    assert run.artifacts == [Artifact("report", "/r.html", "HTML")]
    assert [v.key for v in run.identity["start"]] == [
        "part_number",
        "serial_number",
        "software_version",
    ]


def test_a_run_that_never_finished_is_listed_as_incomplete(store_target: str) -> None:
    with ResultsStore.open(store_target) as store:
        store.start_run(run_info("crashed", started=1.0))
        store.record_result("crashed", result("t.py::test_before_the_crash"))
        store.start_run(run_info("stopped", started=2.0))
        store.finish_run("stopped", "interrupted", 3.0, 2)
    with ResultsStore.open(store_target, create=False) as store:
        runs = {run.id: run for run in store.runs()}
    assert runs["crashed"].state == "incomplete"
    assert not runs["crashed"].complete
    assert runs["crashed"].counts == {"passed": 1}
    assert runs["stopped"].state == "interrupted"
    assert not runs["stopped"].complete


def test_the_end_reading_flags_a_dut_that_changed(store_target: str) -> None:
    with ResultsStore.open(store_target) as store:
        store.start_run(run_info("flashed"))
        store.record_identity("flashed", "start", reading(part_number="P", software_version="1"))
        assert store.record_identity(
            "flashed", "end", reading(part_number="P", software_version="2")
        )
        store.start_run(run_info("same"))
        store.record_identity("same", "start", reading(part_number="P", software_version="1"))
        assert not store.record_identity(
            "same", "end", reading(part_number="P", software_version="1")
        )
        runs = {run.id: run for run in store.runs()}
    assert runs["flashed"].identity_changed
    assert not runs["same"].identity_changed


def test_the_history_of_a_part_spans_runs_serials_and_firmware(store_target: str) -> None:
    with ResultsStore.open(store_target) as store:
        for n, (part, serial, software) in enumerate(
            [("BCM-1", "SN1", "1.0"), ("OTHER", "SN9", "9"), ("BCM-1", "SN2", "1.1")]
        ):
            run_id = f"run-{n}"
            store.start_run(run_info(run_id, started=100.0 + n))
            store.record_identity(
                run_id,
                "start",
                reading(part_number=part, serial_number=serial, software_version=software),
            )
        history = store.dut_history("BCM-1")
        assert store.part_numbers() == ["BCM-1", "OTHER"]
    assert [(r.id, r.serial_number, r.software_version) for r in history] == [
        ("run-0", "SN1", "1.0"),
        ("run-2", "SN2", "1.1"),
    ]


def test_hostile_values_are_stored_as_data(store_target: str) -> None:
    """Quotes, semicolons and SQL in values go in as bound parameters."""
    evil = "x'); DROP TABLE runs; --"
    with ResultsStore.open(store_target) as store:
        store.start_run(run_info(evil))
        store.record_identity(evil, "start", reading(part_number=evil, vin="100% '?' \\"))
        store.record_result(evil, result(f"t.py::test[{evil}]", message=evil))
        assert [r.part_number for r in store.dut_history(evil)] == [evil]
        run = store.run(evil)
    assert run.results[0].message == evil
    assert {v.key: v.value for v in run.identity["start"]}["vin"] == "100% '?' \\"


def test_runs_are_found_by_prefix_or_latest(store_target: str) -> None:
    with ResultsStore.open(store_target) as store:
        store.start_run(run_info("20250101-100000-aaaa", started=1.0))
        store.start_run(run_info("20250101-100000-bbbb", started=2.0))
        assert store.resolve("latest") == "20250101-100000-bbbb"
        assert store.resolve("20250101-100000-a") == "20250101-100000-aaaa"
        with pytest.raises(ResultsStoreError, match="could be any of"):
            store.resolve("2025")
        with pytest.raises(ResultsStoreError, match="no run 'nope'.*harness results list"):
            store.resolve("nope")


def test_a_test_recorded_again_replaces_its_result(store_target: str) -> None:
    with ResultsStore.open(store_target) as store:
        store.start_run(run_info("rerun"))
        store.record_result("rerun", result("t.py::test_flaky", "failed"))
        store.record_result("rerun", result("t.py::test_flaky", "passed"))
        assert [r.outcome for r in store.run("rerun").results] == ["passed"]


def test_reading_a_missing_store_is_an_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.sqlite"
    with pytest.raises(ResultsStoreError, match=r"nothing\.sqlite: no results store here"):
        ResultsStore.open(missing, create=False)
    assert not missing.exists()


def test_a_store_from_a_newer_harness_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    ResultsStore.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE harness_schema SET version = 99")
    with pytest.raises(ResultsStoreError, match="newer harness"):
        ResultsStore.open(path)


def test_figures_round_trip_with_their_result(store_target: str) -> None:
    with ResultsStore.open(store_target) as store:
        store.start_run(run_info("20250101-100000-ffff"))
        store.record_result(
            "20250101-100000-ffff",
            result("suite/test_f.py::test_latency", figures={"latency_s": 0.0007, "n": 5.0}),
        )
        store.record_result("20250101-100000-ffff", result("suite/test_f.py::test_plain"))
    with ResultsStore.open(store_target, create=False) as store:
        figures = {r.name: r.figures for r in store.run("20250101-100000-ffff").results}
    assert figures == {"test_latency": {"latency_s": 0.0007, "n": 5.0}, "test_plain": {}}


def test_a_store_of_schema_1_is_brought_up_to_date(tmp_path: Path) -> None:
    """A store written before figures existed: opened to read (create=False) it gains the
    table and can hold figures; what it held is kept."""
    path = tmp_path / "store.sqlite"
    with ResultsStore.open(path) as store:
        store.start_run(run_info("20250101-100000-0001"))
        store.record_result("20250101-100000-0001", result("suite/test_a.py::test_old"))
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE figures")
        db.execute("ALTER TABLE requirements DROP COLUMN verdict")
        db.execute("UPDATE harness_schema SET version = 1")
    with ResultsStore.open(path, create=False) as store:
        assert [r.name for r in store.run("latest").results] == ["test_old"]
        store.record_result(
            "20250101-100000-0001", result("suite/test_a.py::test_new", figures={"x": 1.5})
        )
        assert store.run("latest").results[-1].figures == {"x": 1.5}
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM harness_schema").fetchall() == [(3,)]


def test_each_requirement_gets_a_verdict_with_not_tested_and_interrupted_apart(
    store_target: str,
) -> None:
    """Passed only when every test of it passed; a skip, a "not verified" skip and an
    interrupted test are counted apart, never as passes."""
    run_id = "20250101-100000-0001"
    cases = [
        ("test_ok", "passed", "", ["REQ-A", "REQ-B", "REQ-C", "REQ-D"]),
        ("test_skip", "skipped", "not tested: no cycle time declared", ["REQ-B"]),
        ("test_unverified", "skipped", "not verified: no checksum declared", ["REQ-C"]),
        ("test_cut", "interrupted", "the run was interrupted during this test", ["REQ-D"]),
        ("test_bad", "failed", "expected LOCKED", ["REQ-E"]),
    ]
    with ResultsStore.open(store_target) as store:
        store.start_run(run_info(run_id))
        for n, (name, outcome, message, ids) in enumerate(cases):
            made = result(f"s/test_v.py::{name}", outcome, message=message)
            made.requirements = [Requirement(i) for i in ids]
            made.started_at += n
            store.record_result(run_id, made)
        verdicts = {r.id: r for r in store.requirement_verdicts("latest")}
        assert store.run("latest").requirements == list(verdicts.values())
    assert {k: v.verdict for k, v in verdicts.items()} == {
        "REQ-A": "passed",
        "REQ-B": "not tested",
        "REQ-C": "not verified",
        "REQ-D": "interrupted",
        "REQ-E": "failed",
    }
    assert verdicts["REQ-B"].counts == {"not tested": 1, "passed": 1}
    assert verdicts["REQ-D"].tests == [
        ("s/test_v.py::test_ok", "passed"),
        ("s/test_v.py::test_cut", "interrupted"),
    ]


def test_a_store_of_schema_2_gains_requirement_verdicts_from_its_outcomes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    run_id = "20250101-100000-0001"
    with ResultsStore.open(path) as store:
        store.start_run(run_info(run_id))
        for name, outcome in [("test_a", "passed"), ("test_b", "skipped")]:
            store.record_result(
                run_id, result(f"s/t.py::{name}", outcome, requirements=[Requirement("R")])
            )
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE requirements DROP COLUMN verdict")
        db.execute("UPDATE harness_schema SET version = 2")
    with ResultsStore.open(path, create=False) as store:
        (requirement,) = store.requirement_verdicts(run_id)
    assert requirement.tests == [("s/t.py::test_a", "passed"), ("s/t.py::test_b", "not tested")]
    assert requirement.verdict == "not tested"
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM harness_schema").fetchall() == [(3,)]


def test_a_file_that_is_no_database_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    path.write_text("not sqlite " * 100)
    with pytest.raises(ResultsStoreError, match=r"store\.sqlite: cannot"):
        ResultsStore.open(path)


def test_an_unreachable_server_is_an_error_without_the_password() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(
        ResultsStoreError, match=r"harness:\*\*\*@127\.0\.0\.1:1/db: cannot connect"
    ) as info:
        ResultsStore.open("postgresql://harness:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(info.value)


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://h/db") == "postgresql://h/db"

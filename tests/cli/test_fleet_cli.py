"""Folders and globs of traces on Dask: ``harness decode --to parquet`` gives one dataset
equal to decoding each file alone, ``harness analyze`` one summary naming the recording;
a damaged file stops only itself. A two-worker local cluster, as CI runs it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from clitools import assert_one_error_line, record_virtual_body, run_main

from harness.canbus.database import SignalDatabase
from harness.exceptions import TraceError
from harness.trace.columnar import write_parquet
from harness.trace.fleet import expand_traces, names_several, part_names

ROOT = Path(__file__).resolve().parents[2]
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """day1/ok.blf (no fault), day2/slow.blf (BCM_DoorStatus every 150 ms)."""
    folder = tmp_path_factory.mktemp("fleet")
    (folder / "day1").mkdir()
    (folder / "day2").mkdir()
    record_virtual_body(folder / "day1" / "ok.blf", [])
    record_virtual_body(folder / "day2" / "slow.blf", ["door_status_slow_cycle"])
    return folder


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A two-worker local Dask cluster's address, for --scheduler."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def decode_to_parquet(
    capsys: pytest.CaptureFixture[str], folder: Path, out: Path, scheduler: str
) -> tuple[int, str]:
    """``harness decode FOLDER --to parquet OUT`` on the cluster: exit code and stderr."""
    args = ["decode", str(folder), "--dbc", str(DEMO_DBC), "--to", "parquet", str(out)]
    code, _, err = run_main(capsys, *args, "--scheduler", scheduler)
    return code, err


def test_folders_globs_and_files_expand_in_order_once(tmp_path: Path) -> None:
    for name in ("b/2.blf", "b/1.asc", "a/x.log", "a/notes.txt", "c.blf"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = expand_traces([tmp_path / "b", str(tmp_path / "**" / "*.blf"), tmp_path / "c.blf"])
    assert found == [
        tmp_path / "b" / "1.asc",
        tmp_path / "b" / "2.blf",
        tmp_path / "c.blf",  # the glob's own order; b/2.blf was already in
    ]
    assert names_several([tmp_path / "b"])
    assert names_several(["*.blf"])
    assert not names_several([tmp_path / "c.blf"])


def test_a_folder_or_glob_with_no_trace_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a trace")
    with pytest.raises(TraceError, match="the folder holds no trace file"):
        expand_traces([tmp_path])
    with pytest.raises(TraceError, match=r"\*\.blf: no trace file matches"):
        expand_traces([str(tmp_path / "*.blf")])


def test_part_names_are_unique_below_the_common_folder(tmp_path: Path) -> None:
    paths = [tmp_path / "day1" / "drive.blf", tmp_path / "day2" / "drive.blf"]
    assert list(part_names(paths).values()) == ["day1_drive.blf", "day2_drive.blf"]
    clash = [tmp_path / "a_b" / "c.blf", tmp_path / "a" / "b_c.blf"]
    names = list(part_names(clash).values())
    assert len(set(names)) == 2
    assert names[0].endswith("a_b_c.blf")


def test_a_folder_decodes_into_one_dataset_equal_to_each_file_alone(
    fleet: Path, scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, err = decode_to_parquet(capsys, fleet, out, scheduler)
    assert code == 0, err
    assert "[2/2]" in err
    assert "2 traces:" in err
    assert sorted(p.name for p in (out / "BCM_DoorStatus").iterdir()) == [
        "day1_ok.blf.parquet",
        "day2_slow.blf.parquet",
    ]
    db = SignalDatabase.load(DEMO_DBC)
    for trace in sorted(fleet.rglob("*.blf")):
        alone = tmp_path / f"alone-{trace.stem}"
        write_parquet(trace, [db], alone)
        expected = ds.dataset(alone / "BCM_DoorStatus").to_table()
        part = ds.dataset(out / "BCM_DoorStatus" / f"{trace.parent.name}_{trace.name}.parquet")
        assert part.to_table().equals(expected)
    whole = ds.dataset(out / "BCM_DoorStatus").to_table()  # one dataset, one schema
    assert whole.num_rows == 32  # 16 frames recorded from each bench
    assert whole.column("timestamp").null_count == 0


def test_a_damaged_file_stops_only_itself_and_the_run_ends_in_one_error(
    fleet: Path, scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "traces"
    shutil.copytree(fleet, folder)
    ok = (folder / "day1" / "ok.blf").read_bytes()
    (folder / "day1" / "cut.blf").write_bytes(ok[: len(ok) // 2])
    out = tmp_path / "out"
    code, err = decode_to_parquet(capsys, folder, out, scheduler)
    *progress, summary, last = err.splitlines()
    assert_one_error_line(code, last, "1 of 3 traces stopped with an error")
    assert "2 traces:" in summary
    (reported,) = [line for line in progress if "error:" in line]
    assert "cut.blf" in reported
    assert (out / "BCM_DoorStatus" / "day1_ok.blf.parquet").is_file()
    assert (out / "BCM_DoorStatus" / "day2_slow.blf.parquet").is_file()


def test_a_glob_is_analysed_on_a_local_cluster_naming_the_recording(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(
        capsys, "analyze", str(fleet / "*" / "*.blf"), "--dbc", str(DEMO_DBC), "--workers", "2"
    )
    assert code == 1, out + err
    rows = [r for r in out.splitlines() if "cycle_time" in r and "BCM_DoorStatus" in r]
    verdicts = {("slow.blf" in r, "failed" in r, "passed" in r) for r in rows}
    assert verdicts == {(True, True, False), (False, False, True)}
    assert "[2/2]" in err


def test_several_traces_need_a_dataset_and_dask_options_need_several(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(capsys, "decode", str(fleet), "--dbc", str(DEMO_DBC))
    assert code == 2
    assert "add --to parquet DIR" in err
    trace = str(fleet / "day1" / "ok.blf")
    code, _, err = run_main(capsys, "analyze", trace, "--dbc", str(DEMO_DBC), "--workers", "2")
    assert code == 2
    assert "go with several traces" in err

"""Running the real ``harness`` console script from tests, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def harness_script() -> Path:
    """The installed console script (beside this Python, else on PATH)."""
    beside = Path(sys.executable).parent / "harness"
    if beside.is_file():
        return beside
    found = shutil.which("harness")
    if found is None:
        pytest.skip("the harness console script is not installed")
    return Path(found)


def script_env() -> dict[str, str]:
    """The environment without what would change the output or the bench under test."""
    env = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "TERM"}}
    env.pop("HARNESS_BENCH_SET", None)
    return env


def run_script(
    *args: str, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``harness ARGS...`` in a subprocess; never raises on a non-zero exit."""
    return subprocess.run(
        [str(harness_script()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=script_env(),
        cwd=cwd,
    )


def assert_one_error_line(code: int, err: str, *fragments: str) -> str:
    """The CLI's failure contract: exit 2 and one ``error: ...`` line holding ``fragments``."""
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``harness ARGS...`` through the real entry point, in-process: exit code, stdout, stderr."""
    from harness.cli import main

    try:
        returned = main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:
        code = returned if isinstance(returned, int) else 0
    out, err = capsys.readouterr()
    return code, out, err


def record_virtual_body(path: Path, faults: list[str]) -> Path:
    """Record the virtual bench's body channel until 16 BCM_DoorStatus frames have come."""
    import json

    from harness.bench import Bench
    from harness.trace.recorder import TraceRecorder

    bench_file = Path(__file__).resolve().parents[1] / "fixtures" / "benches" / "virtual.toml"
    overrides = [f"simulation.ecus.bcm.faults={json.dumps(faults)}"]
    with Bench.open(bench_file, overrides) as bench:
        channel = bench.can["body"]
        with TraceRecorder(channel, path):
            channel.cycle_time("BCM_DoorStatus", samples=15)  # returns on the 16th frame
    return path

"""docs/tutorial.md works as written: its commands run in order from a project root, with
the trainee's test file growing as the text says, and give the outcomes the text promises."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from clitools import run_script

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
MINE = Path("testsuites/mine/test_first.py")
SUITES_USED = ("examples", "obd")
"""The shipped suites the tutorial runs, copied into the scratch project."""
PROMISED_FAILURES = {"door_unlock_ignores_speed": 1, "obd_vin_truncated": 3}
"""Failed tests the text announces for a run with each seeded fault."""


def steps() -> list[tuple[str, str]]:
    """The tutorial's code blocks in order: ("python", source) or ("sh", one command)."""
    found: list[tuple[str, str]] = []
    for language, body in BLOCK.findall(TUTORIAL.read_text()):
        if language == "python":
            found.append(("python", body))
        elif language == "sh":
            found.extend(("sh", line.strip()) for line in body.splitlines() if line.strip())
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root as the trainee has it after ``make demo`` (the venv is this one)."""
    for name in ("fixtures", "dbc"):
        (tmp_path / name).symlink_to(ROOT / name)
    for suite in SUITES_USED:
        shutil.copytree(ROOT / "testsuites" / suite, tmp_path / "testsuites" / suite)
    return tmp_path


def test_every_step_of_the_tutorial_works_as_written(project: Path) -> None:
    ran = []
    for kind, text in steps():
        if kind == "python":  # the first block creates the file, later ones add to it
            path = project / MINE
            path.parent.mkdir(parents=True, exist_ok=True)
            before = path.read_text() + "\n\n" if path.exists() else ""
            path.write_text(before + text)
            continue
        if not text.startswith("harness ") or text.startswith("harness suites bite"):
            continue  # make demo and source: done by the test run itself; bite: minutes
        args = shlex.split(text)[1:]
        result = run_script(*args, timeout=600, cwd=project)
        output = result.stdout + result.stderr
        fault = re.search(r'faults=\["(\w+)"\]', text)
        if fault is None:
            assert result.returncode == 0, f"{text}\n{output}"
        else:
            assert result.returncode == 1, f"{text}\n{output}"
            promised = PROMISED_FAILURES.get(fault.group(1), 1)
            assert f"{promised} failed" in output, f"{text}\n{output}"
        assert "Traceback" not in output, f"{text}\n{output}"
        ran.append(text)
    assert "harness run mine" in ran
    assert any("obd_vin_truncated" in command for command in ran)

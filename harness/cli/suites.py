"""``harness suites list``: the conformance suites, their tests and the requirements they check."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from rich.table import Table

from harness.canbus.database import suggest
from harness.cli.output import make_console
from harness.exceptions import ConfigError, HarnessError
from harness.report.requirements import RequirementMarkerError, requirements_of

SUITES_ENV = "HARNESS_SUITES"
DEFAULT_SUITES = Path("testsuites")


@dataclass(frozen=True)
class SuiteTest:
    """One collected test of a suite."""

    suite: str
    nodeid: str
    requirements: str


def suites_dir(option: Path | None) -> Path:
    """Where the suites are: ``--suites``, else ``$HARNESS_SUITES``, else ``./testsuites``."""
    folder = option or Path(os.environ.get(SUITES_ENV) or DEFAULT_SUITES)
    if not folder.is_dir():
        raise ConfigError(
            str(folder), "", "no such suites folder (set --suites or $HARNESS_SUITES)"
        )
    return folder


def suite_names(folder: Path) -> list[str]:
    """Every sub-folder holding tests is a suite."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("test_*.py")))


def suite_path(folder: Path, name: str) -> Path:
    """The folder of suite ``name``; a typo gets suggestions and the list of suites."""
    names = suite_names(folder)
    if name not in names:
        hint = suggest(name, names)
        raise ConfigError(
            str(folder), name, f"no such suite{hint}; suites: {', '.join(names) or 'none'}, all"
        )
    return folder / name


class _Collector:
    """A pytest plugin that keeps the collected items."""

    def __init__(self) -> None:
        self.items: list[pytest.Item] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = list(session.items)


def collect(paths: list[Path], pytest_args: tuple[str, ...] = ()) -> list[SuiteTest]:
    """Collect tests (no test runs) and read their requirement markers."""
    collector = _Collector()
    output = io.StringIO()
    args = ["--collect-only", "-q", "-p", "no:cacheprovider", *pytest_args, *map(str, paths)]
    with contextlib.redirect_stdout(output):
        code = pytest.main(args, plugins=[collector])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        last = output.getvalue().strip().splitlines()[-1:] or [f"exit code {code}"]
        raise HarnessError(f"collecting {', '.join(map(str, paths))} failed: {last[0]}")
    tests = []
    for item in collector.items:
        try:
            requirements = "; ".join(str(r) for r in requirements_of(item))
        except RequirementMarkerError as exc:
            raise HarnessError(str(exc)) from None
        suite = Path(str(item.path)).parent.name
        tests.append(SuiteTest(suite, item.nodeid, requirements or "-"))
    return tests


@click.group()
def suites() -> None:
    """The conformance suites under testsuites/ (or --suites DIR, $HARNESS_SUITES)."""


@suites.command(name="list")
@click.argument("names", nargs=-1)
@click.option(
    "--suites",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of suites (default: $HARNESS_SUITES, else ./testsuites).",
)
@click.option(
    "--bench",
    "bench",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Bench file, for suites whose tests depend on the DUT profile.",
)
def list_(names: tuple[str, ...], folder: Path | None, bench: Path | None) -> None:
    """List every test of the suites (all, or NAMES) with its requirement IDs and clauses.

    \b
    Examples:
      harness suites list
      harness suites list uds can_timing --bench lab.toml
    """
    base = suites_dir(folder)
    chosen = list(names) or suite_names(base)
    paths = [suite_path(base, name) for name in chosen]
    tests = collect(paths, ("--bench", str(bench)) if bench else ())
    table = Table("Suite", "Test", "Requirements (clause)")
    for test in tests:
        table.add_row(test.suite, test.nodeid.split("::", 1)[-1], test.requirements)
    console = make_console()
    console.print(table)
    console.print(f"{len(tests)} tests in {len(chosen)} suites")

"""``harness suites list``: the conformance suites, their tests and the requirements they check."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import click
import pytest
from rich.table import Table

from harness.bench.devices import seeded_device_faults
from harness.cli.options import bench_option, suites_option
from harness.cli.output import make_console
from harness.config import BenchConfig, load_bench, overrides_from_env, resolve_bench_path
from harness.datafile import suggest
from harness.exceptions import ConfigError, HarnessError
from harness.report.requirements import RequirementMarkerError, requirements_of
from harness.sim.ecu import load_ecu

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
@suites_option
@bench_option
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
        nodeid = test.nodeid.split("::", 1)[-1]
        table.add_row(test.suite, nodeid, test.requirements)
    console = make_console()
    console.print(table)
    console.print(f"{_count(len(tests), 'test')} in {_count(len(chosen), 'suite')}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@dataclass(frozen=True)
class SeededFaultRun:
    """One run of the suites with one seeded fault switched on (``override`` None: none).

    A quirk is not a bug: real devices have it and the harness must cope, so the suites
    must pass with it on instead of catching it."""

    label: str
    description: str
    override: str | None = None
    quirk: bool = False


@dataclass(frozen=True)
class BiteResult:
    """What one run gave: the tests that failed and pytest's exit code."""

    run: SeededFaultRun
    failed: tuple[str, ...]
    exit_code: int

    @property
    def verdict_ok(self) -> bool:
        """Caught (a bug), tolerated (a quirk), or all passed (no fault)."""
        if self.run.override is None or self.run.quirk:
            return self.exit_code == 0
        return bool(self.failed)


def seeded_fault_runs(config: BenchConfig) -> list[SeededFaultRun]:
    """Every seeded fault the bench's simulations can switch on, after a run with none."""
    runs = [SeededFaultRun("(no fault)", "no fault")]
    for ecu, sim in config.simulation.items():
        for fault in load_ecu(sim.file).faults.values():
            override = f'simulation.ecus.{ecu}.faults=["{fault.name}"]'
            runs.append(SeededFaultRun(f"{ecu}:{fault.name}", fault.description, override))
    for device_fault in seeded_device_faults(config):
        label = f"{device_fault.device}:{device_fault.name}"
        runs.append(
            SeededFaultRun(
                label, device_fault.description, device_fault.bench_set, device_fault.quirk
            )
        )
    return runs


def run_with_fault(
    paths: list[Path], bench: Path, run: SeededFaultRun, workdir: Path, *, first: bool = False
) -> BiteResult:
    """Run the suites in their own pytest process with one fault on; read who failed
    (with ``first``, stop at the first failing test)."""
    report = workdir / f"{run.label.replace(':', '-').strip('()')}.xml"
    command = [
        sys.executable, "-m", "pytest", *map(str, paths), "--bench", str(bench),
        "-q", "-p", "no:cacheprovider", "--harness-results", "none", f"--junitxml={report}",
    ]  # fmt: skip
    if run.override is not None:
        command += ["--bench-set", run.override]
    if first:
        command.append("-x")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    failed: list[str] = []
    if report.is_file():
        for case in ElementTree.parse(report).iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname', '')}.{case.get('name', '')}")
    return BiteResult(run, tuple(failed), done.returncode)


@suites.command()
@click.argument("names", nargs=-1)
@bench_option
@suites_option
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True,
    help="Runs at the same time.",
)  # fmt: skip
@click.option(
    "-x", "--first", is_flag=True,
    help="Stop each run at its first failing test: quicker, names one catching test per fault.",
)  # fmt: skip
def bite(
    names: tuple[str, ...], bench: Path | None, folder: Path | None, jobs: int, first: bool
) -> None:
    """Check that the suites bite: with no fault they pass, every seeded fault of the
    bench's simulations makes at least one test fail, and with a quirk (a fault real
    devices have, that the harness must cope with) they still pass. Prints fault ->
    catching tests.

    Exit code 1 when any of that does not hold.

    \b
    Examples:
      harness suites bite
      harness suites bite examples uds --bench fixtures/benches/virtual.toml -j 2
      harness suites bite --first
    """
    base = suites_dir(folder)
    paths = [suite_path(base, name) for name in (names or suite_names(base))]
    bench_path = resolve_bench_path(bench)
    runs = seeded_fault_runs(load_bench(bench_path, overrides_from_env()))
    if len(runs) == 1:
        raise ConfigError(str(bench_path), "simulation", "the bench simulates nothing with faults")
    click.echo(
        f"{len(runs)} runs of {', '.join(p.name for p in paths)}, {jobs} at a time", err=True
    )
    results: list[BiteResult] = []
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(jobs) as pool:
        pending = [
            pool.submit(run_with_fault, paths, bench_path, run, Path(scratch), first=first)
            for run in runs
        ]
        for future in as_completed(pending):
            result = future.result()
            results.append(result)
            click.echo(
                f"[{len(results)}/{len(runs)}] {result.run.label}: {len(result.failed)} failed",
                err=True,
            )
    order = {run.label: index for index, run in enumerate(runs)}
    _print_bite_table(sorted(results, key=lambda r: order[r.run.label]))
    if not all(result.verdict_ok for result in results):
        click.get_current_context().exit(1)


def _print_bite_table(results: list[BiteResult]) -> None:
    table = Table("Fault", "What it breaks", "Caught by")
    for result in results:
        run = result.run
        if run.override is None or run.quirk:
            verdict = "all pass" if result.exit_code == 0 else "FAILS: " + ", ".join(result.failed)
            caught = f"(quirk) {verdict}" if run.quirk else verdict
        else:
            caught = "\n".join(result.failed) or "NOTHING"
        table.add_row(run.label, run.description, caught)
    console = make_console()
    console.print(table)
    bugs = [r for r in results if r.run.override is not None and not r.run.quirk]
    quirks = [r for r in results if r.run.quirk]
    summary = f"{sum(1 for r in bugs if r.failed)} of {len(bugs)} seeded faults caught"
    if quirks:
        summary += f"; {sum(1 for r in quirks if r.verdict_ok)} of {len(quirks)} quirks tolerated"
    console.print(summary)

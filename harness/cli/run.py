"""``harness run SUITE``: run a conformance suite (or all of them) against a bench."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
import pytest

from harness.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_VERDICT_FAILED
from harness.cli.options import bench_option, suites_option
from harness.cli.suites import suite_names, suite_path, suites_dir
from harness.config import resolve_bench_path

NOTHING_TESTED_EXIT = 1
"""Exit code of a run in which no test ran: there is no verdict to pass."""


class RanCounter:
    """A pytest plugin that counts the tests that ran and why the others were skipped.

    A run where every test skipped is green to pytest; to a lab it tested nothing."""

    def __init__(self) -> None:
        self.ran = 0
        self.skip_reasons: Counter[str] = Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self.skip_reasons[reason.removeprefix("Skipped: ")] += 1
        elif report.when == "call" or (report.failed and report.when == "setup"):
            self.ran += 1

    def nothing_tested(self) -> str | None:
        """The one line saying what was missing, or None when some test ran."""
        if self.ran:
            return None
        if not self.skip_reasons:
            return "no test ran: the suite collected no test"
        skipped = sum(self.skip_reasons.values())
        reasons = [reason for reason, _ in self.skip_reasons.most_common()]
        shown = "; ".join(reasons[:2]) + (
            f"; and {len(reasons) - 2} more" if len(reasons) > 2 else ""
        )
        return f"no test ran: {skipped} skipped ({shown})"


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("suite")
@bench_option
@suites_option
@click.option(
    "--allow-empty", is_flag=True,
    help="Exit 0 even when no test ran (every test skipped, or none collected).",
)  # fmt: skip
@click.pass_context
def run(
    ctx: click.Context, suite: str, bench: Path | None, folder: Path | None, allow_empty: bool
) -> None:
    """Run SUITE (a folder of testsuites/, or `all`) against a bench with pytest.

    Anything after the options goes to pytest as it is. Exit codes: 0 all
    passed; 1 a test failed, or no test ran (all skipped because the bench lacks
    what the suite needs, or none collected: one line says what was missing),
    unless --allow-empty; 2 pytest could not run the suite (usage error,
    interrupted, internal error).

    \b
    Examples:
      harness run uds --bench fixtures/benches/virtual.toml
      harness run all --bench lab.toml -x --harness-keep-traces all
      harness run can_timing -k cycle_time
    """
    base = suites_dir(folder)
    paths = (
        [base / name for name in suite_names(base)] if suite == "all" else [suite_path(base, suite)]
    )
    args = [*map(str, paths), "--bench", str(resolve_bench_path(bench)), *ctx.args]
    counter = RanCounter()
    code = pytest.main(args, plugins=[counter])
    empty = code in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    missing = counter.nothing_tested() if empty else None
    if missing is not None:
        if not allow_empty:
            click.echo(f"error: {missing}", err=True)
            ctx.exit(NOTHING_TESTED_EXIT)
        ctx.exit(EXIT_OK)
    ctx.exit(_PYTEST_EXIT.get(int(code), int(code)))


_PYTEST_EXIT: dict[int, int] = {
    pytest.ExitCode.OK: EXIT_OK,
    pytest.ExitCode.TESTS_FAILED: EXIT_VERDICT_FAILED,
    pytest.ExitCode.INTERRUPTED: EXIT_BAD_INPUT,
    pytest.ExitCode.INTERNAL_ERROR: EXIT_BAD_INPUT,
    pytest.ExitCode.USAGE_ERROR: EXIT_BAD_INPUT,
}
"""pytest's exit codes in the harness's convention."""

"""``harness run SUITE``: run a conformance suite (or all of them) against a bench."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from harness.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_VERDICT_FAILED
from harness.cli.options import bench_option, suites_option
from harness.cli.suites import suite_names, suite_path, suites_dir
from harness.config import resolve_bench_path


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("suite")
@bench_option
@suites_option
@click.pass_context
def run(ctx: click.Context, suite: str, bench: Path | None, folder: Path | None) -> None:
    """Run SUITE (a folder of testsuites/, or `all`) against a bench with pytest.

    Anything after the options goes to pytest as it is. Exit codes: 0 all
    passed; 1 a test failed; 2 pytest could not run the suite (usage error,
    interrupted, internal error); no test collected keeps pytest's 5.

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
    code = pytest.main(args)
    ctx.exit(_PYTEST_EXIT.get(int(code), int(code)))


_PYTEST_EXIT: dict[int, int] = {
    pytest.ExitCode.OK: EXIT_OK,
    pytest.ExitCode.TESTS_FAILED: EXIT_VERDICT_FAILED,
    pytest.ExitCode.INTERRUPTED: EXIT_BAD_INPUT,
    pytest.ExitCode.INTERNAL_ERROR: EXIT_BAD_INPUT,
    pytest.ExitCode.USAGE_ERROR: EXIT_BAD_INPUT,
}
"""pytest's exit codes in the harness's convention (NO_TESTS_COLLECTED is left as it is)."""

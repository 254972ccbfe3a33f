"""``harness run SUITE``: run a conformance suite (or all of them) against a bench."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

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

    Anything after the options goes to pytest as it is. The exit code is pytest's.

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
    ctx.exit(int(code))

"""``harness report RUN``: (re)build the HTML report of a run from the results store.

RUN is a run id, a unique prefix of one, or ``latest``. The report goes to the
run's folder (``results/runs/RUN/report.html``) unless ``-o`` names a file;
links to traces are relative to where it is written.
"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.results import open_store, store_option
from harness.report.html import REPORT_NAME, write_report


@click.command(name="report")
@click.argument("run")
@store_option
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report here (default: report.html in the run's folder).",
)
@click.option("--no-plots", is_flag=True, help="Leave out the signal plots (faster).")
def report(run: str, store: str | None, output: Path | None, no_plots: bool) -> None:
    """Build the self-contained HTML report of RUN."""
    with open_store(store) as opened:
        record = opened.run(run)
    path = output or Path(record.results_dir) / "runs" / record.summary.id / REPORT_NAME
    write_report(record, path, plots=not no_plots)
    click.echo(f"report of run {record.summary.id}: {path}")

"""Options several commands share, declared once."""

from __future__ import annotations

from pathlib import Path

import click

bench_option = click.option(
    "--bench",
    "bench",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Bench file (default: $HARNESS_BENCH, else fixtures/benches/virtual.toml).",
)

suites_option = click.option(
    "--suites",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of suites (default: $HARNESS_SUITES, else ./testsuites).",
)

"""Options several commands share, declared once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

FC = TypeVar("FC", bound=Callable[..., object] | click.Command)


def dbc_option(help_text: str) -> Callable[[FC], FC]:
    """``--dbc FILE``, repeatable, into ``dbc_files``; each command says what it does with it."""
    return click.option(
        "--dbc",
        "dbc_files",
        multiple=True,
        metavar="FILE",
        type=click.Path(path_type=Path),
        help=help_text,
    )


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

scheduler_option = click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="With several traces: the Dask scheduler to run on (tcp://host:8786); its workers "
    "must see the same paths. Default: a local cluster.",
)

workers_option = click.option(
    "--workers",
    type=click.IntRange(min=1),
    metavar="N",
    help="With several traces and no --scheduler: worker processes of the local cluster "
    "(default: one per core, at most one per trace).",
)

"""Terminal output shared by the commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from harness.exceptions import TraceError

if TYPE_CHECKING:
    from harness.trace.fleet import Outcome

PIPE_WIDTH = 10_000
"""Console width when output is not a terminal: never wrap or cut a cell in a pipe."""


def make_console() -> Console:
    """Rich console on stdout; in a pipe, plain text at full width.

    Markup and emoji codes are off: what the commands print comes from DUTs, bench
    files, stores and test ids (a supplier named ``[/oops]``, a test id with
    ``[body/BCM_DoorStatus]``), and is shown as written; styles go through ``Text``.
    """
    console = Console(highlight=False, markup=False, emoji=False)
    if not console.is_terminal:
        console = Console(
            highlight=False, markup=False, emoji=False, width=PIPE_WIDTH, no_color=True
        )
    return console


def fleet_progress(done: int, total: int, outcome: Outcome[Any]) -> None:
    """One stderr line as each trace of a fleet run ends."""
    if outcome.error is None:
        line = f"{outcome.path}: done"
    elif str(outcome.path) in outcome.error:  # our errors name their file
        line = f"error: {outcome.error}"
    else:
        line = f"{outcome.path}: error: {outcome.error}"
    click.echo(f"[{done}/{total}] {line}", err=True)


def fleet_errors(outcomes: Sequence[Outcome[Any]], kept: str) -> None:
    """A fleet run in which some traces stopped is bad input (exit 2), after the rest."""
    failed = [outcome for outcome in outcomes if outcome.error is not None]
    if failed:
        raise TraceError(
            f"{len(failed)} of {len(outcomes)} traces stopped with an error (listed above); "
            f"what they held before it was {kept}"
        )

"""Terminal output shared by the commands."""

from __future__ import annotations

from rich.console import Console

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

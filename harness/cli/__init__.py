"""The ``harness`` command line: a click group whose commands live one per module.

Commands are registered by name and imported only when used, so ``harness
--help`` stays fast and a broken optional dependency affects one command only.
A :class:`~harness.exceptions.HarnessError` becomes one ``error: ...`` line and
exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from harness.exceptions import HarnessError

COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("harness.cli.analyze", "Check a recorded trace as the CAN timing suite would."),
    "bench": ("harness.cli.bench", "Check bench files and what they open."),
    "dbc": ("harness.cli.dbc", "Show what a signal database contains."),
    "decode": ("harness.cli.decode", "Decode a recorded CAN trace with a database."),
    "diag": ("harness.cli.diag", "Read a DUT's DIDs, DTCs and identity over UDS."),
    "monitor": ("harness.cli.monitor", "Watch a bench's CAN traffic live, decoded."),
    "report": ("harness.cli.report", "Build the HTML report of a run from the results store."),
    "results": ("harness.cli.results", "Runs, DUTs and test results in the results store."),
    "run": ("harness.cli.run", "Run a conformance suite (or all) against a bench."),
    "simulate": ("harness.cli.simulate", "Run a bench's simulated ECUs for other processes."),
    "suites": ("harness.cli.suites", "List the conformance suites' tests and requirements."),
}
"""Command name -> (module defining a click command of that name, one-line help)."""


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = getattr(module, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="ecu-harness", prog_name="harness")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Test harness for automotive ECUs: CAN with DBC, diagnostics, serial, virtual benches.

    Tests are plain pytest; this command inspects benches, databases and traces.
    """
    ctx.obj = {"debug": debug}


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the group, turning HarnessError into one line and exit code 2."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        result = cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except HarnessError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    if isinstance(result, int) and result:  # a command's ctx.exit(code)
        sys.exit(result)
    return result

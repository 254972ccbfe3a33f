"""The ``harness`` command line: a click group whose commands live one per module.

Commands are registered by name and imported only when used, so ``harness
--help`` stays fast and a broken optional dependency affects one command only.
A :class:`~harness.exceptions.HarnessError` becomes one ``error: ...`` line and
exit code 2; ``--debug`` shows the traceback instead. Every command follows
:data:`EXIT_CODES`, and its ``--help`` says so.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from harness.exceptions import HarnessError

EXIT_OK = 0
EXIT_VERDICT_FAILED = 1
"""A check ran and judged the DUT: a test failed, a seeded fault went unnoticed."""
EXIT_BAD_INPUT = 2
"""Nothing was judged: a file, option, bench or device could not be used, or the usage was wrong."""

EXIT_CODES = (
    "Exit codes: 0 ok; 1 a verdict failed (a test or check ran and found a problem); "
    "2 bad input or usage (a file, option, bench or device that could not be used)."
)
"""The convention every command follows, shown as the epilog of each ``--help``."""


class BadInput(click.ClickException):
    """Bad input a command found itself (not a HarnessError): exit 2, also under CliRunner."""

    exit_code = EXIT_BAD_INPUT


COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("harness.cli.analyze", "Check a recorded trace as the CAN timing suite would."),
    "bench": ("harness.cli.bench", "Check bench files and what they open."),
    "dbc": ("harness.cli.dbc", "Show what a signal database contains."),
    "decode": ("harness.cli.decode", "Decode a recorded CAN trace with a database."),
    "diag": ("harness.cli.diag", "Read a DUT's DIDs, DTCs and identity over UDS."),
    "j1939": (
        "harness.cli.j1939_tool",
        "Read and clear a J1939 node's DTCs (DM1, DM2, DM3, DM11).",
    ),
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
        _add_exit_codes(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _add_exit_codes(command: click.Command) -> None:
    """Give a command, and each subcommand of a group, the exit-code epilog."""
    command.epilog = command.epilog or EXIT_CODES
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_exit_codes(sub)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES
)
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="ecu-harness", prog_name="harness")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Test harness for automotive ECUs: CAN with DBC, diagnostics, serial, virtual benches.

    Tests are plain pytest; this command inspects benches, databases and traces.
    """
    ctx.obj = {"debug": debug}


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the group, turning HarnessError into one line and exit code 2.

    A usage error is shown as click shows it (usage, then the error; exit 2); any
    other ClickException is bad input too: one ``error: ...`` line, exit 2.
    """
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        result = cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except HarnessError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    if isinstance(result, int) and result:  # a command's ctx.exit(code)
        sys.exit(result)
    return result

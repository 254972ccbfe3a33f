"""``harness analyze``: the CAN timing suite's checks over a recorded trace.

The rules are :mod:`harness.canbus.rules`, the ones ``testsuites/can_timing``
runs live; :mod:`harness.trace.analysis` applies them to a trace in bulk.
Exit code 1 when any check failed, 0 otherwise (also when some could not be
tested), 2 on bad input.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from harness.cli.dbc import load
from harness.cli.options import dbc_option, scheduler_option, workers_option
from harness.cli.output import fleet_errors, fleet_progress, make_console
from harness.exceptions import ConfigError

if TYPE_CHECKING:
    from harness.canbus.database import SignalDatabase
    from harness.trace.analysis import Analysis

_STYLES = {"passed": "green", "failed": "bold red", "not tested": "dim", "not verified": "dim"}

_HELP = """Check a recorded CAN trace the way the can_timing suite checks live traffic.

Per message: cycle time against the DBC's GenMsgCycleTime (mean within
±10 %; min, max, p99 and jitter shown), gaps longer than 2 periods, frame
length, signal values outside the DBC range, rolling counters (skips and
freezes) and checksums where the DBC names them. Per channel: undeclared
IDs, error frames and, with a bitrate, bus load. A message without a
declared cycle time is "not tested", one without a counter or checksum
"not verified": neither counts as passed.

With --bench the database, bitrate and DUT come from a bench channel
(--channel, default the first with a dut_node); per-message checks then
cover the messages the DUT sends (as the live suite does) unless
--all-messages, and a simulated ECU's period_ms overrides count as
declared periods.

Several traces, a folder (searched recursively) or a quoted glob are
separate recordings, analysed one per Dask task (a local cluster, or
--scheduler) into one summary whose subjects name the recording.

Exit code 1 when any check failed, 0 otherwise, 2 on bad input (also when
one trace of several could not be read; the others are analysed).

\b
Examples:
  harness analyze run.blf --dbc dbc/demo_vehicle.dbc
  harness analyze run.blf --bench fixtures/benches/virtual.toml --junitxml out/analyze.xml
  harness analyze drive.log --dbc body.dbc --message BCM_DoorStatus --html out/analyze.html
  harness analyze 'fleet/**/*.blf' --dbc dbc/demo_vehicle.dbc --workers 2
"""


@click.command(name="analyze", help=_HELP)
@click.argument("traces", nargs=-1, required=True, metavar="TRACE...")
@dbc_option("Signal database; repeat for several (the first to define an ID wins).")
@click.option(
    "--bench",
    "bench_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Bench file: database, bitrate, DUT node and declared periods of a channel.",
)
@click.option("--channel", metavar="NAME", help="With --bench: the bench channel recorded.")
@click.option(
    "--message", "message_names", multiple=True, metavar="NAME", help="Only this message."
)
@click.option(
    "--all-messages", is_flag=True, help="With --bench: every message, not only the DUT's."
)
@click.option(
    "--no-strict", is_flag=True, help="Load databases even if signals overlap or do not fit."
)
@click.option(
    "--junitxml", type=click.Path(path_type=Path), metavar="FILE", help="Write JUnit XML here."
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Write an HTML report.",
)
@scheduler_option
@workers_option
@click.pass_context
def analyze(
    ctx: click.Context,
    *,
    traces: Sequence[str],
    dbc_files: Sequence[Path],
    bench_file: Path | None,
    channel: str | None,
    message_names: Sequence[str],
    all_messages: bool,
    no_strict: bool,
    junitxml: Path | None,
    html_file: Path | None,
    scheduler: str | None,
    workers: int | None,
) -> None:
    from harness.trace.analysis import Analysis, analyze_file  # noqa: PLC0415 - numpy
    from harness.trace.fleet import expand_traces, names_several, part_names, run_per_file  # noqa: PLC0415

    databases = [load(path, strict=not no_strict) for path in dbc_files]
    periods: dict[str, float] = {}
    bitrate = data_bitrate = None
    only: set[str] | None = set(message_names) or None
    if bench_file is not None:
        setup = _BenchSetup(bench_file, channel, strict=not no_strict)
        databases = databases or [setup.database]
        periods, bitrate, data_bitrate = setup.periods, setup.bitrate, setup.data_bitrate
        if only is None and not all_messages and setup.dut_messages:
            only = setup.dut_messages
    elif channel is not None or all_messages:
        raise click.UsageError("--channel and --all-messages go with --bench FILE")
    if not databases:
        raise click.UsageError("analyze needs a database: --dbc FILE or --bench FILE")
    known = {m.name for db in databases for m in db.messages}
    for name in message_names:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            raise click.BadParameter(
                f"no message {name!r} in the databases{hint}", param_hint="--message"
            )
    options: dict[str, Any] = {
        "databases": databases,
        "periods": periods,
        "bitrate": bitrate,
        "data_bitrate": data_bitrate,
        "messages": only,
    }
    outcomes = []
    if names_several(traces):
        paths = expand_traces(traces)
        task = functools.partial(analyze_file, plots=html_file is not None, **options)
        outcomes = run_per_file(
            task, paths, scheduler=scheduler, workers=workers, progress=fleet_progress
        )
        names = part_names(paths)
        result = Analysis.combined(
            (names[outcome.path], outcome.result) for outcome in outcomes if outcome.result
        )
    elif scheduler or workers:
        raise click.UsageError("--scheduler and --workers go with several traces")
    else:
        result = analyze_file(Path(traces[0]), **options)
    _print(result)
    if junitxml is not None or html_file is not None:
        from harness.report.analysis import write_html, write_junit  # noqa: PLC0415

        if junitxml is not None:
            write_junit(result, junitxml)
        if html_file is not None:
            write_html(result, html_file)
    fleet_errors(outcomes, "analysed")
    if result.failed:
        ctx.exit(1)


class _BenchSetup:
    """What a bench file says about one of its channels, for an analysis."""

    def __init__(self, bench_file: Path, channel: str | None, *, strict: bool) -> None:
        from harness.canbus.database import SignalDatabase  # noqa: PLC0415
        from harness.config import load_bench  # noqa: PLC0415

        bench = load_bench(bench_file)
        candidates = [n for n, c in bench.can.items() if c.dbc is not None]
        if channel is None:
            with_dut = [n for n in candidates if bench.can[n].dut_node is not None]
            if not (with_dut or candidates):
                raise ConfigError(str(bench_file), "can", "no CAN channel with a dbc")
            channel = (with_dut or candidates)[0]
        if channel not in candidates:
            raise ConfigError(
                str(bench_file),
                f"can.{channel}",
                f"no such CAN channel with a dbc; one of {', '.join(candidates) or 'none'}",
            )
        config = bench.can[channel]
        assert config.dbc is not None
        self.database: SignalDatabase = SignalDatabase.load(
            config.dbc, strict=strict and config.strict_dbc
        )
        self.bitrate = float(config.bitrate) if config.bitrate else None
        self.data_bitrate = float(config.data_bitrate) if config.data_bitrate else None
        self.dut_messages = {m.name for m in self.database.messages if config.dut_node in m.senders}
        self.periods = {
            message: period / 1000
            for ecu in bench.simulation.values()
            if ecu.channel == channel
            for message, period in ecu.period_ms.items()
        }


def _print(result: Analysis) -> None:
    console = make_console()
    traces = ", ".join(result.traces) if len(result.traces) <= 3 else f"{len(result.traces)} traces"
    table = Table(title=Text(f"{result.frames} frame(s): {traces}"), title_justify="left")
    for column in ("Check", "Message / channel", "Verdict", "Figure"):
        table.add_column(column)
    for finding in result.findings:
        figure = finding.figure
        if finding.verdict == "failed" and finding.examples:
            figure += "\n  e.g. " + "\n  e.g. ".join(finding.examples[:3])
        table.add_row(
            finding.check,
            finding.subject,
            Text(finding.verdict, style=_STYLES.get(finding.verdict, "")),
            Text(figure),
        )
    console.print(table)
    counts = result.counts()
    summary = ", ".join(f"{counts[v]} {v}" for v in _STYLES if counts[v])
    verdict = "FAILED" if result.failed else "PASSED"
    console.print(f"{verdict}: {summary}")

"""``harness bench check``: is everything a bench file names really there?

The file is validated first; a file that does not validate is one ``error:``
line (exit 2), like everywhere else. Then every CAN channel is opened and
closed again. One broken adapter must not hide the state of the others, so
when the bench as a whole does not open, each channel is tried on its own:
the table shows every channel's status, a summary names what failed, and the
exit code is 2: a bench that cannot be opened is bad input (or a missing
adapter), not a verdict on the DUT, so ``bench check`` never exits 1.
``--no-open`` stops after validation (file, databases, DUT nodes,
simulated-ECU files) and touches no hardware.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

from harness.bench import Bench
from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase
from harness.cli import EXIT_BAD_INPUT
from harness.cli.output import make_console
from harness.config import load_bench, overrides_from_env, require_something_to_test
from harness.datafile import suggest
from harness.exceptions import HarnessError
from harness.sim.ecu import load_ecu

if TYPE_CHECKING:
    from harness.canbus.config import CanChannelConfig
    from harness.config import BenchConfig, SimulatedEcuConfig

FAILED_EXIT = EXIT_BAD_INPUT
"""Exit code when the bench file is valid but something on the bench failed to open."""


@dataclass
class ChannelCheck:
    """What ``check`` found out about one CAN channel."""

    config: CanChannelConfig
    db: SignalDatabase | None = None
    dut_messages: int | None = None
    problem: str | None = None
    opened: bool = False

    def status(self) -> str:
        if self.problem is not None:
            return self.problem
        return "ok" if self.opened else "valid (not opened)"


@dataclass
class SimCheck:
    """What ``check`` found out about one simulated ECU."""

    config: SimulatedEcuConfig
    node: str | None = None
    problem: str | None = None
    started: bool = False

    def status(self) -> str:
        if self.problem is not None:
            return self.problem
        return "ok (started)" if self.started else "valid (not started)"


@dataclass
class BenchCheck:
    """The result of checking a bench: per-resource findings, and a bench-level problem that
    no single resource explains (e.g. the bench did not open though each channel did)."""

    config: BenchConfig
    channels: list[ChannelCheck]
    sims: list[SimCheck]
    problem: str | None = None
    opened: bool = False

    @property
    def failed(self) -> bool:
        return bool(
            self.problem
            or any(c.problem for c in self.channels)
            or any(s.problem for s in self.sims)
        )


def check_bench(config: BenchConfig, *, open_resources: bool = True) -> BenchCheck:
    """Validate what a bench needs beyond its file, then (unless told not to) open it.

    Opens the whole bench with :meth:`Bench.open`; if that fails, opens each channel on
    its own so the report names every channel that is broken, not only the first.
    """
    databases: dict[tuple[Path, bool], SignalDatabase | str] = {}
    report = BenchCheck(
        config,
        [_prepare_channel(cfg, databases) for cfg in config.can.values()],
        [_prepare_sim(sim) for sim in config.simulation.values()],
    )
    if not open_resources:
        return report
    bench_error: HarnessError | None = None
    if not report.failed:
        try:
            with Bench.open(config) as bench:
                for check in report.channels:
                    check.dut_messages = len(bench.can[check.config.name].dut_messages)
                    check.opened = True
                for sim in report.sims:
                    sim.started = True
        except HarnessError as exc:
            bench_error = exc
        else:
            report.opened = True
            return report
    for check in report.channels:
        if check.problem is None:
            _open_channel(check)
    if bench_error is not None and not report.failed:
        report.problem = f"the bench did not open: {bench_error}"
    return report


def _prepare_channel(
    cfg: CanChannelConfig, databases: dict[tuple[Path, bool], SignalDatabase | str]
) -> ChannelCheck:
    """Load the channel's database (once per file) and check its DUT node is in it."""
    check = ChannelCheck(cfg)
    if cfg.dbc is None:
        return check
    key = (cfg.dbc, cfg.strict_dbc)
    if key not in databases:
        try:
            databases[key] = SignalDatabase.load(cfg.dbc, strict=cfg.strict_dbc)
        except HarnessError as exc:
            databases[key] = str(exc)
    loaded = databases[key]
    if isinstance(loaded, str):
        check.problem = loaded
        return check
    check.db = loaded
    try:
        loaded.declare(cfg.protection, cfg.cycle_ms, "bench file", f"can.{cfg.name}")
    except HarnessError as exc:
        check.problem = str(exc)
        return check
    if cfg.dut_node is not None:
        if cfg.dut_node not in loaded.nodes:
            check.problem = (
                f"dut_node {cfg.dut_node!r} is not a node of {loaded.name}"
                f"{suggest(cfg.dut_node, loaded.nodes)}; nodes: {', '.join(loaded.nodes) or 'none'}"
            )
        else:
            check.dut_messages = sum(1 for m in loaded.messages if cfg.dut_node in m.senders)
    return check


def _prepare_sim(sim: SimulatedEcuConfig) -> SimCheck:
    """Load the ECU file and check its seeded faults exist, without starting anything."""
    check = SimCheck(sim)
    try:
        definition = load_ecu(sim.file)
    except HarnessError as exc:
        check.problem = str(exc)
        return check
    check.node = definition.node
    unknown = [f for f in sim.faults if f not in definition.faults]
    if unknown:
        hint = suggest(unknown[0], list(definition.faults))
        check.problem = f"{sim.file.name} has no fault {unknown[0]!r}{hint}"
    elif definition.gateway:
        from harness.sim.gateway import check_attachment, gateway_config  # noqa: PLC0415

        try:
            setup = gateway_config(definition)
            check_attachment(
                setup, sim.channels, sim.channel, "bench file", f"simulation.ecus.{sim.name}"
            )
        except HarnessError as exc:
            check.problem = str(exc)
    return check


def _open_channel(check: ChannelCheck) -> None:
    """Open and close one channel on its own, recording the error instead of raising it."""
    try:
        with Channel.open(check.config, check.db) as channel:
            check.dut_messages = len(channel.dut_messages)
    except HarnessError as exc:
        check.problem = str(exc)
    else:
        check.opened = True


# -- the command ------------------------------------------------------------------------


@click.group(name="bench")
def bench() -> None:
    """Check bench files and what they open.

    \b
    Example:
      harness bench check fixtures/benches/virtual.toml
    """


@bench.command(name="check", short_help="Validate a bench file and open what it names.")
@click.argument("file", type=click.Path(path_type=Path))  # load_bench reports a missing file
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one key of the bench file (repeatable), e.g. can.body.channel=can1. "
    "Applied after those in $HARNESS_BENCH_SET.",
)
@click.option(
    "--no-open",
    is_flag=True,
    help="Validate only (file, databases, DUT nodes, ECU files); open no hardware.",
)
def check(file: Path, overrides: tuple[str, ...], no_open: bool) -> None:
    """Validate the bench FILE, open every CAN channel it names and close it again.

    Prints the DUT, a table of CAN channels (interface, bitrate, database,
    DUT node and the messages it sends, status), the other sections the bench
    declares and its simulated ECUs. Every channel is tried even when one
    fails, so the table shows them all.

    \b
    Exit codes:
      0  everything validated and opened
      2  the file (or an override) is invalid or names nothing to test, or a
         channel, database or simulated ECU named in it failed (a bench check
         judges no DUT: never 1)

    \b
    Examples:
      harness bench check fixtures/benches/virtual.toml
      harness bench check lab.toml --set can.body.channel=can1
      harness bench check lab.toml --no-open
    """
    config = require_something_to_test(load_bench(file, [*overrides_from_env(), *overrides]))
    report = check_bench(config, open_resources=not no_open)
    out = make_console()
    for renderable in render_check(report):
        out.print(renderable)
    if report.failed:
        click.echo(failure_summary(report), err=True)
        raise click.exceptions.Exit(FAILED_EXIT)
    click.echo(success_summary(report, opened=not no_open))


def render_check(report: BenchCheck) -> list[Text | Table]:
    """Everything ``check`` prints before its summary line, top to bottom."""
    config = report.config
    header = f"Bench {config.name!r}" + (f": {config.description}" if config.description else "")
    parts: list[Text | Table] = [Text(header), Text(f"File: {config.path}")]
    dut = config.dut
    written = config.written
    parts.append(
        Text(f"DUT: {dut.name}" + (f", part number {dut.part_number}" if dut.part_number else ""))
    )
    if dut.identity:
        parts.append(Text(f"  identity: {_pairs(dut.identity)}"))
    parts.append(channels_table(report.channels) if report.channels else Text("CAN channels: none"))
    if config.serial:
        parts.append(Text("Serial devices:"))
        parts.extend(
            Text(f"  {name}: {_pairs(written.get('serial', {}).get(name, {}))}")
            for name in config.serial
        )
    else:
        parts.append(Text("Serial devices: none"))
    power = written.get("power") if config.has("power") else None
    parts.append(Text(f"Power: {_pairs(power) if power else 'none'}"))
    diagnostics = written.get("diagnostics") if config.has("diagnostics") else None
    parts.append(Text(f"Diagnostics: {diagnostics_text(diagnostics) if diagnostics else 'none'}"))
    if config.gateway is not None:
        parts.append(Text(f"Gateway: routing table {config.gateway.profile}"))
    parts.append(sims_table(report.sims) if report.sims else Text("Simulated ECUs: none"))
    return parts


def channels_table(checks: Iterable[ChannelCheck]) -> Table:
    """One row per CAN channel, status last (green ok, red error)."""
    table = _table(
        "CAN channels",
        ("Name", "left"),
        ("Interface", "left"),
        ("Channel", "left"),
        ("Bitrate", "right"),
        ("Database", "left"),
        ("Messages", "right"),
        ("DUT node", "left"),
        ("DUT sends", "right"),
        ("Status", "left"),
    )
    for c in checks:
        cfg = c.config
        bitrate = bitrate_text(cfg.bitrate)
        if cfg.fd:
            bitrate += f" / {bitrate_text(cfg.data_bitrate)} FD"
        table.add_row(
            Text(cfg.name),
            Text(cfg.interface),
            Text(cfg.channel),
            Text(bitrate),
            Text(cfg.dbc.name if cfg.dbc else "-"),
            Text(str(len(c.db.messages)) if c.db else "-"),
            Text(cfg.dut_node or "-"),
            Text("-" if c.dut_messages is None else str(c.dut_messages)),
            _status(c.status(), c.problem is not None),
        )
    return table


def sims_table(checks: Iterable[SimCheck]) -> Table:
    """One row per simulated ECU the bench starts."""
    table = _table(
        "Simulated ECUs",
        ("Name", "left"),
        ("File", "left"),
        ("Channel", "left"),
        ("Node", "left"),
        ("Faults", "left"),
        ("Status", "left"),
    )
    for s in checks:
        table.add_row(
            Text(s.config.name),
            Text(s.config.file.name),
            Text(_joined(s.config)),
            Text(s.node or "-"),
            Text(", ".join(s.config.faults) or "-"),
            _status(s.status(), s.problem is not None),
        )
    return table


def _joined(sim: SimulatedEcuConfig) -> str:
    """``body``; for an ECU joining several channels (a gateway) ``chassis (+ body)``: its
    own channel first."""
    others = [name for name in sim.channels if name != sim.channel]
    return sim.channel + (f" (+ {', '.join(others)})" if others else "")


def failure_summary(report: BenchCheck) -> str:
    """One line naming everything that failed, for the end of the output (stderr)."""
    broken = [c.config.name for c in report.channels if c.problem]
    parts = []
    if broken:
        parts.append(
            f"{len(broken)} of {len(report.channels)} CAN channel"
            f"{'' if len(report.channels) == 1 else 's'} failed: {', '.join(broken)}"
        )
    sims = [s.config.name for s in report.sims if s.problem]
    if sims:
        plural = "" if len(sims) == 1 else "s"
        parts.append(f"{len(sims)} simulated ECU{plural} failed: {', '.join(sims)}")
    if report.problem:
        parts.append(report.problem)
    return f"bench {report.config.name!r} failed: " + "; ".join(parts)


def success_summary(report: BenchCheck, *, opened: bool) -> str:
    count = len(report.channels)
    channels = f"{count} CAN channel{'' if count == 1 else 's'}"
    if not opened:
        return f"bench {report.config.name!r} is valid ({channels}; nothing opened: --no-open)"
    sims = f", {len(report.sims)} simulated ECUs started" if report.sims else ""
    return f"bench {report.config.name!r} ok: {channels} opened and closed{sims}"


def bitrate_text(bitrate: int | None) -> str:
    """``500 kbit/s``, ``2 Mbit/s``; ``-`` when the interface's default applies."""
    if bitrate is None:
        return "-"
    for scale, unit in ((1_000_000, "Mbit/s"), (1_000, "kbit/s")):
        if bitrate >= scale:
            return f"{bitrate / scale:g} {unit}"
    return f"{bitrate} bit/s"


def _table(title: str, *columns: tuple[str, JustifyMethod]) -> Table:
    table = Table(title=Text(title), title_justify="left")
    for header, justify in columns:
        table.add_column(header, justify=justify)
    return table


def _status(text: str, failed: bool) -> Text:
    return Text(text, style="red" if failed else "green")


def diagnostics_text(section: Mapping[str, Any]) -> str:
    """The ``[diagnostics]`` section as written, CAN IDs and padding in hex, seed-key
    parameters redacted (they are the secret of the security access)."""
    return _pairs({key: _diagnostic_value(key, value) for key, value in section.items()})


def _diagnostic_value(key: str, value: Any) -> Any:
    if key == "params":
        return f"({len(value)} redacted)" if value else "(none)"
    if isinstance(value, Mapping):
        return "{" + diagnostics_text(value) + "}"
    if key == "padding" and isinstance(value, int) and not isinstance(value, bool):
        return f"0x{value:02X}"
    if key.endswith("_id") and isinstance(value, int) and not isinstance(value, bool):
        return f"0x{value:X}"
    if key.endswith("_ids") and isinstance(value, list):
        return "[" + ", ".join(f"0x{v:X}" if isinstance(v, int) else str(v) for v in value) + "]"
    return value


def _pairs(section: Mapping[str, Any]) -> str:
    """``key=value, ...`` for free-form sections (later layers give them meaning)."""
    return ", ".join(f"{key}={value}" for key, value in section.items())

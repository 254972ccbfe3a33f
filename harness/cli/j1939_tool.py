"""J1939-73 diagnostic messages from a node on a bench's J1939 channel: harness j1939.

The bench is opened as tests open it (on the virtual J1939 bench the simulated engine
and cab answer), the tester claims its address (0xF9 unless --tester-address), sends
one request to the node at --address and prints what came back. DM1 and DM2 print the
lamps and the DTCs (SPN, FMI, occurrence count); DM3 and DM11 print the node's
acknowledgement. A NACK, or no answer in time, is one `error: ...` line and exit code 2.

\b
Examples:
  harness j1939 dm1 --bench fixtures/benches/virtual-j1939.toml --address 0x00
  harness j1939 dm2 --address 0 --bench fixtures/benches/virtual-j1939.toml
  harness j1939 dm3 --address 0x00       # clear previously active DTCs
  harness j1939 dm11 --address 0x00      # clear active DTCs
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from harness.bench import Bench
from harness.canbus.saej1939.diagnostics import DEFAULT_TIMEOUT, DiagnosticTool
from harness.canbus.saej1939.dm import DiagnosticMessage
from harness.canbus.saej1939.request import Acknowledgement
from harness.canbus.saej1939.stack import J1939Node, name
from harness.cli.output import make_console
from harness.config import load_bench, overrides_from_env, resolve_bench_path
from harness.exceptions import ConfigError

TESTER_ADDRESS = 0xF9
"""Off-board diagnostic-service tool #1."""
LAMP_STATES = {0: "off", 1: "on", 2: "reserved", 3: "not available"}


def _address(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        address = int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an address (e.g. 0x00)") from None
    if not 0 <= address <= 0xFD:
        raise click.BadParameter(f"0x{address:02X} is not a node's address (0x00..0xFD)")
    return address


def _options(command: Any) -> Any:
    for option in reversed(
        (
            click.option(
                "--bench", "bench_file", type=click.Path(path_type=Path), metavar="FILE",
                help="Bench file (default: $HARNESS_BENCH, else fixtures/benches/virtual.toml).",
            ),
            click.option(
                "--set", "overrides", multiple=True, metavar="KEY=VALUE",
                help="Override one key of the bench file (repeatable); after $HARNESS_BENCH_SET.",
            ),
            click.option(
                "--address", required=True, callback=_address, metavar="SA",
                help="The node asked (its source address, e.g. 0x00).",
            ),
            click.option(
                "--channel", metavar="NAME",
                help="The bench's J1939 channel (default: the first whose database is J1939).",
            ),
            click.option(
                "--tester-address", default="0xF9", callback=_address, metavar="SA",
                show_default=True, help="The address the tester claims.",
            ),
            click.option(
                "--timeout", type=click.FloatRange(min=0, min_open=True),
                default=DEFAULT_TIMEOUT, show_default=True, help="Seconds to wait for the answer.",
            ),
        )
    ):  # fmt: skip
        command = option(command)
    return command


@contextmanager
def _tool(
    bench_file: Path | None,
    overrides: Sequence[str],
    channel_name: str | None,
    tester_address: int,
    timeout: float,
) -> Iterator[DiagnosticTool]:
    config = load_bench(resolve_bench_path(bench_file), [*overrides_from_env(), *overrides])
    with Bench.open(config) as bench:
        channel = _j1939_channel(bench, channel_name)
        with J1939Node(
            channel, name(identity=tester_address, function=129), tester_address
        ) as node:
            node.wait_claimed(timeout)
            yield DiagnosticTool(node, timeout=timeout)


def _j1939_channel(bench: Bench, wanted: str | None) -> Any:
    names = list(bench.can)
    if wanted is not None:
        return bench.can[wanted]  # an unknown name: the bench says which exist
    for channel_name in names:
        db = bench.can[channel_name].db
        if db is not None and db.is_j1939:
            return bench.can[channel_name]
    raise ConfigError(
        str(bench.config.path),
        "can",
        "no channel with a J1939 database (j1939 = true, or a J1939 DBC)",
    )


@click.group(name="j1939", help=__doc__)
def j1939() -> None:
    pass


def _show_dm(title: str, dm: DiagnosticMessage, address: int) -> None:
    console = make_console()
    lamps = (
        ("malfunction (MIL)", dm.malfunction_lamp),
        ("red stop", dm.red_stop_lamp),
        ("amber warning", dm.amber_warning_lamp),
        ("protect", dm.protect_lamp),
    )
    console.print(
        f"{title} from 0x{address:02X}: lamps "
        + ", ".join(f"{lamp} {LAMP_STATES[state]}" for lamp, state in lamps)
    )
    if not dm.dtcs:
        console.print("no DTCs")
        return
    table = Table("SPN", "FMI", "OC", box=None, pad_edge=False)
    for dtc in dm.dtcs:
        table.add_row(str(dtc.spn), str(dtc.fmi), str(dtc.occurrences))
    console.print(table)


def _show_ack(title: str, ack: Acknowledgement, address: int) -> None:
    make_console().print(f"{title} to 0x{address:02X}: {ack.meaning}")


def _read(which: str, what: str) -> Callable[..., None]:
    def command(
        bench_file: Path | None,
        overrides: tuple[str, ...],
        address: int,
        channel: str | None,
        tester_address: int,
        timeout: float,
    ) -> None:
        with _tool(bench_file, overrides, channel, tester_address, timeout) as tool:
            result = getattr(tool, which)(address)
        if isinstance(result, DiagnosticMessage):
            _show_dm(which.upper(), result, address)
        else:
            _show_ack(which.upper(), result, address)

    command.__doc__ = what
    return command


for _name, _help in (
    ("dm1", "Read the active DTCs and lamps (DM1, PGN 65226)."),
    ("dm2", "Read the previously active DTCs (DM2, PGN 65227)."),
    ("dm3", "Clear the previously active DTCs (DM3, PGN 65228); prints the ACK/NACK."),
    ("dm11", "Clear the active DTCs (DM11, PGN 65235); prints the ACK/NACK."),
):
    j1939.command(name=_name)(_options(_read(_name, _help)))

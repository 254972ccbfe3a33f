"""Everyday diagnostic reads from a bench's DUT (UDS over ISO-TP or DoIP): harness diag.

The bench is opened as tests open it (on the virtual bench the simulated BCM
answers), the read is done with the harness's UDS client, and the bench is
closed again. DIDs, DTCs and identity come out decoded and named from the DUT
profile the bench file's [diagnostics] section names. A negative response
or a timeout is one `error: ...` line and exit code 2.

\b
Examples:
  harness diag read-did --bench fixtures/benches/virtual.toml VIN
  harness diag read-did VIN PartNumber SoftwareVersion
  harness diag read-did --session extended --unlock 1 ImmobilizerData
  harness diag dtcs --mask 0x08
  harness diag identity
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from harness.bench import Bench
from harness.bench.diagnostics import open_uds
from harness.cli.output import make_console
from harness.config import load_bench, overrides_from_env, resolve_bench_path
from harness.diag.client import UdsClient
from harness.diag.names import SESSIONS
from harness.exceptions import HarnessError


def _bench_options(command: Any) -> Any:
    command = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override one key of the bench file (repeatable); after $HARNESS_BENCH_SET.",
    )(command)
    return click.option(
        "--bench",
        "bench_file",
        type=click.Path(path_type=Path),
        metavar="FILE",
        help="Bench file (default: $HARNESS_BENCH, else fixtures/benches/virtual.toml).",
    )(command)


@contextmanager
def _uds(bench_file: Path | None, overrides: Sequence[str]) -> Iterator[UdsClient]:
    config = load_bench(resolve_bench_path(bench_file), [*overrides_from_env(), *overrides])
    with Bench.open(config) as bench, open_uds(bench) as uds:
        yield uds


@click.group(name="diag", help=__doc__)
def diag() -> None:
    # udsoncan logs every negative response as a warning; here the error line says it
    logging.getLogger().addHandler(logging.NullHandler())


def _parse_did(text: str) -> str | int:
    """A DID by profile name, or by number (``0xF190`` or ``F190``)."""
    try:
        return int(text, 16)
    except ValueError:
        return text


def show_value(value: Any, unit: str = "") -> str:
    """A decoded DID value as a person reads it."""
    if isinstance(value, bytes | bytearray):
        return value.hex(" ")
    if isinstance(value, float):
        value = f"{value:.10g}"
    return f"{value} {unit}".strip()


@diag.command(name="read-did")
@_bench_options
@click.option(
    "--session",
    type=click.Choice([s for s in SESSIONS if s != "default"]),
    help="Enter this diagnostic session first.",
)
@click.option(
    "--unlock",
    "level",
    type=click.IntRange(1, 0x7D),
    metavar="LEVEL",
    help="Unlock this security level first (the bench's seed-key plugin computes the key).",
)
@click.argument("dids", nargs=-1, required=True, metavar="DID...")
def read_did(
    bench_file: Path | None,
    overrides: tuple[str, ...],
    session: str | None,
    level: int | None,
    dids: tuple[str, ...],
) -> None:
    """Read data identifiers by profile name (VIN) or number (0xF190); one line each."""
    with _uds(bench_file, overrides) as uds:
        if session is not None:
            uds.session(session)
        if level is not None:
            uds.unlock(level)
        for text in dids:
            ref = _parse_did(text)
            value = uds.read_did(ref)
            known = uds.config.profile is not None and (
                isinstance(ref, str) or uds.config.profile.did_by_id(ref) is not None
            )
            if known:
                did = uds.did(ref)
                click.echo(f"{did.name}: {show_value(value, did.unit)}")
            else:
                click.echo(f"0x{int(ref):04X}: {show_value(value)}")


@diag.command(name="dtcs")
@_bench_options
@click.option(
    "--mask",
    default="0xFF",
    show_default=True,
    metavar="BYTE",
    help="DTC status mask: report DTCs with any of these status bits set.",
)
@click.option("--supported", is_flag=True, help="Every DTC the ECU supports (0x19 0x0A).")
def dtcs(bench_file: Path | None, overrides: tuple[str, ...], mask: str, supported: bool) -> None:
    """Read the DUT's DTCs: code, name and status bits (ReadDTCInformation)."""
    try:
        status_mask = int(mask, 0)
    except ValueError:
        raise click.BadParameter(
            f"{mask!r} is not a byte (e.g. 0x08)", param_hint="--mask"
        ) from None
    if not 0 <= status_mask <= 0xFF:
        raise click.BadParameter(f"{mask} does not fit a byte", param_hint="--mask")
    with _uds(bench_file, overrides) as uds:
        records = uds.supported_dtcs() if supported else uds.dtcs(status_mask)
    console = make_console()
    if not records:
        console.print(f"no DTCs match status mask 0x{status_mask:02X}")
        return
    table = Table("DTC", "name", "status", "status bits", box=None, pad_edge=False)
    for record in records:
        table.add_row(
            record.text,
            record.name or "?",
            f"0x{record.status:02X}",
            ", ".join(record.status_names),
        )
    console.print(table)


@diag.command(name="identity")
@_bench_options
def identity(bench_file: Path | None, overrides: tuple[str, ...]) -> None:
    """Read the DIDs the DUT profile marks as identity (VIN, part number, versions...)."""
    with _uds(bench_file, overrides) as uds:
        dids = uds.profile.identity
        if not dids:
            raise HarnessError(f"{uds.profile.path}: no DID has identity = true")
        values = [(did, uds.read_did(did.name)) for did in dids]
    table = Table("DID", "id", "value", box=None, pad_edge=False)
    for did, value in values:
        table.add_row(did.name, f"0x{did.id:04X}", show_value(value, did.unit))
    make_console().print(table)

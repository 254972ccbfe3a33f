"""``harness dbc``: look inside a signal database before a test depends on it.

``harness dbc show FILE`` lists the messages (ID, frame type, length, cycle
time, senders); ``--message NAME`` lists one message's signals with their
layout, scaling, range, initial value and value table. Loading goes through
:class:`~harness.canbus.database.SignalDatabase`, so a file the harness cannot
use fails here with the same one-line error a test would see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

from harness.canbus.database import SignalDatabase
from harness.canbus.saej1939.addressing import parse_id
from harness.cli.output import make_console
from harness.exceptions import DatabaseError

if TYPE_CHECKING:
    from cantools.database.can import Message, Signal


_NUMERIC_COLUMNS = frozenset({"Start", "Len", "Scale", "Offset", "Min", "Max"})

_CHOICES_SHOWN = 4
"""Value-table entries shown before the rest are summarised as "(+n more)"."""


@click.group(name="dbc")
def dbc() -> None:
    """Show what a signal database (DBC, ARXML, KCD, SYM) contains.

    \b
    Example:
      harness dbc show dbc/demo_vehicle.dbc
      harness dbc show dbc/demo_vehicle.dbc --message BCM_DoorStatus
    """


@dbc.command(name="show", short_help="List the messages, or one message's signals.")
@click.argument("file", type=click.Path(path_type=Path))  # load() reports a missing file
@click.option(
    "-m",
    "--message",
    "message_name",
    metavar="NAME",
    help="Show this message's signals instead of the list of messages.",
)
@click.option(
    "--no-strict",
    is_flag=True,
    help="Load even if signals overlap or do not fit their message (as cantools --no-strict).",
)
def show(file: Path, message_name: str | None, no_strict: bool) -> None:
    """List the messages in FILE, or with --message the signals of one message.

    The message list gives each ID (29-bit IDs in 8 hex digits), frame type,
    length, cycle time (GenMsgCycleTime, or "event"), senders and signal count.
    The signal list gives start bit, length, byte order, sign, scaling, range,
    unit, initial value (GenSigStartValue), value table and multiplexing.
    For a J1939 database (ProtocolType "J1939" or VFrameFormat J1939PG) the
    list also gives each message's PGN, priority and default source address
    (SA), and the signal list each signal's SPN.

    \b
    Examples:
      harness dbc show dbc/demo_vehicle.dbc
      harness dbc show dbc/demo_vehicle.dbc --message TCU_Status
      harness dbc show vendor.dbc --no-strict
    """
    db = load(file, strict=not no_strict)
    console = make_console()
    if message_name is None:
        console.print(messages_table(db))
        console.print(Text(f"Nodes: {', '.join(db.nodes) or '-'}"))
    else:
        message = db.message(message_name)
        for line in message_summary(message, j1939=db.is_j1939_message(message)):
            console.print(Text(line))
        console.print(signals_table(message, j1939=db.is_j1939_message(message)))


def load(path: Path, *, strict: bool) -> SignalDatabase:
    """Load ``path``; when strict loading fails but lenient loading works, say so."""
    try:
        return SignalDatabase.load(path, strict=strict)
    except DatabaseError as exc:
        if strict and _loads_leniently(path):
            raise DatabaseError(f"{exc} (--no-strict loads it anyway)") from exc
        raise


def _loads_leniently(path: Path) -> bool:
    try:
        SignalDatabase.load(path, strict=False)
    except DatabaseError:
        return False
    return True


def messages_table(db: SignalDatabase) -> Table:
    """One row per message, ordered by frame type then ID as a trace viewer would."""
    count = len(db.messages)
    title = f"{db.name}: {count} message{'' if count == 1 else 's'}"
    table = Table(title=Text(title), title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("Message", "left"),
        ("ID", "right"),
        ("Frame", "left"),
        ("Bytes", "right"),
        ("Cycle", "right"),
        ("Senders", "left"),
        ("Signals", "right"),
    )
    if db.is_j1939:
        columns = (*columns[:2], ("PGN", "right"), ("Prio", "right"), ("SA", "right"), *columns[2:])
    for header, justify in columns:
        table.add_column(header, justify=justify)
    for message in sorted(db.messages, key=lambda m: (m.is_extended_frame, m.frame_id)):
        cells = [
            message.name,
            id_text(message),
            frame_type(message),
            str(message.length),
            cycle_text(message),
            ", ".join(message.senders) or "-",
            str(len(message.signals)),
        ]
        if db.is_j1939:
            cells[2:2] = j1939_cells(message) if db.is_j1939_message(message) else ["-"] * 3
        table.add_row(*_texts(*cells))
    return table


def j1939_cells(message: Message) -> list[str]:
    """PGN (decimal and hex), priority and default source address of a J1939 message."""
    j1939 = parse_id(message.frame_id)
    return [f"{j1939.pgn} (0x{j1939.pgn:05X})", str(j1939.priority), f"0x{j1939.source:02X}"]


def message_summary(message: Message, *, j1939: bool = False) -> list[str]:
    """The header lines above a message's signal table."""
    senders = ", ".join(message.senders) or "-"
    receivers = ", ".join(sorted(message.receivers)) or "-"
    lines = [
        f"{message.name}  {id_text(message)}  {frame_type(message)}  "
        + f"{message.length} bytes  cycle {cycle_text(message)}",
        f"Senders: {senders}  Receivers: {receivers}",
    ]
    if j1939:
        pgn, priority, source = j1939_cells(message)
        lines.insert(1, f"J1939 PGN {pgn}  priority {priority}  default SA {source}")
    if message.comment:
        lines.append(" ".join(str(message.comment).split()))
    return lines


def signals_table(message: Message, *, j1939: bool = False) -> Table:
    """One row per signal: layout, scaling, range, initial value, value table, mux
    (and the SPN of a J1939 message's signals)."""
    multiplexed = message.is_multiplexed()
    headers = [
        "Signal", "Start", "Len", "Order", "Type", "Scale", "Offset",
        "Min", "Max", "Unit", "Initial", "Values",
    ]  # fmt: skip
    if multiplexed:
        headers.append("Mux")
    if j1939:
        headers.append("SPN")
    count = len(message.signals)
    table = Table(title=Text(f"{count} signal{'' if count == 1 else 's'}"), title_justify="left")
    for header in headers:
        justify: JustifyMethod = "right" if header in _NUMERIC_COLUMNS else "left"
        table.add_column(header, justify=justify)
    for signal in message.signals:
        cells = [
            signal.name,
            str(signal.start),
            str(signal.length),
            "big" if signal.byte_order == "big_endian" else "little",
            _type_text(signal),
            number(signal.scale),
            number(signal.offset),
            number(signal.minimum),
            number(signal.maximum),
            signal.unit or "",
            number(signal.initial),
            choices_text(signal.choices),
        ]
        if multiplexed:
            cells.append(mux_text(signal))
        if j1939:
            cells.append("" if signal.spn is None else str(signal.spn))
        table.add_row(*_texts(*cells))
    return table


def id_text(message: Message) -> str:
    """``0x100`` for an 11-bit ID, ``0x18FF1021`` (8 digits) for a 29-bit one."""
    width = 8 if message.is_extended_frame else 3
    return f"0x{message.frame_id:0{width}X}"


def frame_type(message: Message) -> str:
    """``CAN`` or ``CAN FD``, with ``ext`` for 29-bit IDs and ``container`` for containers."""
    kind = "CAN FD" if message.is_fd else "CAN"
    if message.is_extended_frame:
        kind += " ext"
    if message.is_container:
        kind += " container"
    return kind


def cycle_text(message: Message) -> str:
    return f"{message.cycle_time} ms" if message.cycle_time else "event"


def number(value: Any) -> str:
    """A number as the DBC wrote it (no float noise, no rounding); "" for None."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)  # value-table name (NamedSignalValue) or Decimal-like
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".12g")


def choices_text(choices: Mapping[Any, Any] | None) -> str:
    """``0=OFF, 1=LEFT, ...`` cut after a few entries so the table stays readable."""
    if not choices:
        return ""
    items = [f"{raw}={name}" for raw, name in choices.items()]
    shown = ", ".join(items[:_CHOICES_SHOWN])
    rest = len(items) - _CHOICES_SHOWN
    return f"{shown}, ... (+{rest} more)" if rest > 0 else shown


def mux_text(signal: Signal) -> str:
    """``selector`` for a multiplexer, ``InfoType=1`` for a signal it selects."""
    parts = []
    if signal.is_multiplexer:
        parts.append("selector")
    if signal.multiplexer_ids:
        ids = ",".join(str(i) for i in signal.multiplexer_ids)
        parts.append(f"{signal.multiplexer_signal}={ids}")
    return "; ".join(parts)


def _type_text(signal: Signal) -> str:
    if signal.is_float:
        return "float"
    return "signed" if signal.is_signed else "unsigned"


def _texts(*cells: str) -> Iterable[Text]:
    """Cells as plain Text: names like ``[m]`` must not be read as rich markup."""
    return [Text(cell) for cell in cells]

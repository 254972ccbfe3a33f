"""``harness decode``: a recorded trace, frame by frame, decoded with signal databases.

The trace is streamed (traces can hold millions of frames), so output starts at
once and memory stays flat. Frames of IDs no database defines are shown raw.
A trace or database the harness cannot read ends in one ``error: ...`` line and
exit code 2, and everything decoded before a damaged part of a trace has been
written out by then. A summary of what was seen goes to stderr.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import difflib
import json
import logging
import math
import os
import sys
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self, TextIO

import can
import click
from cantools.database.namedsignalvalue import NamedSignalValue

from harness.canbus.saej1939.addressing import GLOBAL_ADDRESS, build_id, is_pdu1
from harness.canbus.saej1939.dm import DM1, DM2, DmError, Dtc, parse_dm
from harness.canbus.saej1939.transport import TP_CM, TP_DT, Reassembler
from harness.cli.dbc import load
from harness.cli.options import dbc_option, scheduler_option, workers_option
from harness.cli.output import fleet_errors, fleet_progress
from harness.trace.fleet import expand_traces, names_several
from harness.trace.reader import (
    BadLines,
    decode_message,
    lookup_extended,
    read_trace,
    supported_formats,
    trace_format,
)

if TYPE_CHECKING:
    from collections.abc import Generator, Mapping

    from cantools.database.can import Message

    from harness.canbus.database import SignalDatabase
    from harness.canbus.frame import Frame
    from harness.trace.columnar import DecodeStats

OUTPUT_FORMATS = ("table", "csv", "jsonl")

_BROKEN_PIPE_EXIT = 141
"""Exit code when stdout's reader goes away (``| head``): 128 + SIGPIPE, as a Unix tool's."""

_NAME_WIDTH_MAX = 32
"""The message column fits names up to this long; longer ones push the line right."""

_BODY_CACHE_LIMIT = 65_536

_HELP = f"""Decode the CAN frames recorded in TRACE with signal databases.

Frames whose ID a database defines show their message name and signal values
(value-table names where defined, units after numbers); other frames show
their bytes. When several databases define an ID, the first --dbc wins.
Times are seconds from the first frame unless --absolute. Channels are
numbered as python-can reads them (ASC and BLF channel 1 is 0). When the
trace is done, a summary goes to stderr: frames, decoded, unknown,
undecodable, error frames.

IDs below 0x800 written with 8 digits (a habit of many candump loggers)
read as 29-bit; a frame flagged extended that only an 11-bit message
defines decodes as that message, counted in the summary (--strict-ids
takes the flag as recorded). A malformed candump or ASC line stops the
decode with its line and column; --skip-bad passes over such lines and
counts them. --uds writes table or jsonl, times from the first frame.

Trace formats: {supported_formats()}.

\b
Examples:
  harness decode run.blf --dbc dbc/demo_vehicle.dbc
  harness decode run.asc --dbc body.dbc --dbc powertrain.dbc --limit 100
  harness decode run.blf --dbc dbc/demo_vehicle.dbc --format csv > run.csv
  harness decode run.trc --format jsonl | jq 'select(.name == "BCM_DoorStatus")'
  harness decode run.blf --dbc dbc/demo_vehicle.dbc --to parquet out/ --message ECM_EngineData
  harness decode 'fleet/**/*.blf' --dbc dbc/demo_vehicle.dbc --to parquet out/ --workers 2

With --to parquet DIR the trace is decoded in bulk (numpy, not frame by frame)
into one Parquet file per message, DIR/<message>/part-0.parquet: columns
timestamp, channel, direction, arbitration_id, then one per signal (physical
values; null where a multiplexer selects another branch). Frames that do not
decode are counted in the summary, not written. --message, --id and --signal
narrow what is written.

Several traces, a folder (searched recursively) or a quoted glob decode with
--to parquet into one dataset, one Dask task and one part per trace
(DIR/<message>/<trace>.parquet), on a local cluster (--workers) or an
existing one (--scheduler). A trace that cannot be read stops only itself;
the run then ends with exit code 2.
"""


@click.command(name="decode", help=_HELP)
@click.argument("traces", nargs=-1, required=True, metavar="TRACE...")
@dbc_option("Signal database (DBC, ARXML, KCD, SYM); repeat for several. Without it, all raw.")
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(OUTPUT_FORMATS),
    default="table",
    show_default=True,
    help="table: aligned text; csv: a header and one row per frame; jsonl: a JSON object a line.",
)
@click.option("-n", "--limit", type=click.IntRange(min=1), metavar="N", help="Stop after N frames.")
@click.option(
    "--absolute", is_flag=True, help="Show timestamps as recorded, not from the first frame."
)
@click.option(
    "--no-strict",
    is_flag=True,
    help="Load databases even if signals overlap or do not fit their message.",
)
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Pass over malformed lines of a candump or ASC trace, counted in the summary, "
    "instead of stopping at the first.",
)
@click.option(
    "--strict-ids",
    is_flag=True,
    help="Take the extended flag as recorded: an ID below 0x800 written with 8 digits "
    "does not match an 11-bit message.",
)
@click.option(
    "--uds",
    "uds_ids",
    metavar="TX:RX[:FUNC]",
    help="Instead of frames, the UDS conversation between these CAN IDs (hex, e.g. 7E0:7E8:7DF): "
    "ISO-TP reassembled, services and NRCs named, keys redacted. --limit counts messages.",
)
@click.option(
    "--profile",
    "dut_profile",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="DUT profile (fixtures/dut/*.toml) naming DIDs, DTCs and routines for --uds.",
)
@click.option(
    "--to",
    "to",
    type=(click.Choice(["parquet"]), click.Path(path_type=Path)),
    metavar="parquet DIR",
    help="Write a Parquet dataset (DIR/<message>/part-0.parquet) instead of text.",
)
@click.option(
    "--message",
    "message_names",
    multiple=True,
    metavar="NAME",
    help="With --to: only this message.",
)
@click.option(
    "--id", "frame_ids", multiple=True, metavar="HEX", help="With --to: only this frame ID (hex)."
)
@click.option(
    "--signal", "signal_names", multiple=True, metavar="NAME", help="With --to: only this signal."
)
@click.option("--labels", is_flag=True, help="With --to: value-table names as <signal>_label.")
@scheduler_option
@workers_option
def decode(
    *,
    traces: Sequence[str],
    dbc_files: Sequence[Path],
    output_format: str,
    limit: int | None,
    absolute: bool,
    no_strict: bool,
    skip_bad: bool,
    strict_ids: bool,
    uds_ids: str | None,
    dut_profile: Path | None,
    to: tuple[str, Path] | None,
    message_names: Sequence[str],
    frame_ids: Sequence[str],
    signal_names: Sequence[str],
    labels: bool,
    scheduler: str | None,
    workers: int | None,
) -> None:
    bad_lines = BadLines() if skip_bad else None
    fleet = names_several(traces)
    if fleet and to is None:
        raise click.UsageError(
            "several traces (a folder or glob) decode into one dataset: add --to parquet DIR"
        )
    if not fleet and (scheduler or workers):
        raise click.UsageError("--scheduler and --workers go with several traces")
    if to is not None:
        if skip_bad:
            raise click.UsageError("--skip-bad does not go with --to parquet")
        databases = [load(path, strict=not no_strict) for path in dbc_files]
        _decode_to_parquet(
            expand_traces(traces) if fleet else [Path(traces[0])],
            databases,
            to[1],
            fleet=fleet,
            scheduler=scheduler,
            workers=workers,
            messages=message_names,
            ids=frame_ids,
            signals=signal_names,
            labels=labels,
            strict_ids=strict_ids,
        )
        return
    if message_names or frame_ids or signal_names or labels:
        raise click.UsageError("--message, --id, --signal and --labels go with --to parquet DIR")
    trace = Path(traces[0])
    if uds_ids is not None:
        if output_format == "csv":
            raise click.UsageError("--uds writes table or jsonl, not csv")
        _decode_uds(
            trace,
            uds_ids,
            dut_profile,
            limit=limit,
            absolute=absolute,
            jsonl=output_format == "jsonl",
            bad_lines=bad_lines,
        )
        return
    has_direction = trace_format(trace).has_direction
    messages = read_trace(trace, skip_bad=bad_lines)  # checks the file now, opens it later
    decoder = _Decoder(
        [load(path, strict=not no_strict) for path in dbc_files], strict_ids=strict_ids
    )
    writer = _WRITERS[output_format](sys.stdout, decoder.databases, has_direction=has_direction)
    tally = _Tally()
    with _ReaderWarnings() as warnings:
        try:
            _stream(messages, decoder, writer, tally, limit=limit, absolute=absolute)
        except BrokenPipeError:
            _detach_stdout()
            raise click.exceptions.Exit(_BROKEN_PIPE_EXIT) from None
    click.echo(tally.summary(warnings, padded=decoder.padded, bad_lines=bad_lines), err=True)


def _stream(
    messages: Generator[can.Message, None, None],
    decoder: _Decoder,
    writer: _Writer,
    tally: _Tally,
    *,
    limit: int | None,
    absolute: bool,
) -> None:
    """Decode and write until the trace ends; what was written is flushed even on error."""
    origin = 0.0
    started = False
    try:
        with closing(messages):
            for msg in messages:
                if not started:  # not before: a trace that fails at once prints no header
                    writer.start()
                    started = True
                    origin = 0.0 if absolute else msg.timestamp
                frame, definition = decoder.decode(msg)
                writer.write(msg, frame, frame.timestamp - origin, definition)
                tally.count(frame)
                long = decoder.reassemble(msg, frame)
                if long is not None:  # the message a transport-protocol transfer carried
                    frame, definition = decoder.decode(long)
                    writer.write(long, frame, frame.timestamp - origin, definition)
                    tally.reassembled += 1
                if limit is not None and tally.frames >= limit:
                    tally.limited = True
                    break
        if not started:
            writer.start()  # an empty trace still gets its header
    finally:
        writer.out.flush()


class _Decoder:
    """Decodes each frame with the first database that defines its ID; on J1939
    databases also rebuilds transport-protocol transfers (BAM and RTS/CTS).

    Unless ``strict_ids``, a frame flagged extended that only an 11-bit message
    defines decodes as that message (:func:`~harness.trace.reader.lookup_extended`);
    it keeps its recorded flag, and ``padded`` counts such frames.
    """

    def __init__(self, databases: list[SignalDatabase], *, strict_ids: bool = False) -> None:
        self.databases = databases
        self.strict_ids = strict_ids
        self.padded = 0
        self.j1939 = next((db for db in databases if db.is_j1939), None)
        self.transfers: dict[str, Reassembler] | None = {} if self.j1939 else None
        """One reassembler per channel of the trace."""

    def reassemble(self, msg: can.Message, frame: Frame) -> can.Message | None:
        """The long message this TP.DT frame completes, as one frame of its PGN."""
        if self.transfers is None or frame.pgn not in (TP_CM, TP_DT):
            return None
        reassembler = self.transfers.setdefault(frame.channel, Reassembler())
        done = reassembler.feed(frame.arbitration_id, frame.data, frame.timestamp)
        if done is None:
            return None
        destination = done.destination if is_pdu1(done.pgn) else GLOBAL_ADDRESS
        return can.Message(
            timestamp=done.timestamp,
            arbitration_id=build_id(
                done.pgn, source=done.source, destination=destination, priority=done.priority
            ),
            is_extended_id=True,
            data=done.data,
            dlc=len(done.data),
            channel=msg.channel,
            is_rx=msg.is_rx,
            check=False,
        )

    def defines(self, arbitration_id: int, is_extended: bool) -> bool:
        return any(db.message_for(arbitration_id, is_extended) for db in self.databases)

    def decode(self, msg: can.Message) -> tuple[Frame, Message | None]:
        if msg.is_error_frame:
            return decode_message(msg, self.j1939), None  # J1939 fields even where no PGN is known
        extended = msg.is_extended_id
        if not self.strict_ids:
            extended = lookup_extended(msg.arbitration_id, extended, self.defines)
        for db in self.databases:
            definition = db.message_for(msg.arbitration_id, extended)
            if definition is None:
                continue
            if extended == msg.is_extended_id:
                return decode_message(msg, db), definition
            self.padded += 1
            as_standard = copy.copy(msg)
            as_standard.is_extended_id = False
            frame = decode_message(as_standard, db)
            return dataclasses.replace(frame, is_extended_id=True), definition
        return decode_message(msg, self.j1939), None  # J1939 fields even where no PGN is known


class _Writer:
    """One output format: an optional header, then one record per frame."""

    def __init__(
        self, out: TextIO, databases: Sequence[SignalDatabase], *, has_direction: bool
    ) -> None:
        self.out = out
        self.has_direction = has_direction

    def start(self) -> None:
        """Write whatever comes before the first frame."""

    def write(self, msg: can.Message, frame: Frame, t: float, definition: Message | None) -> None:
        raise NotImplementedError

    def direction(self, frame: Frame) -> str:
        """``rx``/``tx``, or empty where the format does not record it."""
        if not self.has_direction:
            return ""
        return "rx" if frame.is_rx else "tx"


class _Table(_Writer):
    """Aligned columns for people: time, channel, direction, ID, kind, DLC, name, contents."""

    def __init__(
        self, out: TextIO, databases: Sequence[SignalDatabase], *, has_direction: bool
    ) -> None:
        super().__init__(out, databases, has_direction=has_direction)
        longest = max((len(m.name) for db in databases for m in db.messages), default=0)
        self.name_width = min(max(longest, len("message")), _NAME_WIDTH_MAX)
        self.units: dict[int, dict[str, str]] = {}
        self.bodies: dict[tuple[int, bytes], str] = {}
        """Rendered signals by (message, payload): cyclic frames repeat their payloads."""

    def start(self) -> None:
        self.out.write(
            f"{'time':>12}  {'ch':<4} {'dir':<3} {'id':>10} {'':<3} {'dlc':>3}  "
            + f"{'message':<{self.name_width}}  signals or data\n"
        )

    def write(self, msg: can.Message, frame: Frame, t: float, definition: Message | None) -> None:
        if frame.is_error:
            kind, name, body = "ERR", "-", "error frame"
        elif frame.is_remote:
            kind, name, body = "RTR", frame.name or "?", "remote request"
        else:
            kind, name = _kind(frame), frame.name or "?"
            if frame.signals and definition is not None:
                key = (id(definition), frame.data)
                body = self.bodies.get(key, "")
                if not body:
                    if len(self.bodies) >= _BODY_CACHE_LIMIT:
                        self.bodies.clear()
                    body = self.bodies[key] = self._signals(frame.signals, definition)
            else:
                body = frame.data.hex(" ") or "(no data)"
                if frame.decode_error:
                    body += f"  [undecodable: {frame.decode_error}]"
        if frame.pgn is not None:
            body = (
                f"SA=0x{frame.source_address:02X} "
                + (
                    f"DA=0x{frame.destination_address:02X} "
                    if frame.destination_address != GLOBAL_ADDRESS
                    else ""
                )
                + f"P{frame.priority} {body}"
                + "".join(f" DTC=({d})" for d in _dtcs(frame))
            )
        self.out.write(
            f"{t:12.6f}  {frame.channel:<4} {self.direction(frame) or '-':<3} "
            + f"{frame.id_text():>10} {kind:<3} {msg.dlc:>3}  {name:<{self.name_width}}  {body}\n"
        )

    def _signals(self, signals: Mapping[str, Any], definition: Message) -> str:
        units = self.units.get(id(definition))
        if units is None:
            units = {s.name: s.unit for s in definition.signals if s.unit}
            self.units[id(definition)] = units
        parts = []
        for name, value in signals.items():
            unit = units.get(name) if isinstance(value, int | float) else None
            parts.append(f"{name}={_value_text(value)}" + (f" {unit}" if unit else ""))
        return " ".join(parts)


class _Csv(_Writer):
    """A header row and one row per frame; signals as one JSON object per row."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "timestamp", "channel", "direction", "id", "extended", "fd", "remote", "error",
        "dlc", "data", "name", "signals", "decode_error",
    )  # fmt: skip

    def __init__(
        self, out: TextIO, databases: Sequence[SignalDatabase], *, has_direction: bool
    ) -> None:
        super().__init__(out, databases, has_direction=has_direction)
        self.rows = csv.writer(out, lineterminator="\n")

    def start(self) -> None:
        self.rows.writerow(self.FIELDS)

    def write(self, msg: can.Message, frame: Frame, t: float, definition: Message | None) -> None:
        self.rows.writerow(
            (
                f"{t:.9f}",
                frame.channel,
                self.direction(frame),
                frame.id_text(),
                int(frame.is_extended_id),
                int(frame.is_fd),
                int(frame.is_remote),
                int(frame.is_error),
                msg.dlc,
                frame.data.hex(),
                frame.name or "",
                _signals_json(frame.signals),
                frame.decode_error or "",
            )
        )


class _Jsonl(_Writer):
    """One JSON object per frame and line; ``id`` is the number, ``data`` hex."""

    def write(self, msg: can.Message, frame: Frame, t: float, definition: Message | None) -> None:
        record = {
            "timestamp": round(t, 9),
            "channel": frame.channel,
            "direction": self.direction(frame) or None,
            "id": frame.arbitration_id,
            "extended": frame.is_extended_id,
            "fd": frame.is_fd,
            "remote": frame.is_remote,
            "error": frame.is_error,
            "dlc": msg.dlc,
            "data": frame.data.hex(),
            "name": frame.name,
            "signals": {name: _json_value(v) for name, v in frame.signals.items()},
            "decode_error": frame.decode_error,
        }
        if frame.pgn is not None:
            record |= {
                "pgn": frame.pgn,
                "priority": frame.priority,
                "source_address": frame.source_address,
                "destination_address": frame.destination_address,
            }
            dtcs = _dtcs(frame)
            if dtcs:
                record["dtcs"] = [str(dtc) for dtc in dtcs]
        self.out.write(json.dumps(record) + "\n")


def _kind(frame: Frame) -> str:
    """``FD``, ``TP`` for a message rebuilt from a J1939 transfer (no classic frame
    holds more than 8 bytes), or nothing."""
    if frame.is_fd:
        return "FD"
    return "TP" if len(frame.data) > 8 else ""


def _dtcs(frame: Frame) -> list[Dtc]:
    """Every DTC of a DM1 or DM2 (a database declares only the first one)."""
    if frame.pgn not in (DM1, DM2):
        return []
    try:
        return list(parse_dm(frame.data).dtcs)
    except DmError:
        return []


_WRITERS: dict[str, type[_Writer]] = {"table": _Table, "csv": _Csv, "jsonl": _Jsonl}


@dataclass(slots=True)
class _Tally:
    """What the trace held, for the summary line."""

    frames: int = 0
    decoded: int = 0
    unknown: int = 0
    undecodable: int = 0
    errors: int = 0
    remote: int = 0
    reassembled: int = 0
    limited: bool = False

    def count(self, frame: Frame) -> None:
        self.frames += 1
        if frame.is_error:
            self.errors += 1
        elif frame.is_remote:
            self.remote += 1
        elif frame.name is None:
            self.unknown += 1
        elif frame.decode_error:
            self.undecodable += 1
        else:
            self.decoded += 1

    def summary(
        self, warnings: _ReaderWarnings, *, padded: int = 0, bad_lines: BadLines | None = None
    ) -> str:
        text = (
            f"{_plural(self.frames, 'frame')}: {self.decoded} decoded{_padded_note(padded)}, "
            + f"{self.unknown} unknown, {self.undecodable} undecodable, "
            + _plural(self.errors, "error frame")
        )
        if self.remote:
            text += f", {self.remote} remote"
        if self.reassembled:
            text += f", {self.reassembled} reassembled by J1939 TP"
        if self.limited:
            text += " (stopped at --limit)"
        if bad_lines is not None and bad_lines.count:
            text += f"; skipped {_plural(bad_lines.count, 'bad line')} (first: {bad_lines.first})"
        if warnings.count:
            text += f"; python-can skipped {_plural(warnings.count, 'line')} ({warnings.first})"
        return text


class _ReaderWarnings(logging.Handler):
    """Collects what python-can's readers log about lines they skip.

    Shown as a count in the summary, instead of log lines printed among the
    output (and on stderr of a run that should end in one ``error:`` line).
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first = ""
        self._logger = logging.getLogger("can.io")
        self._propagate = self._logger.propagate

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if not self.first:
            self.first = " ".join(record.getMessage().split())[:80]

    def __enter__(self) -> Self:
        self._logger.addHandler(self)
        self._logger.propagate = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate


def _value_text(value: Any) -> str:
    """A signal value as a person reads it: no float noise, value-table names as names."""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _json_value(value: Any) -> Any:
    """A signal value JSON can hold: value-table names as strings, NaN and inf as strings."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, NamedSignalValue):
        return value.name
    return str(value)


def _signals_json(signals: Mapping[str, Any]) -> str:
    return json.dumps({name: _json_value(v) for name, v in signals.items()})


def _padded_note(padded: int) -> str:
    """How many frames matched an 11-bit message though flagged extended, if any."""
    if not padded:
        return ""
    return f" ({padded} by 11-bit ID though flagged extended; --strict-ids refuses)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _decode_uds(
    trace: Path,
    spec: str,
    dut_profile: Path | None,
    *,
    limit: int | None,
    absolute: bool,
    jsonl: bool,
    bad_lines: BadLines | None,
) -> None:
    """``--uds``: the diagnostic conversation (:mod:`harness.diag.tracedecode`).

    Times count from the trace's first frame, as in the frame view; a summary
    (messages, of them from other ECUs, bad lines skipped) goes to stderr.
    """
    from harness.diag.profile import load_profile  # noqa: PLC0415 - udsoncan only when asked
    from harness.diag.tracedecode import parse_uds_spec, timed_conversation  # noqa: PLC0415

    try:
        parse_uds_spec(spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--uds") from None
    profile = load_profile(dut_profile) if dut_profile is not None else None
    count = others = 0
    with closing(read_trace(trace, skip_bad=bad_lines)) as messages:
        timed = timed_conversation(messages, spec, profile=profile, absolute=absolute)
        for origin, message in timed:
            click.echo(json.dumps(message.record(origin)) if jsonl else message.line(origin))
            count += 1
            others += message.other_ecu
            if limit is not None and count >= limit:
                break
    summary = _plural(count, "UDS message")
    if others:
        summary += f", {others} from other ECUs"
    if bad_lines is not None and bad_lines.count:
        summary += f"; skipped {_plural(bad_lines.count, 'bad line')} (first: {bad_lines.first})"
    click.echo(summary, err=True)


def _decode_to_parquet(
    traces: list[Path],
    databases: list[SignalDatabase],
    directory: Path,
    *,
    fleet: bool,
    scheduler: str | None,
    workers: int | None,
    messages: Sequence[str],
    ids: Sequence[str],
    signals: Sequence[str],
    labels: bool,
    strict_ids: bool,
) -> None:
    """``--to parquet DIR``: the columnar engine, one dataset per message; several traces
    on Dask, one part per trace (``DIR/<message>/<trace>.parquet``)."""
    from harness.trace.columnar import write_parquet  # noqa: PLC0415 - numpy/pyarrow when asked
    from harness.trace.fleet import parquet_task, run_per_file, total_stats  # noqa: PLC0415

    if not databases:
        raise click.UsageError("--to parquet needs at least one --dbc")
    known = {m.name for db in databases for m in db.messages}
    for name in messages:
        if name not in known:
            raise click.BadParameter(
                f"no message {name!r} in the databases{_close(name, known)}",
                param_hint="--message",
            )
    options: dict[str, Any] = {
        "messages": messages or None,
        "ids": [_hex_id(text) for text in ids] or None,
        "signals": signals or None,
        "labels": labels,
        "strict_ids": strict_ids,
    }
    if not fleet:
        result = write_parquet(traces[0], databases, directory, **options)
        click.echo(_parquet_summary(result.stats, directory, result.rows), err=True)
        return
    task = parquet_task(traces, databases, directory, **options)
    outcomes = run_per_file(
        task, traces, scheduler=scheduler, workers=workers, progress=fleet_progress
    )
    done = [outcome.result for outcome in outcomes if outcome.result is not None]
    stats = total_stats(result.stats for result in done)
    rows: Counter[str] = sum((result.rows for result in done), Counter())
    summary = _parquet_summary(stats, directory, rows)
    click.echo(f"{_plural(len(done), 'trace')}: {summary}", err=True)
    fleet_errors(outcomes, "written")


def _parquet_summary(stats: DecodeStats, directory: Path, rows: Counter[str]) -> str:
    written = ", ".join(f"{name} {count}" for name, count in sorted(rows.items()))
    return (
        f"{_plural(stats.frames, 'frame')}: {stats.decoded} decoded{_padded_note(stats.padded)}, "
        + f"{stats.unknown} unknown, "
        + f"{stats.undecodable} undecodable, {_plural(stats.errors, 'error frame')}"
        + (f", {stats.remote} remote" if stats.remote else "")
        + (f", {stats.reassembled} reassembled by J1939 TP" if stats.reassembled else "")
        + f"; {_plural(len(rows), 'message')} written to {directory}"
        + (f" ({written})" if written else "")
    )


def _close(name: str, names: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""


def _hex_id(text: str) -> int:
    try:
        return int(text.removeprefix("0x").removeprefix("0X"), 16)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a hex frame ID", param_hint="--id") from None


def _detach_stdout() -> None:
    """Point stdout at the null device once its reader has gone.

    Python flushes stdout on exit; with the pipe closed that flush would raise
    again and print "Exception ignored ... BrokenPipeError" (see the Python
    docs, signal module, "Note on SIGPIPE").
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (e.g. under CliRunner)
        pass
    finally:
        os.close(devnull)

"""A trace decoded to one Arrow table per message, chunk by chunk; Parquet datasets from it.

Every table has the columns ``timestamp`` (float64, seconds as recorded),
``channel`` (dictionary string: python-can's channel as text), ``direction``
(dictionary string ``rx``/``tx``, null where the format records none),
``arbitration_id`` (uint32), then one column per signal in database order
(types and nulls as :mod:`harness.trace.columnar.signals` explains). A J1939 message
(the database says so, see :class:`~harness.canbus.database.SignalDatabase`) matches
its frames by PGN, from any source address and priority, as the per-frame decoder
does, and its table has ``priority``, ``pgn``, ``source_address`` and
``destination_address`` (J1939_COLUMNS) after ``arbitration_id``.

The Parquet layout is one directory per message, ``DIR/<message>/part-0.parquet``
(a second trace written to the same DIR with ``part="part-1"`` adds a file), so
each message is a dataset any engine reads as it is::

    pyarrow.parquet.read_table("DIR/ECM_EngineData")
    polars.read_parquet("DIR/ECM_EngineData/*.parquet")
    duckdb.sql("SELECT avg(EngineSpeed) FROM 'DIR/ECM_EngineData/*.parquet'")

>>> db = SignalDatabase.load("dbc/demo_vehicle.dbc")             # doctest: +SKIP
>>> tables = decode_columns("run.blf", [db])                       # doctest: +SKIP
>>> tables["ECM_EngineData"].column("EngineSpeed")                 # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import can
import cantools.database
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness.canbus.database import SignalDatabase
from harness.canbus.saej1939.addressing import (
    GLOBAL_ADDRESS,
    PDU2_FIRST_PF,
    build_id,
    is_pdu1,
    pgn_of,
)
from harness.canbus.saej1939.transport import TP_CM, TP_DT, Reassembler
from harness.trace.columnar.blf import read_blf
from harness.trace.columnar.candump import read_candump
from harness.trace.columnar.frames import (
    DEFAULT_CHUNK_FRAMES,
    ChannelNames,
    FrameChunk,
    chunk_from_messages,
)
from harness.trace.columnar.signals import MessageDecoder
from harness.trace.reader import STANDARD_ID_LIMIT, lookup_extended, read_trace, trace_format

if TYPE_CHECKING:
    import os

    import numpy.typing as npt
    import pandas as pd

Databases = Sequence[SignalDatabase | cantools.database.can.Database]

FRAME_COLUMNS = ("timestamp", "channel", "direction", "arbitration_id")
"""The columns every message table starts with."""
J1939_COLUMNS = ("priority", "pgn", "source_address", "destination_address")
"""The columns a J1939 message's table has next (the frame's J1939 fields)."""

_DIRECTIONS = pa.array(["rx", "tx"], type=pa.string())


@dataclass(slots=True)
class DecodeStats:
    """What a trace held, for a summary: as ``harness decode`` counts it."""

    frames: int = 0
    decoded: int = 0
    unknown: int = 0
    """Frames of IDs no database (or no filter) selects."""
    undecodable: int = 0
    errors: int = 0
    remote: int = 0
    padded: int = 0
    """Frames flagged extended decoded as an 11-bit message (see ``lookup_extended``)."""
    reassembled: int = 0
    """J1939 messages rebuilt from transport-protocol transfers (BAM, RTS/CTS), decoded
    as rows of their PGN's table (counted in ``decoded`` too, not in ``frames``)."""
    by_message: Counter[str] = field(default_factory=Counter)
    undecodable_by_message: Counter[str] = field(default_factory=Counter)


def read_frames(
    path: str | os.PathLike[str], *, chunk_frames: int = DEFAULT_CHUNK_FRAMES
) -> Iterator[FrameChunk]:
    """Chunks of frames from any trace :func:`~harness.trace.reader.read_trace` reads.

    BLF and candump ``.log`` are parsed in bulk; every other format goes through
    python-can's reader and is gathered into columns ``chunk_frames`` at a time.
    Errors are :class:`~harness.exceptions.TraceError`, raised after the chunks
    before the damage.
    """
    path = Path(path)
    messages = read_trace(path)  # checks suffix, existence and size now
    fmt = trace_format(path)
    if fmt.suffix == ".blf" and not fmt.compressed:
        messages.close()
        yield from read_blf(path)
    elif fmt.suffix == ".log" and not fmt.compressed:
        messages.close()
        yield from read_candump(path, chunk_frames=chunk_frames)
    else:
        channels = ChannelNames()
        with closing(messages):
            while batch := list(itertools.islice(messages, chunk_frames)):
                yield chunk_from_messages(batch, channels, has_direction=fmt.has_direction)


class ColumnarDecoder:
    """The databases compiled for bulk decoding, with the caller's filters applied once.

    ``messages`` (names), ``ids`` (frame IDs) and ``signals`` (names) narrow
    what is decoded; a message none of whose signals is asked for is left out.
    When several databases define an ID, the first wins (as in ``harness decode``); an
    extended frame no message has the exact ID of decodes as the first J1939 message
    of its PGN.
    Unless ``strict_ids``, a frame flagged extended that only an 11-bit message
    defines decodes as that message, as :func:`~harness.trace.reader.lookup_extended`
    decides for ``harness decode``.
    """

    def __init__(
        self,
        databases: Databases,
        *,
        messages: Iterable[str] | None = None,
        ids: Iterable[int] | None = None,
        signals: Iterable[str] | None = None,
        labels: bool = False,
        allow_truncated: bool = False,
        strict_ids: bool = False,
    ) -> None:
        self.strict_ids = strict_ids
        wanted_names = None if messages is None else set(messages)
        wanted_ids = None if ids is None else set(ids)
        wanted_signals = None if signals is None else set(signals)
        self.decoders: dict[tuple[int, bool], tuple[str, MessageDecoder]] = {}
        by_pgn: dict[int, tuple[int, bool]] = {}
        j1939_names: set[str] = set()
        taken: set[str] = set()
        for db in databases:
            sdb = db if isinstance(db, SignalDatabase) else SignalDatabase(db)
            for message in sdb.messages:
                key = (int(message.frame_id), bool(message.is_extended_frame))
                if key in self.decoders:
                    continue
                if wanted_names is not None and message.name not in wanted_names:
                    continue
                if wanted_ids is not None and message.frame_id not in wanted_ids:
                    continue
                decoder = MessageDecoder(
                    message, signals=wanted_signals, labels=labels, allow_truncated=allow_truncated
                )
                if wanted_signals is not None and not decoder.output:
                    continue
                name = message.name
                if name in taken:  # the same name for another ID in a later database
                    name = f"{name}_{message.frame_id:X}"
                taken.add(name)
                self.decoders[key] = (name, decoder)
                if sdb.is_j1939_message(message):
                    by_pgn.setdefault(pgn_of(int(message.frame_id)), key)
                    j1939_names.add(name)
        keys = sorted(self.decoders)
        self._keys = np.array([_key(i, e) for i, e in keys], dtype=np.int64)
        self._entries = [self.decoders[k] for k in keys]
        self._j1939 = frozenset(j1939_names)
        pgns = sorted(by_pgn)
        self._pgns = np.array(pgns, dtype=np.int64)
        self._pgn_entries = np.array([keys.index(by_pgn[p]) for p in pgns], dtype=np.int32)
        self._standard: dict[int, bool] = {}
        """ID -> whether a frame of it flagged extended decodes as the 11-bit message."""
        self._transfers: dict[int, Reassembler] | None = {} if self._j1939 else None
        """Channel code -> its TP reassembler, across chunks, on J1939 databases."""

    def schema(self, name: str) -> pa.Schema:
        """The schema of a message's table."""
        for entry_name, decoder in self._entries:
            if entry_name == name:
                j1939 = _j1939_schema() if name in self._j1939 else []
                return pa.schema([*_frame_schema(), *j1939, *decoder.schema_fields()])
        raise KeyError(name)

    def decode(self, chunk: FrameChunk, stats: DecodeStats | None = None) -> dict[str, pa.Table]:
        """One table per message present in the chunk, rows in trace order."""
        stats = stats if stats is not None else DecodeStats()
        count = len(chunk)
        stats.frames += count
        errors = int(chunk.is_error_frame.sum())
        remote = int((chunk.is_remote_frame & ~chunk.is_error_frame).sum())
        stats.errors += errors
        stats.remote += remote
        data_frames = ~(chunk.is_error_frame | chunk.is_remote_frame)
        extended = chunk.is_extended_id
        if not self.strict_ids:
            extended = self._lookup_extended(chunk.arbitration_id, extended, data_frames, stats)
        keys = _key(chunk.arbitration_id.astype(np.int64), extended)
        if len(self._keys) == 0:
            stats.unknown += count - errors - remote
            return {}
        at = np.searchsorted(self._keys, keys).clip(0, len(self._keys) - 1)
        known = (self._keys[at] == keys) & data_frames
        small = np.int16 if len(self._keys) < np.iinfo(np.int16).max else np.int32
        which = np.where(known, at, len(self._keys)).astype(small)  # int16 sorts by radix
        if len(self._pgns):
            known |= self._by_pgn(chunk, ~known & data_frames & chunk.is_extended_id, which)
        stats.unknown += int(data_frames.sum() - known.sum())
        order = np.argsort(which, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(which, minlength=len(self._keys)))])
        tables: dict[str, pa.Table] = {}
        for index, (name, decoder) in enumerate(self._entries):
            begin, end = int(bounds[index]), int(bounds[index + 1])
            if begin == end:
                continue
            rows = order[begin:end]
            decoded = decoder.decode(chunk.data[rows, : decoder.length], chunk.length[rows])
            stats.undecodable += decoded.undecodable
            if decoded.undecodable:
                stats.undecodable_by_message[name] += decoded.undecodable
            if len(decoded.rows) == 0:
                continue
            stats.decoded += len(decoded.rows)
            stats.by_message[name] += len(decoded.rows)
            selected = rows[decoded.rows]
            columns = _frame_columns(chunk, selected)
            names = list(FRAME_COLUMNS)
            if name in self._j1939:
                columns += _j1939_columns(chunk.arbitration_id[selected])
                names += J1939_COLUMNS
            columns += list(decoded.columns.values())
            names += list(decoded.columns)
            tables[name] = pa.Table.from_arrays(columns, names=names)
        if self._transfers is not None:
            self._add_reassembled(tables, self._reassemble(chunk, data_frames, stats))
        return tables

    @staticmethod
    def _add_reassembled(tables: dict[str, pa.Table], rebuilt: dict[str, pa.Table]) -> None:
        """Rebuilt messages into the chunk's tables, rows in trace order."""
        for name, table in rebuilt.items():
            if name in tables:
                joined = pa.concat_tables([tables[name], table], promote_options="default")
                tables[name] = joined.sort_by("timestamp")
            else:
                tables[name] = table

    def _reassemble(
        self, chunk: FrameChunk, data_frames: npt.NDArray[np.bool_], stats: DecodeStats
    ) -> dict[str, pa.Table]:
        """Tables of the long messages whose TP.DT frames end in this chunk, as frames of
        their PGN (the per-frame ``harness decode`` does the same, one frame at a time)."""
        assert self._transfers is not None
        pgns = _pgns(chunk.arbitration_id)
        rows = np.flatnonzero(
            data_frames & chunk.is_extended_id & ((pgns == TP_CM) | (pgns == TP_DT))
        )
        done: list[can.Message] = []
        for row in rows.tolist():  # only the transport frames, a few per long message
            code = int(chunk.channel[row])
            reassembler = self._transfers.setdefault(code, Reassembler())
            data = chunk.data[row, : int(chunk.length[row])].tobytes()
            long = reassembler.feed(int(chunk.arbitration_id[row]), data, chunk.timestamp[row])
            if long is not None:
                destination = long.destination if is_pdu1(long.pgn) else GLOBAL_ADDRESS
                can_id = build_id(
                    long.pgn, source=long.source, destination=destination, priority=long.priority
                )
                done.append(
                    can.Message(
                        timestamp=long.timestamp,
                        arbitration_id=can_id,
                        is_extended_id=True,
                        data=long.data,
                        channel=chunk.channels[code],
                        is_rx=bool(chunk.is_rx[row]),
                        check=False,
                    )
                )
        if not done:
            return {}
        names = ChannelNames()
        for channel in chunk.channels:
            names.code(channel)
        long_frames = chunk_from_messages(done, names, has_direction=chunk.has_direction)
        inner = DecodeStats()
        transfers, self._transfers = self._transfers, None  # a rebuilt message is no TP frame
        try:
            tables = self.decode(long_frames, inner)
        finally:
            self._transfers = transfers
        stats.reassembled += len(done)
        stats.decoded += inner.decoded
        stats.undecodable += inner.undecodable
        stats.by_message.update(inner.by_message)
        stats.undecodable_by_message.update(inner.undecodable_by_message)
        return tables

    def _by_pgn(
        self,
        chunk: FrameChunk,
        candidates: npt.NDArray[np.bool_],
        which: npt.NDArray[Any],
    ) -> npt.NDArray[np.bool_]:
        """Frames among ``candidates`` whose PGN a J1939 message has; their entry goes in
        ``which`` (array-wide, as :func:`~harness.canbus.saej1939.addressing.pgn_of` per frame)."""
        pgns = _pgns(chunk.arbitration_id)
        at = np.searchsorted(self._pgns, pgns).clip(0, len(self._pgns) - 1)
        hit: npt.NDArray[np.bool_] = candidates & (self._pgns[at] == pgns)
        which[hit] = self._pgn_entries[at[hit]]
        return hit

    def _lookup_extended(
        self,
        arbitration_id: npt.NDArray[np.uint32],
        extended: npt.NDArray[np.bool_],
        data_frames: npt.NDArray[np.bool_],
        stats: DecodeStats,
    ) -> npt.NDArray[np.bool_]:
        """The extended flags to look frames up by: ``lookup_extended`` once per distinct ID."""
        low = extended & data_frames & (arbitration_id < STANDARD_ID_LIMIT)
        if not low.any():
            return extended
        for frame_id in np.unique(arbitration_id[low]).tolist():
            if frame_id not in self._standard:
                self._standard[frame_id] = not lookup_extended(frame_id, True, self._defines)
        standard = [i for i, yes in self._standard.items() if yes]
        padded = low & np.isin(arbitration_id, standard)
        stats.padded += int(padded.sum())
        result: npt.NDArray[np.bool_] = extended & ~padded
        return result

    def _defines(self, arbitration_id: int, is_extended: bool) -> bool:
        return (arbitration_id, is_extended) in self.decoders


class DecodeOptions(TypedDict, total=False):
    """What :class:`ColumnarDecoder` takes besides the databases, passed on unchanged."""

    messages: Iterable[str] | None
    ids: Iterable[int] | None
    signals: Iterable[str] | None
    labels: bool
    allow_truncated: bool
    strict_ids: bool


def iter_decoded(
    trace_path: str | os.PathLike[str],
    databases: Databases,
    *,
    stats: DecodeStats | None = None,
    **options: Unpack[DecodeOptions],
) -> Iterator[dict[str, pa.Table]]:
    """Per chunk of the trace, one table per message: memory stays flat in trace length."""
    decoder = ColumnarDecoder(databases, **options)
    stats = stats if stats is not None else DecodeStats()
    for chunk in read_frames(trace_path):
        yield decoder.decode(chunk, stats)


def decode_columns(
    trace_path: str | os.PathLike[str],
    databases: Databases,
    *,
    stats: DecodeStats | None = None,
    **options: Unpack[DecodeOptions],
) -> dict[str, pa.Table]:
    """The whole trace as one table per message (name -> table); see :func:`iter_decoded`."""
    parts: dict[str, list[pa.Table]] = {}
    for tables in iter_decoded(trace_path, databases, stats=stats, **options):
        for name, table in tables.items():
            parts.setdefault(name, []).append(table)
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}


def to_pandas(tables: dict[str, pa.Table]) -> dict[str, pd.DataFrame]:
    """The tables as pandas DataFrames (needs pandas; dictionary columns become categoricals)."""
    try:
        import pandas  # noqa: F401, PLC0415 (optional: only this convenience needs it)
    except ImportError as exc:
        raise ImportError("to_pandas needs pandas (pip install pandas)") from exc
    return {name: table.to_pandas() for name, table in tables.items()}


@dataclass(slots=True)
class ParquetResult:
    """What a Parquet export wrote."""

    directory: Path
    files: dict[str, Path] = field(default_factory=dict)
    """Message -> the file written for it."""
    rows: Counter[str] = field(default_factory=Counter)
    stats: DecodeStats = field(default_factory=DecodeStats)


def write_parquet(
    trace_path: str | os.PathLike[str],
    databases: Databases,
    directory: str | os.PathLike[str],
    *,
    part: str = "part-0",
    **options: Unpack[DecodeOptions],
) -> ParquetResult:
    """Decode a trace into ``directory/<message>/<part>.parquet``, a row group per chunk.

    Files are complete and readable even when the trace turns out damaged: the
    TraceError is raised after everything before the damage was written.
    """
    result = ParquetResult(Path(directory))
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for tables in iter_decoded(trace_path, databases, stats=result.stats, **options):
            for name, table in tables.items():
                writer = writers.get(name)
                if writer is None:
                    folder = result.directory / _safe_name(name)
                    folder.mkdir(parents=True, exist_ok=True)
                    target = folder / f"{part}.parquet"
                    writer = writers[name] = pq.ParquetWriter(target, table.schema)
                    result.files[name] = target
                writer.write_table(table)
                result.rows[name] += table.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    return result


def _frame_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field("timestamp", pa.float64()),
            pa.field("channel", pa.dictionary(pa.int32(), pa.string())),
            pa.field("direction", pa.dictionary(pa.int8(), pa.string())),
            pa.field("arbitration_id", pa.uint32()),
        ]
    )


def _frame_columns(chunk: FrameChunk, rows: npt.NDArray[np.intp]) -> list[pa.Array]:
    channel = pa.DictionaryArray.from_arrays(
        pa.array(chunk.channel[rows], type=pa.int32()), pa.array(chunk.channels, type=pa.string())
    )
    tx = (~chunk.is_rx[rows]).astype(np.int8)
    mask = None if chunk.has_direction else np.ones(len(rows), dtype=bool)
    direction = pa.DictionaryArray.from_arrays(pa.array(tx, type=pa.int8(), mask=mask), _DIRECTIONS)
    return [
        pa.array(chunk.timestamp[rows], type=pa.float64()),
        channel,
        direction,
        pa.array(chunk.arbitration_id[rows], type=pa.uint32()),
    ]


def _pgns(arbitration_id: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
    """The PGN of each 29-bit ID: PS is part of it from PF 240 up (PDU2)."""
    pgn = (arbitration_id.astype(np.int64) >> 8) & 0x3FFFF
    pdu1 = ((pgn >> 8) & 0xFF) < PDU2_FIRST_PF
    result: npt.NDArray[np.int64] = np.where(pdu1, pgn & ~0xFF, pgn)
    return result


def _j1939_schema() -> list[pa.Field]:
    return [
        pa.field("priority", pa.uint8()),
        pa.field("pgn", pa.uint32()),
        pa.field("source_address", pa.uint8()),
        pa.field("destination_address", pa.uint8()),
    ]


def _j1939_columns(arbitration_id: npt.NDArray[np.uint32]) -> list[pa.Array]:
    """Priority, PGN, source and destination (255 for PDU2) of each 29-bit ID."""
    ids = arbitration_id.astype(np.int64)
    pf = (ids >> 16) & 0xFF
    destination = np.where(pf < PDU2_FIRST_PF, (ids >> 8) & 0xFF, GLOBAL_ADDRESS)
    return [
        pa.array(((ids >> 26) & 0x7).astype(np.uint8), type=pa.uint8()),
        pa.array(_pgns(arbitration_id).astype(np.uint32), type=pa.uint32()),
        pa.array((ids & 0xFF).astype(np.uint8), type=pa.uint8()),
        pa.array(destination.astype(np.uint8), type=pa.uint8()),
    ]


def _key(arbitration_id: Any, extended: Any) -> Any:
    """One int64 per (ID, extended) pair, sortable and searchable."""
    return (np.asarray(arbitration_id, dtype=np.int64) << 1) | np.asarray(extended, dtype=np.int64)


def _safe_name(name: str) -> str:
    """A message name as a directory name (DBC names are identifiers; other formats may not be)."""
    return re.sub(r"[^\w.-]", "_", name) or "_"

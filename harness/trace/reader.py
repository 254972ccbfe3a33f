"""Stream a recorded CAN trace as python-can messages; a bad file is one TraceError.

python-can reads the formats (BLF, ASC, TRC, candump ``.log``, CSV, MF4, SQLite,
and gzip of most); this module adds what a test harness needs on top:

* every failure, whatever python-can raised, is a
  :class:`~harness.exceptions.TraceError` naming the file, the position (line
  for text formats, byte for BLF) and how many messages came before it;
* a BLF file that is cut short or corrupt raises instead of ending early
  without a word, and cannot make the reader loop forever;
* a text file that is binary, or holds no frame and no header of its format,
  is refused rather than read as an empty trace;
* the file is closed when the consumer stops early (close the generator, or
  let it go out of scope).

>>> for msg in read_trace("fixtures/traces/door.blf"):  # doctest: +SKIP
...     print(decode_message(msg, db).describe())
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import io
import re
import struct
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TextIO, cast

import can
from can.io import blf
from can.io.generic import MessageReader

from harness.canbus.channel import decode_frame
from harness.exceptions import TraceError

if TYPE_CHECKING:
    import os

    from harness.canbus.database import SignalDatabase
    from harness.canbus.frame import Frame


@dataclass(frozen=True, slots=True)
class TraceFormat:
    """What a suffix means: which python-can reader, and what the format records."""

    suffix: str
    description: str
    reader: Callable[..., MessageReader]
    kind: str
    """``text`` (line based), ``binary`` (file object) or ``path`` (reader opens it)."""
    has_direction: bool = True
    """Whether frames carry rx/tx; where not, python-can reports every frame as rx."""
    compressed: bool = False
    skips_bad: bool = False
    """Whether ``read_trace(skip_bad=...)`` can step over a malformed line of this format."""


_NOT_TEXT = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f]")
"""Control characters no text trace contains (tab, CR, LF, FF and Ctrl-Z excepted)."""

_CHUNK = 1 << 20
"""Bytes read at a time from a BLF file (containers are usually 128 KiB)."""

_SNIPPET = 40
"""Characters of an offending line quoted in an error."""


def _text_header(prefix: str) -> Callable[[str], bool]:
    return lambda line: line.startswith(prefix)


_HEADER_LINES: dict[str, Callable[[str], bool]] = {
    ".asc": _text_header("//"),
    ".trc": _text_header(";"),
    ".csv": _text_header("timestamp,"),
    ".log": lambda line: False,
}
"""Lines a text format may hold besides frames; a file with nothing else has no frames."""


_ASC_HEADER_END = re.compile(r"(no)?\s*internal\s+events\s+logged", re.IGNORECASE)
"""The line python-can's ASC reader takes as the end of the header (its own pattern)."""


class _ASCReader(can.ASCReader):
    """python-can's ASC reader, without its loss of a file's first frame.

    python-can reads lines until one is not a header line and drops that line
    unless it is "internal events logged"; an ASC file whose header lacks that
    line would lose its first frame. The line is handed back instead.
    """

    def __init__(self, file: TextIO, *, bad_lines: BadLines | None = None) -> None:
        super().__init__(file)
        self.bad_lines = bad_lines

    def _extract_header(self) -> None:
        super()._extract_header()
        lines = self.file
        if isinstance(lines, _Lines) and not _ASC_HEADER_END.match(lines.last.strip()):
            lines.unread()

    def _process_classic_can_frame(self, line: str, msg_kwargs: dict[str, Any]) -> can.Message:
        return self._checked(super()._process_classic_can_frame, line, msg_kwargs)

    def _process_fd_can_frame(self, line: str, msg_kwargs: dict[str, Any]) -> can.Message:
        return self._checked(super()._process_fd_can_frame, line, msg_kwargs)

    def _checked(
        self,
        process: Callable[[str, dict[str, Any]], can.Message],
        rest: str,
        kwargs: dict[str, Any],
    ) -> can.Message:
        """python-can's parsing of a frame line, its ValueError turned into a LineError.

        A skipped line returns None, which python-can's loop passes over.
        """
        try:
            return process(rest, kwargs)
        except ValueError as exc:  # int() of a field, or fewer fields than a frame has
            lines = self.file
            full = lines.last if isinstance(lines, _Lines) else rest
            error = _asc_line_error(full.rstrip("\r\n"), exc)
            if self.bad_lines is None:
                raise error from exc
            self.bad_lines.add(lines.number if isinstance(lines, _Lines) else 0, error)
            return None  # type: ignore[return-value]


_BAD_LITERAL = re.compile(r"invalid literal for int\(\) with base (\d+): '(.*)'$")


def _asc_line_error(line: str, exc: ValueError) -> LineError:
    """Where in an ASC frame line python-can's parsing failed, and what belongs there."""
    bad = _BAD_LITERAL.match(str(exc))
    if bad is None:
        return LineError(len(line) + 1, "more fields (the frame line ends early)", line.strip())
    token = bad.group(2)
    found = re.search(rf"(?<!\S){re.escape(token)}(?!\S)", line) if token else None
    column = found.start() + 1 if found else 1
    number = "a hex number" if bad.group(1) == "16" else "a decimal number"
    return LineError(column, number, token)


class _CheckedBLFReader(can.BLFReader):
    """python-can's BLF reader, made to fail loudly on a damaged file.

    python-can stops without a word where a file is cut short (so frames go
    missing silently), skips containers it cannot decompress, and loops forever
    on an object of size zero. This reader keeps python-can's object parsing
    but reads the containers itself, checking each size, and raises
    :class:`can.io.blf.BLFParseError` with the byte offset instead.
    """

    def __init__(self, file: BinaryIO) -> None:
        self.offset = 0
        """Where the object being read starts: the position errors report."""
        try:
            super().__init__(file)
        except struct.error:
            raise blf.BLFParseError("not a BLF file (shorter than a BLF file header)") from None
        except blf.BLFParseError:
            raise blf.BLFParseError("not a BLF file (no 'LOGG' signature)") from None

    def __iter__(self) -> Generator[can.Message, None, None]:
        while True:
            self.offset = self.file.tell()
            found = read_blf_object(self.file)
            if found is None:
                break
            obj_type, body = found
            if obj_type == blf.LOG_CONTAINER:
                yield from self._parse_container(inflate_blf_container(body))
        self.offset = self.file.tell()
        check_blf_end(self._tail, self.offset, self.file_size)

    def _parse_data(self, data: bytes) -> Iterator[can.Message]:
        _check_object_sizes(data)
        parsed: Iterator[can.Message] = super()._parse_data(data)
        return parsed


def _read_up_to(file: BinaryIO | io.BufferedIOBase, size: int) -> bytes:
    """``file.read(size)`` without allocating ``size`` bytes first: a corrupt size may say 4 GiB."""
    chunks = []
    while size > 0:
        chunk = file.read(min(size, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_blf_object(file: BinaryIO | io.BufferedIOBase) -> tuple[int, bytes] | None:
    """The next top-level BLF object as (type, the bytes after its base header), None at
    the end of the file; BLFParseError where the file is cut or the header makes no sense.

    The one place both BLF readers (this module's and the columnar one) check objects.
    """
    base = blf.OBJ_HEADER_BASE_STRUCT
    head = file.read(base.size)
    if not head:
        return None
    if len(head) < base.size:
        raise blf.BLFParseError(
            f"file ends inside an object header ({len(head)} of {base.size} bytes)"
        )
    signature, _, _, obj_size, obj_type = base.unpack(head)
    if signature != b"LOBJ":
        raise blf.BLFParseError(f"no object here (found {signature!r}, not b'LOBJ')")
    if obj_size < base.size:
        raise blf.BLFParseError(f"object size {obj_size} is smaller than its header")
    body = _read_up_to(file, obj_size - base.size)
    if len(body) < obj_size - base.size:
        raise blf.BLFParseError(
            f"file ends inside an object ({base.size + len(body)} of {obj_size} bytes)"
        )
    file.read(obj_size % 4)  # padding
    return int(obj_type), body


def inflate_blf_container(body: bytes) -> bytes:
    """A log container's objects, decompressed; BLFParseError when that is impossible."""
    header = blf.LOG_CONTAINER_STRUCT
    if len(body) < header.size:
        raise blf.BLFParseError("log container shorter than its header")
    method, _ = header.unpack_from(body)
    payload = body[header.size :]
    if method == blf.NO_COMPRESSION:
        return payload
    if method != blf.ZLIB_DEFLATE:
        raise blf.BLFParseError(f"log container uses unknown compression method {method}")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(payload)
    except zlib.error as exc:
        raise blf.BLFParseError(f"log container does not decompress ({exc})") from exc
    if not inflater.eof:
        raise blf.BLFParseError("log container's compressed data is cut short")
    return data


def check_blf_end(tail: bytes, offset: int, file_size: int) -> None:
    """At the end of a BLF file: BLFParseError if an object was cut or the file is short."""
    if tail.strip(b"\x00"):
        raise blf.BLFParseError("file ends inside a CAN object")
    if file_size > offset and file_size != blf.FILE_HEADER_SIZE:
        # The writer puts the real size in the header when it closes the file
        # (until then it holds FILE_HEADER_SIZE), so a larger one means a cut.
        raise blf.BLFParseError(f"file ends early: {offset} bytes, its header says {file_size}")


def _check_object_sizes(data: bytes) -> None:
    """Walk the objects in a container as python-can will, refusing sizes that stall it.

    python-can moves on by each object's declared size; a size of zero keeps it
    on the same object forever.
    """
    size_of = struct.Struct("<L").unpack_from
    base = blf.OBJ_HEADER_BASE_STRUCT.size
    pos = 0
    while True:
        start = data.find(b"LOBJ", pos, pos + 8)
        if start < 0 or start + base > len(data):
            return  # python-can handles (or reports) the rest
        (obj_size,) = size_of(data, start + 8)
        if obj_size < base:
            raise blf.BLFParseError(f"object of size {obj_size} inside a log container")
        pos = start + obj_size
        if pos > len(data):
            return


class LineError(ValueError):
    """A text trace line that its format does not allow: the column, and what belongs there."""

    def __init__(self, column: int, expected: str, found: str) -> None:
        super().__init__(f"column {column}: expected {expected}, found {found[:_SNIPPET]!r}")
        self.column = column


@dataclass(slots=True)
class BadLines:
    """The lines a reader skipped (``read_trace(skip_bad=...)``): how many, and the first."""

    count: int = 0
    first: str = ""

    def add(self, line_number: int, error: LineError) -> None:
        self.count += 1
        if not self.first:
            self.first = f"line {line_number}, {error}"


_FIELD = re.compile(r"\S+")
_CANDUMP_TIME = re.compile(r"\(([0-9]+(?:\.[0-9]*)?)\)")
_HEX_ID = re.compile(r"[0-9A-Fa-f]{1,8}")
_HEX_PAIRS = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_HEX_DIGITS = "0123456789abcdefABCDEF"
_CAN_ERR_FLAG = 0x20000000
_CAN_ERR_BUSERROR = 0x00000080
_CANFD_BRS = 0x01
_CANFD_ESI = 0x02
_FD_LENGTHS = (*range(9), 12, 16, 20, 24, 32, 48, 64)
_CANDUMP_SHAPE = "'(TIME) CHANNEL ID#DATA' and an optional R or T"


def parse_candump_line(line: str) -> can.Message | None:
    """One line of a ``candump -l`` log as a message, None for a blank line; else LineError.

    The grammar is can-utils' (``lib.c``): an ID of up to 8 hex digits (more
    than 3: extended), ``#`` and up to 8 data bytes or ``R`` with an optional
    length, or ``##``, one hex digit of FD flags and up to 64 bytes. python-can's
    reader guesses where a line breaks it (FD flags read as decimal, 9 bytes in
    a classic frame taken as DLC 9, an FD frame marked remote accepted) and
    fails with Python's words; this parser names the column and what belongs there.
    """
    text = line.rstrip("\r\n")
    fields = [(m.start() + 1, m.group()) for m in _FIELD.finditer(text)]
    if not fields:
        return None
    if len(fields) not in (3, 4):
        raise LineError(fields[0][0], _CANDUMP_SHAPE, text.strip())
    (time_col, time_text), (_, channel_text), (frame_col, frame) = fields[:3]
    stamp = _CANDUMP_TIME.fullmatch(time_text)
    if stamp is None:
        raise LineError(time_col, "a time in parentheses, e.g. (1436509052.249713)", time_text)
    is_rx = True
    if len(fields) == 4:
        dir_col, direction = fields[3]
        if direction not in ("R", "r", "T", "t"):
            raise LineError(dir_col, "R or T (the direction) after the frame", direction)
        is_rx = direction in ("R", "r")
    id_text, hash_, payload = frame.partition("#")
    if not hash_ or not _HEX_ID.fullmatch(id_text):
        raise LineError(frame_col, "a CAN ID of 1 to 8 hex digits, then '#'", frame)
    can_id = int(id_text, 16)
    column = frame_col + len(id_text) + 1
    is_fd = payload.startswith("#")
    flags = 0
    if is_fd:
        flag = payload[1:2]
        if not flag or flag not in _HEX_DIGITS:
            raise LineError(column + 1, "one hex digit of CAN FD flags after '##'", payload[1:])
        flags = int(flag, 16)
        payload, column = payload[2:], column + 2
    data, dlc, is_remote = _candump_payload(payload, column, is_fd=is_fd)
    timestamp = float(stamp.group(1))
    if can_id & _CAN_ERR_FLAG and can_id & _CAN_ERR_BUSERROR:
        return can.Message(timestamp=timestamp, is_error_frame=True)
    return can.Message(
        timestamp=timestamp,
        arbitration_id=can_id & 0x1FFFFFFF,
        is_extended_id=len(id_text) > 3,
        is_remote_frame=is_remote,
        is_fd=is_fd,
        is_rx=is_rx,
        bitrate_switch=bool(flags & _CANFD_BRS),
        error_state_indicator=bool(flags & _CANFD_ESI),
        dlc=dlc,
        data=None if is_remote else data,
        channel=int(channel_text) if channel_text.isdigit() else channel_text,
    )


def _candump_payload(payload: str, column: int, *, is_fd: bool) -> tuple[bytes, int, bool]:
    """What follows ``#`` (or ``##`` and the flags) in a candump frame: data, DLC, remote."""
    if payload[:1] in ("R", "r"):
        if is_fd:
            raise LineError(column, "data (CAN FD has no remote frames)", payload)
        if payload[1:] and not (payload[1:].isdigit() and int(payload[1:]) <= 8):
            raise LineError(column + 1, "a remote frame's length 0 to 8 after 'R'", payload[1:])
        return b"", int(payload[1:] or 0), True
    pairs = _HEX_PAIRS.match(payload)
    end = pairs.end() if pairs is not None else 0
    if end != len(payload):
        odd = len(payload) - end == 1 and payload[end] in _HEX_DIGITS
        what = "a second hex digit" if odd else "data bytes as hex digit pairs"
        raise LineError(column + end, what, payload[end:])
    data = bytes.fromhex(payload)
    if is_fd and len(data) not in _FD_LENGTHS:
        raise LineError(
            column,
            "a CAN FD length (0-8, 12, 16, 20, 24, 32, 48 or 64 bytes)",
            (f"{len(data)} bytes"),
        )
    if not is_fd and len(data) > 8:
        raise LineError(
            column,
            "at most 8 data bytes in a classic frame ('##' marks CAN FD)",
            (f"{len(data)} bytes"),
        )
    return data, len(data), False


class _CandumpReader(can.CanutilsLogReader):
    """python-can's candump reader with its line parsing replaced by :func:`parse_candump_line`."""

    def __init__(self, file: TextIO, *, bad_lines: BadLines | None = None) -> None:
        super().__init__(file)
        self.bad_lines = bad_lines

    def __iter__(self) -> Generator[can.Message, None, None]:
        for line in self.file:
            try:
                msg = parse_candump_line(line)
            except LineError as exc:
                if self.bad_lines is None:
                    raise
                self.bad_lines.add(getattr(self.file, "number", 0), exc)
                continue
            if msg is not None:
                yield msg
        self.stop()


FORMATS: dict[str, TraceFormat] = {
    f.suffix: f
    for f in (
        TraceFormat(".asc", "Vector ASC", _ASCReader, "text", skips_bad=True),
        TraceFormat(".blf", "Vector BLF", _CheckedBLFReader, "binary"),
        TraceFormat(".trc", "PEAK TRC", can.TRCReader, "text"),
        TraceFormat(".log", "candump -l", _CandumpReader, "text", skips_bad=True),
        TraceFormat(".csv", "python-can CSV", can.CSVReader, "text", has_direction=False),
        TraceFormat(".mf4", "ASAM MDF4, needs asammdf", can.MF4Reader, "binary"),
        TraceFormat(".db", "python-can SQLite", can.SqliteReader, "path", has_direction=False),
    )
}
"""Suffix -> format; all but ``.db`` may also be gzip-compressed (``.asc.gz``)."""


def supported_formats() -> str:
    """The suffixes read_trace accepts, for help texts and errors."""
    listed = ", ".join(f"{f.suffix} ({f.description})" for f in FORMATS.values())
    return f"{listed}; any but .db also gzip-compressed (.asc.gz)"


def trace_format(path: str | os.PathLike[str]) -> TraceFormat:
    """The format a file's suffix names (``.asc``, ``.blf.gz``, ...); TraceError if none."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if compressed:
        suffixes.pop()
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None or (compressed and fmt.kind == "path"):
        raise TraceError(f"{path}: unsupported trace format; supported: {supported_formats()}")
    return dataclasses.replace(fmt, compressed=compressed)


def read_trace(
    path: str | os.PathLike[str], *, skip_bad: BadLines | None = None
) -> Generator[can.Message, None, None]:
    """Messages from a trace file, in file order, read as they are consumed.

    A wrong suffix, a missing or empty file raise TraceError at once; problems
    inside the file raise TraceError where iteration reaches them, after the
    messages before them were yielded. A malformed line of a candump or ASC
    file names its line and column; with ``skip_bad`` such lines are counted
    there and passed over instead. The file is closed at the end, on error,
    and when the generator is closed or dropped early.
    """
    path = Path(path)
    fmt = trace_format(path)
    if skip_bad is not None and not fmt.skips_bad:
        raise TraceError(f"{path}: skipping bad lines works for .log and .asc, not {fmt.suffix}")
    if not path.exists():
        raise TraceError(f"{path}: no such file")
    if not path.is_file():
        raise TraceError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise TraceError(f"{path}: empty file (0 bytes)")
    if fmt.suffix == ".mf4" and importlib.util.find_spec("asammdf") is None:
        raise TraceError(f"{path}: reading MF4 needs the asammdf package (pip install asammdf)")
    return _messages(path, fmt, skip_bad)


def _messages(
    path: Path, fmt: TraceFormat, skip_bad: BadLines | None
) -> Generator[can.Message, None, None]:
    source = _Source(path, fmt, skip_bad)
    count = 0
    try:
        reader = source.open()
        for msg in reader:
            yield msg
            count += 1
        if count == 0 and fmt.kind == "text":
            source.check_not_foreign(reader)
    except TraceError:
        raise
    except LineError as exc:
        number = source.lines.number if source.lines is not None else 0
        done = f"after {count} message{'' if count == 1 else 's'}"
        text = str(exc).replace(": ", f" ({done}): ", 1)
        raise TraceError(f"{path}: line {number}, {text}") from exc
    except Exception as exc:  # python-can raises anything from struct.error to IndexError
        raise TraceError(f"{path}: {source.where(count)}{_one_line(exc)}") from exc
    finally:
        source.close()


class _Source:
    """One open trace: its file, its python-can reader, and where reading has got to."""

    def __init__(self, path: Path, fmt: TraceFormat, skip_bad: BadLines | None = None) -> None:
        self.path = path
        self.fmt = fmt
        self.skip_bad = skip_bad
        self.lines: _Lines | None = None
        self.reader: MessageReader | None = None
        self.file: IO[Any] | gzip.GzipFile | None = None

    def open(self) -> MessageReader:
        fmt, path = self.fmt, self.path
        if fmt.kind == "text":
            self.lines = _Lines(_open_text(path, compressed=fmt.compressed))
            self.file = self.lines.file
            lines = cast("TextIO", self.lines)
            if fmt.skips_bad:
                self.reader = fmt.reader(lines, bad_lines=self.skip_bad)
            else:
                self.reader = fmt.reader(lines)
        elif fmt.kind == "binary" and fmt.compressed:
            self.file = gzip.open(path, "rb")  # noqa: SIM115 (closed in close())
            self.reader = fmt.reader(self.file)
        elif fmt.suffix == ".blf":
            self.file = path.open("rb")
            self.reader = fmt.reader(self.file)
        else:  # MF4 and SQLite read whole files best by path
            self.reader = fmt.reader(str(path))
        return self.reader

    def where(self, count: int) -> str:
        """The position for an error message: line or byte, and messages read so far."""
        done = f"after {count} message{'' if count == 1 else 's'}"
        if self.lines is not None and self.lines.number:
            return f"line {self.lines.number} ({done}): "
        offset = getattr(self.reader, "offset", None)
        if offset is not None:
            return f"byte {offset} ({done}): "
        return f"{done}: " if count else ""

    def check_not_foreign(self, reader: MessageReader) -> None:
        """Refuse a text file that gave no frames because it is not in this format at all.

        python-can skips lines it does not understand, so a text file of the
        wrong kind would otherwise read as an empty trace.
        """
        if isinstance(reader, can.ASCReader) and (reader.date or reader.timestamps_format):
            return  # a real ASC header: the recording just holds no CAN frames
        is_header = _HEADER_LINES[self.fmt.suffix]
        has_header = False
        with _open_text(self.path, compressed=self.fmt.compressed) as file:
            for number, raw in enumerate(file, start=1):
                line = raw.strip()
                if not line:
                    continue
                if not is_header(line):
                    raise TraceError(
                        f"{self.path}: line {number}: no frames found, and this is not "
                        + f"a {self.fmt.description} line: {line[:_SNIPPET]!r}"
                    )
                has_header = True
        if not has_header:
            raise TraceError(f"{self.path}: no header and no frames (only blank lines)")

    def close(self) -> None:
        try:
            if self.reader is not None:
                self.reader.stop()
        finally:
            if self.file is not None:
                self.file.close()


class _Lines:
    """A text file that counts the lines handed out, refuses binary data, and can unread one."""

    def __init__(self, file: TextIO) -> None:
        self.file = file
        self.number = 0
        self.last = ""
        self._again = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._again:
            self._again = False
            return self.last
        line = next(self.file)
        self.number += 1
        if _NOT_TEXT.search(line):
            raise ValueError("binary data in a text trace (is the suffix right?)")
        self.last = line
        return line

    def unread(self) -> None:
        """Hand out the last line again (it keeps its number)."""
        self._again = bool(self.last)

    def close(self) -> None:
        self.file.close()


def _open_text(path: Path, *, compressed: bool) -> TextIO:
    """Open a text trace; bytes that are not UTF-8 (comments in Latin-1) become U+FFFD."""
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def decode_message(
    msg: can.Message, db: SignalDatabase | None = None, channel_name: str | None = None
) -> Frame:
    """A recorded message as a :class:`~harness.canbus.frame.Frame`, decoded where possible.

    Never raises for a bad payload: an unknown ID gives ``name=None`` and the raw
    bytes, a payload that does not decode keeps its bytes and sets
    ``decode_error``. A remote frame of a known ID gets the name but no signals.
    ``timestamp`` is the recorded one; ``channel`` is ``channel_name`` if given,
    else the trace's channel (python-can numbers ASC and BLF channels from 0).
    """
    if channel_name is None:
        channel_name = "" if msg.channel is None else str(msg.channel)
    frame = decode_frame(msg, db, channel_name, msg.timestamp)
    if db is not None and msg.is_remote_frame and not msg.is_error_frame:
        definition = db.message_for(msg.arbitration_id, msg.is_extended_id)
        if definition is not None:
            frame = dataclasses.replace(frame, name=definition.name)
    return frame


STANDARD_ID_LIMIT = 0x800
"""11-bit IDs are below this; a lower ID flagged extended may be a standard one padded."""


def lookup_extended(
    arbitration_id: int, is_extended: bool, defines: Callable[[int, bool], bool]
) -> bool:
    """The extended flag to look a recorded frame up by, in the databases ``defines`` asks.

    Many candump loggers write every ID with 8 digits, and python-can takes any
    ID of more than three digits as extended, so an 11-bit frame reads as
    29-bit. A frame flagged extended whose ID is below 0x800 and that only a
    standard message defines is taken as that message (as ``cantools decode``
    does, which ignores the flag); where an extended message of that ID exists,
    the flag stands. ``harness decode`` and the columnar engine both decide by
    this function; ``--strict-ids`` skips it.
    """
    if (
        is_extended
        and arbitration_id < STANDARD_ID_LIMIT
        and not defines(arbitration_id, True)
        and defines(arbitration_id, False)
    ):
        return False
    return is_extended


def _one_line(exc: BaseException) -> str:
    """An exception as one line; the type name where the text alone would not say much."""
    text = " ".join(str(exc).split())
    if not text:
        return type(exc).__name__
    if isinstance(exc, struct.error | zlib.error | IndexError | KeyError | EOFError):
        return f"{type(exc).__name__}: {text}"
    return text

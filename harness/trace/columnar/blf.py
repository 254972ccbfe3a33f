"""Vector BLF straight to columns: containers inflated with zlib, objects parsed with numpy.

python-can's ``can/io/blf.py`` is the reference for every layout and rule here,
and the frames come out equal to its ``BLFReader``'s (timestamps to the bit).
What differs is the method: the inflated objects of many containers are one
buffer, every ``LOBJ`` signature in it is found at once, and when the
signatures chain (each object ends where the next begins, give or take
python-can's four bytes of padding), each field is gathered for all objects
of a type with one fancy index. Only when a payload happens to contain
``LOBJ`` does the walk fall back to a Python loop over that buffer's object
headers (the fields are still gathered in bulk).

Frames: CAN_MESSAGE (1), CAN_MESSAGE2 (86), CAN_FD_MESSAGE (100),
CAN_FD_MESSAGE_64 (101), CAN_ERROR_EXT (73). Other objects are skipped and
counted in :attr:`BLFStats.skipped`. A damaged file raises
:class:`~harness.exceptions.TraceError` with the byte offset of the container,
after the frames before it were yielded; the same damage
:mod:`harness.trace.reader` refuses is refused here.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
from can.io import blf

from harness.exceptions import TraceError
from harness.trace.columnar.frames import ChannelNames, FrameChunk
from harness.trace.reader import check_blf_end, inflate_blf_container, read_blf_object

if TYPE_CHECKING:
    import numpy.typing as npt

CAN_MESSAGE2 = 86
CAN_FD_MESSAGE_64 = 101
_FRAME_TYPES = (blf.CAN_MESSAGE, CAN_MESSAGE2, blf.CAN_FD_MESSAGE, CAN_FD_MESSAGE_64)

_BASE = blf.OBJ_HEADER_BASE_STRUCT.size  # 16
_SIG = np.frombuffer(b"LOBJ", dtype=np.uint8)
_SIG_WORD = int(np.frombuffer(b"LOBJ", dtype="<u4")[0])
_DLC2LEN = np.array([*range(9), 12, 16, 20, 24, 32, 48, 64] + [64] * 240, dtype=np.int16)

DEFAULT_CHUNK_BYTES = 8 << 20
"""Inflated bytes parsed at a time (about 170 000 classic frames)."""

_MAX_EXACT = 2**53
"""Object timestamps below this convert to float exactly; larger ones go through Decimal."""


@dataclass(slots=True)
class BLFStats:
    """What a BLF file held besides frames."""

    skipped: Counter[int] = field(default_factory=Counter)
    """Object type -> how many were skipped (not frames)."""
    frames: int = 0


def read_blf(
    path: str | Path,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    stats: BLFStats | None = None,
) -> Iterator[FrameChunk]:
    """Chunks of frames from a BLF file, in file order; memory stays flat in the file's length."""
    path = Path(path)
    stats = stats if stats is not None else BLFStats()
    with path.open("rb") as file:
        yield from _Reader(path, file, stats, chunk_bytes).chunks()


@dataclass(slots=True)
class _Part:
    """One buffer's frames, parsed ahead, and what stopped the file there, if anything."""

    chunk: FrameChunk | None
    skipped: Counter[int]
    last: bool = False
    problem: str | None = None
    """What is wrong at ``offset``: raised once ``chunk`` is yielded."""
    offset: int = 0
    cause: BaseException | None = None


class _Reader:
    """Reads the file on a thread one buffer ahead of the caller: inflating (zlib lets go
    of the GIL) and parsing the next buffer overlap decoding this one."""

    def __init__(self, path: Path, file: BinaryIO, stats: BLFStats, chunk_bytes: int) -> None:
        self.path = path
        self.file = file
        self.stats = stats
        self.chunk_bytes = chunk_bytes
        self.channels = ChannelNames()
        self.tail = b""
        """Inflated bytes of an object that runs on into the next container."""
        head = file.read(blf.FILE_HEADER_STRUCT.size)
        if len(head) < blf.FILE_HEADER_STRUCT.size:
            raise self.error(0, "not a BLF file (shorter than a BLF file header)")
        header = blf.FILE_HEADER_STRUCT.unpack(head)
        if header[0] != b"LOGG":
            raise self.error(0, "not a BLF file (no 'LOGG' signature)")
        self.file_size = int(header[10])
        self.start = float(blf.systemtime_to_timestamp(header[14:22]))
        file.read(int(header[1]) - blf.FILE_HEADER_STRUCT.size)

    def error(self, offset: int, problem: str) -> TraceError:
        done = self.stats.frames
        where = f"byte {offset} (after {done} message{'' if done == 1 else 's'}): "
        return TraceError(f"{self.path}: {where}{problem}")

    def chunks(self) -> Iterator[FrameChunk]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="blf-read") as ahead:
            pending = ahead.submit(self._next_part)
            try:
                while True:
                    part = pending.result()
                    if not part.last:
                        pending = ahead.submit(self._next_part)
                    self.stats.skipped.update(part.skipped)
                    if part.chunk is not None and len(part.chunk):
                        self.stats.frames += len(part.chunk)
                        yield part.chunk
                    if part.problem is not None:  # after the frames before it
                        raise self.error(part.offset, part.problem) from part.cause
                    if part.last:
                        return
            finally:
                pending.cancel()
                wait([pending])  # never close the file under a read

    def _next_part(self) -> _Part:
        """The next ``chunk_bytes`` of inflated containers, parsed (on the read-ahead thread)."""
        pieces: list[bytes] = [self.tail]
        size = 0
        skipped: Counter[int] = Counter()
        damage: tuple[int, str, BaseException | None] | None = None
        at_end = False
        offset = self.file.tell()
        while size < self.chunk_bytes:
            offset = self.file.tell()
            try:
                found = read_blf_object(self.file)
                if found is None:
                    at_end = True
                    break
                obj_type, body = found
                if obj_type != blf.LOG_CONTAINER:
                    skipped[obj_type] += 1
                    continue
                data = inflate_blf_container(body)
            except blf.BLFParseError as exc:
                damage = (offset, str(exc), exc.__cause__)
                break
            pieces.append(data)
            size += len(data)
        chunk, self.tail, problem = self._parse(b"".join(pieces), skipped)
        part = _Part(chunk, skipped, last=at_end or damage is not None or problem is not None)
        if problem is not None:
            part.problem, part.offset = problem, offset
        elif damage is not None:
            part.offset, part.problem, part.cause = damage
        elif at_end:
            part.offset = self.file.tell()
            try:
                check_blf_end(self.tail, part.offset, self.file_size)
            except blf.BLFParseError as exc:
                part.problem = str(exc)
        return part

    def _parse(
        self, buffer: bytes, skipped: Counter[int]
    ) -> tuple[FrameChunk | None, bytes, str | None]:
        """The frames of the complete objects in ``buffer``, the bytes left for the next
        buffer, and what is wrong with the objects after those frames, if anything."""
        raw = np.frombuffer(buffer, dtype=np.uint8)
        problem = None
        chained = _chained_starts(raw)
        if chained is None:
            starts, problem = _walk(buffer)
            headers = _headers(raw, starts)
        else:
            starts, headers = chained
        if len(starts) == 0:
            return None, buffer, problem
        ends = starts + headers["obj_size"].astype(np.int64)
        complete = ends <= len(raw)
        count = int(complete.sum())  # only the last object can run past the end
        starts, tail_from = starts[:count], (int(starts[count]) if count < len(starts) else None)
        if tail_from is None:
            tail_from = int(ends[count - 1]) if count else 0
        chunk, stop = self._objects(raw, starts, headers[:count], skipped)
        if stop is not None:  # a struct reaches past the buffer: python-can leaves it for later
            tail_from = stop
        return chunk, buffer[tail_from:], problem

    def _objects(
        self,
        raw: npt.NDArray[np.uint8],
        starts: npt.NDArray[np.int64],
        headers: npt.NDArray[Any],
        skipped: Counter[int],
    ) -> tuple[FrameChunk | None, int | None]:
        header_version = headers["header_version"]
        obj_type = headers["obj_type"]
        known_header = (header_version == 1) | (header_version == 2)
        is_frame = np.isin(obj_type, _FRAME_TYPES) | (obj_type == blf.CAN_ERROR_EXT)
        for kind, n in zip(*np.unique(obj_type[~is_frame], return_counts=True), strict=True):
            skipped[int(kind)] += int(n)
        keep = is_frame & known_header
        body = np.where(header_version == 1, _BASE + 16, _BASE + 24).astype(np.int64)
        need = np.select(
            [obj_type == blf.CAN_FD_MESSAGE, obj_type == CAN_FD_MESSAGE_64, obj_type == 73],
            [84, 40, 32],
            16,
        )
        short = keep & (starts + body + need > len(raw))
        stop: int | None = None
        if short.any():
            first = int(np.flatnonzero(short)[0])
            stop = int(starts[first])
            keep[first:] = False
        index = np.flatnonzero(keep)
        if len(index) == 0:
            return None, stop
        obj = starts[index]
        kind = obj_type[index]
        version = header_version[index]
        fields = _Fields(len(index))
        fast = np.isin(kind, _RECORD_TYPES)
        for group_version in _distinct(version[fast]):
            rows = np.flatnonzero(fast & (version == group_version))
            fields.put(rows, _record_fields(raw, obj[rows], kind[rows], group_version))
        slow = np.flatnonzero(~fast)
        if len(slow):
            at = obj[slow] + body[index][slow]
            fields.put(slow, _general_fields(raw, obj[slow], at, kind[slow]))
        timestamp = self._timestamps(fields.time_flags, fields.ticks)
        channel, can_id, dlc, length, data = (
            fields.channel,
            fields.can_id,
            fields.dlc,
            fields.length,
            fields.data,
        )
        is_rx, remote, error, is_fd, brs, esi = (
            fields.is_rx,
            fields.remote,
            fields.error,
            fields.is_fd,
            fields.brs,
            fields.esi,
        )
        chunk = FrameChunk(
            timestamp=timestamp,
            channel=self.channels.codes(channel),
            channels=self.channels.names,
            is_rx=is_rx,
            arbitration_id=(can_id & 0x1FFFFFFF).astype(np.uint32),
            is_extended_id=(can_id & blf.CAN_MSG_EXT) != 0,
            is_remote_frame=remote,
            is_error_frame=error,
            is_fd=is_fd,
            bitrate_switch=brs,
            error_state_indicator=esi,
            dlc=dlc.astype(np.int16),
            length=length.astype(np.int16),
            data=data,
        )
        return chunk, stop

    def _timestamps(
        self, flags: npt.NDArray[np.uint32], ticks: npt.NDArray[np.uint64]
    ) -> npt.NDArray[np.float64]:
        """Seconds as python-can computes them: ``float(Decimal(ticks) * factor) + start``.

        Dividing by 1e5 or 1e9 (both exact in binary) rounds once, exactly as the
        decimal product converted to float does, while the ticks are exact floats.
        """
        ten_micros = flags == blf.TIME_TEN_MICS
        seconds = ticks.astype(np.float64) / np.where(ten_micros, 1e5, 1e9)
        for i in np.flatnonzero(ticks >= _MAX_EXACT).tolist():
            factor = blf.TIME_TEN_MICS_FACTOR if ten_micros[i] else blf.TIME_ONE_NANS_FACTOR
            seconds[i] = float(Decimal(int(ticks[i])) * factor)
        result: npt.NDArray[np.float64] = seconds + self.start
        return result


def _general_fields(
    raw: npt.NDArray[np.uint8],
    obj: npt.NDArray[np.int64],
    at: npt.NDArray[np.int64],
    kind: npt.NDArray[np.uint32],
) -> dict[str, npt.NDArray[Any]]:
    """Fields of any frame object, byte by byte: for CAN_FD_MESSAGE_64 and CAN_ERROR_EXT."""
    fd = kind == blf.CAN_FD_MESSAGE
    fd64 = kind == CAN_FD_MESSAGE_64
    error = kind == blf.CAN_ERROR_EXT
    last = len(raw) - 1
    channel = np.where(fd64, raw[at].astype(np.int64), _u16(raw, at).astype(np.int64)) - 1
    flags = raw[np.minimum(at + 2, last)].astype(np.int64)
    dlc_field = np.select([fd64, error], [raw[at + 1], raw[at + 10]], raw[at + 3]).astype(np.int64)
    can_id = np.where(error, _u32(raw, at + 16), _u32(raw, at + 4)).astype(np.int64)
    fd_flags = np.where(fd64, _u32(raw, at + 12), raw[np.minimum(at + 13, last)]).astype(np.int64)
    valid = np.where(fd64, raw[at + 2], raw[np.minimum(at + 14, last)])
    is_rx = np.where(fd64, raw[np.minimum(at + 34, last)] == 0, (flags & 1) == 0)
    is_rx[error] = True
    length, data = _payloads(raw, obj, at, kind=kind, dlc_field=dlc_field, valid_field=valid)
    return {
        "time_flags": _u32(raw, obj + 16),
        "ticks": _u64(raw, obj + 24),
        "channel": channel,
        "can_id": can_id,
        "is_rx": is_rx,
        "remote": np.where(fd64, (fd_flags & 0x10) != 0, (flags & 0x80) != 0) & ~error,
        "error": error,
        "is_fd": np.where(fd64, (fd_flags & 0x1000) != 0, fd & ((fd_flags & 1) != 0)),
        "brs": np.where(fd64, (fd_flags & 0x2000) != 0, fd & ((fd_flags & 2) != 0)),
        "esi": np.where(fd64, (fd_flags & 0x4000) != 0, fd & ((fd_flags & 4) != 0)),
        "dlc": np.where(fd | fd64, _DLC2LEN[dlc_field], dlc_field),
        "length": length,
        "data": data,
    }


_RECORD_TYPES = (blf.CAN_MESSAGE, CAN_MESSAGE2, blf.CAN_FD_MESSAGE)
"""Objects whose header and first 16 body bytes share one layout (per header version)."""
_FD_TAIL = 7 + 64
"""CAN_FD_MESSAGE from its fd_flags byte (body + 13): fd_flags, valid bytes, 5 reserved, data."""


def _record_dtype(version: int) -> np.dtype[Any]:
    """Header and the body's first 16 bytes, the same in CAN_MESSAGE(2) and CAN_FD_MESSAGE."""
    body = _BASE + (16 if version == 1 else 24)
    names = ["time_flags", "ticks", "channel", "flags", "dlc", "can_id", "data"]
    # the 8 data bytes as one word: a strided copy of words is far faster than of bytes
    formats: list[Any] = ["<u4", "<u8", "<u2", "u1", "u1", "<u4", "<u8"]
    offsets = [16, 24, body, body + 2, body + 3, body + 4, body + 8]
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": body + 16})


def _record_fields(
    raw: npt.NDArray[np.uint8],
    obj: npt.NDArray[np.int64],
    kind: npt.NDArray[np.uint32],
    version: int,
) -> dict[str, npt.NDArray[Any]]:
    """Fields of CAN_MESSAGE(2) and CAN_FD_MESSAGE objects of one header version: the
    shared part of every object copied out in one take and viewed as records, the
    FD part (flags, length, 64 data bytes) in a second take of the FD objects only.
    The byte matrix is as wide as the longest payload, 8 when there is no FD frame."""
    dtype = _record_dtype(version)
    records = np.ascontiguousarray(_windows(raw, dtype.itemsize)[obj]).view(dtype).ravel()
    count = len(records)
    flags = records["flags"]
    dlc = records["dlc"].astype(np.int64)
    length = np.minimum(dlc, 8)
    fd_flags = np.zeros(count, dtype=np.uint8)
    fd = np.flatnonzero(kind == blf.CAN_FD_MESSAGE)
    width = 8
    if len(fd):
        tail = _windows(raw, _FD_TAIL)[obj[fd] + dtype.itemsize - 3]
        fd_flags[fd] = tail[:, 0]
        length[fd] = np.minimum(tail[:, 1], 64)
        dlc[fd] = _DLC2LEN[dlc[fd]]
        width = max(int(length[fd].max()), 8)
    classic = np.ascontiguousarray(records["data"]).view(np.uint8).reshape(count, 8)
    filled: npt.NDArray[Any] | int
    if len(fd):
        data = np.zeros((count, width), dtype=np.uint8)
        data[:, :8] = classic
        data[fd] = tail[:, 7 : 7 + width]
        filled = np.full(count, 8)
        filled[fd] = width
    else:
        data, filled = classic, 8
    # python-can keeps only `length` bytes: zero the rest (past 8 they are zero already)
    short = np.flatnonzero(length < filled)
    if len(short):
        data[short] *= np.arange(width) < length[short, None]
    return {
        "time_flags": records["time_flags"],
        "ticks": records["ticks"],
        "channel": records["channel"].astype(np.int64) - 1,
        "can_id": records["can_id"].astype(np.int64),
        "is_rx": (flags & blf.DIR) == 0,
        "remote": (flags & blf.REMOTE_FLAG) != 0,
        "error": np.zeros(count, dtype=bool),
        "is_fd": (fd_flags & 1) != 0,
        "brs": (fd_flags & 2) != 0,
        "esi": (fd_flags & 4) != 0,
        "dlc": dlc,
        "length": length,
        "data": data,
    }


def _distinct(values: npt.NDArray[Any]) -> list[int]:
    """The distinct values, without a sort when they are all one (the usual case)."""
    if len(values) and (values == values[0]).all():
        return [int(values[0])]
    return [int(v) for v in np.unique(values).tolist()]


def _windows(raw: npt.NDArray[np.uint8], width: int) -> Any:
    """Every ``width`` bytes of ``raw`` as a row, without copying: index it to gather objects."""
    return np.lib.stride_tricks.sliding_window_view(raw, width)


class _Fields:
    """The frame fields of one buffer's objects, filled in group by group."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.time_flags = np.zeros(count, dtype=np.uint32)
        self.ticks = np.zeros(count, dtype=np.uint64)
        self.channel = np.zeros(count, dtype=np.int64)
        self.can_id = np.zeros(count, dtype=np.int64)
        self.is_rx = np.zeros(count, dtype=bool)
        self.remote = np.zeros(count, dtype=bool)
        self.error = np.zeros(count, dtype=bool)
        self.is_fd = np.zeros(count, dtype=bool)
        self.brs = np.zeros(count, dtype=bool)
        self.esi = np.zeros(count, dtype=bool)
        self.dlc = np.zeros(count, dtype=np.int64)
        self.length = np.zeros(count, dtype=np.int64)
        self.data = np.zeros((count, 8), dtype=np.uint8)

    def put(self, rows: npt.NDArray[np.intp], values: dict[str, npt.NDArray[Any]]) -> None:
        if len(rows) == self.count:  # one group: take its arrays as they are
            for name, value in values.items():
                setattr(self, name, value)
            return
        for name, value in values.items():
            target = getattr(self, name)
            if name == "data" and value.shape[1] > target.shape[1]:
                wider = np.zeros((self.count, value.shape[1]), dtype=np.uint8)
                wider[:, : target.shape[1]] = target
                self.data = target = wider
            if name == "data":
                target[rows, : value.shape[1]] = value
            else:
                target[rows] = value


def _payloads(
    raw: npt.NDArray[np.uint8],
    obj: npt.NDArray[np.int64],
    at: npt.NDArray[np.int64],
    *,
    kind: npt.NDArray[np.uint32],
    dlc_field: npt.NDArray[np.int64],
    valid_field: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Each frame's data length and its bytes, zero-padded as python-can pads them.

    CAN_FD_MESSAGE_64 may claim more valid bytes than the object holds (python-can
    issue 1905): the missing ones read as zeros, as in CANoe.
    """
    count = len(at)
    fd = kind == blf.CAN_FD_MESSAGE
    fd64 = kind == CAN_FD_MESSAGE_64
    error = kind == blf.CAN_ERROR_EXT
    valid = valid_field.astype(np.int64)
    data_at = np.select([fd, fd64, error], [at + 20, at + 40, at + 24], at + 8)
    length = np.select([fd, fd64], [np.minimum(valid, 64), valid], np.minimum(dlc_field, 8))
    available = np.select([fd, fd64], [np.full(count, 64), valid], np.full(count, 8))
    if fd64.any():
        size = _u32(raw, obj + 8).astype(np.int64)
        header_size = _u16(raw, obj + 4).astype(np.int64)
        ext = raw[np.minimum(at + 35, len(raw) - 1)].astype(np.int64)
        field_end = np.where(ext > 0, ext, size) - header_size - 40
        available = np.where(fd64, np.minimum(valid, np.maximum(field_end, 0)), available)
    available = np.minimum(available, length)
    width = max(int(length.max()), 8)
    columns = np.arange(width)
    inside = (columns < available[:, None]) & (data_at[:, None] + columns < len(raw))
    gather = np.where(inside, data_at[:, None] + columns, 0)
    data = np.where(inside, raw[gather], 0).astype(np.uint8)
    return length, data


def _walk(buffer: bytes) -> tuple[npt.NDArray[np.int64], str | None]:
    """Object starts found as python-can finds them, one header at a time, and the
    problem that stopped the walk early, if one did."""
    starts = []
    pos, end = 0, len(buffer)
    size_of = struct.Struct("<L").unpack_from
    problem = None
    while True:
        found = buffer.find(b"LOBJ", pos, pos + 8)
        if found < 0:
            if pos + 8 <= end:
                problem = f"no object at byte {pos} of the inflated log containers before this one"
            break
        if found + _BASE > end:
            break
        (obj_size,) = size_of(buffer, found + 8)
        if obj_size < _BASE:
            problem = f"object of size {obj_size} inside a log container"
            break
        starts.append(found)
        pos = found + obj_size
        if pos > end:
            break
    return np.array(starts, dtype=np.int64), problem


_HEADER = np.dtype(
    {
        "names": ["header_size", "header_version", "obj_size", "obj_type"],
        "formats": ["<u2", "<u2", "<u4", "<u4"],
        "offsets": [4, 6, 8, 12],
        "itemsize": _BASE,
    }
)


def _headers(raw: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """The base headers of the objects at ``starts`` (each wholly inside ``raw``), in one take."""
    if len(starts) == 0:
        return np.zeros(0, dtype=_HEADER)
    return np.ascontiguousarray(_windows(raw, _BASE)[starts]).view(_HEADER).ravel()


def _chained_starts(
    raw: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]] | None:
    """Where the objects start and their headers, if the ``LOBJ`` signatures in the buffer
    chain into its objects; None to walk instead.

    Objects written 4-byte aligned are found by a scan of aligned words (four times fewer
    compares than a byte scan); other buffers by the byte scan.
    """
    n = len(raw)
    if n < 4:
        return (
            (np.zeros(0, dtype=np.int64), _headers(raw, np.zeros(0, np.int64))) if n == 0 else None
        )
    words = raw[: n & ~3].view("<u4")
    aligned = np.flatnonzero(words == _SIG_WORD).astype(np.int64) * 4
    chained = _chain(raw, aligned)
    if chained is not None:
        return chained
    starts = np.flatnonzero(raw[: n - 3] == _SIG[0]).astype(np.int64)
    hits = np.ones(len(starts), dtype=bool)
    for k in (1, 2, 3):
        hits &= raw[starts + k] == _SIG[k]
    return _chain(raw, starts[hits])


def _chain(
    raw: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]] | None:
    """The objects at ``starts`` with their headers if each ends where the next begins (up
    to 4 bytes of padding), as python-can's walk would find them; None otherwise."""
    n = len(raw)
    whole = starts[starts + _BASE <= n]
    if len(whole) == 0 or whole[0] > 4:
        return None
    headers = _headers(raw, whole)
    sizes = headers["obj_size"].astype(np.int64)
    if (sizes < _BASE).any():
        return None
    ends = whole + sizes
    gaps = whole[1:] - ends[:-1]
    if ((gaps < 0) | (gaps > 4)).any():
        return None
    # The walk takes the first signature within 4 bytes of an object's end: 4 bytes of
    # padding spelling LOBJ would be it (a signature cannot overlap another).
    padded = ends[:-1][gaps == 4]
    if len(padded) and (_windows(raw, 4)[padded] == _SIG).all(axis=1).any():
        return None
    last_end = int(ends[-1])
    if len(whole) < len(starts):  # a header cut by the buffer's end must follow the last one
        if not 0 <= int(starts[len(whole)]) - last_end <= 4:
            return None
    elif last_end + 8 <= n:
        return None  # bytes after the last object that python-can would call garbage
    return whole, headers


def _gather(raw: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], width: int) -> Any:
    index = np.minimum(at[:, None] + np.arange(width), len(raw) - 1)
    return np.ascontiguousarray(raw[index])


def _u16(raw: npt.NDArray[np.uint8], at: npt.NDArray[np.int64]) -> npt.NDArray[np.uint16]:
    result: npt.NDArray[np.uint16] = _gather(raw, at, 2).view("<u2").ravel()
    return result


def _u32(raw: npt.NDArray[np.uint8], at: npt.NDArray[np.int64]) -> npt.NDArray[np.uint32]:
    result: npt.NDArray[np.uint32] = _gather(raw, at, 4).view("<u4").ravel()
    return result


def _u64(raw: npt.NDArray[np.uint8], at: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    result: npt.NDArray[np.uint64] = _gather(raw, at, 8).view("<u8").ravel()
    return result


_CAN_MSG_DTYPE = np.dtype(
    [
        ("signature", "S4"), ("header_size", "<u2"), ("header_version", "<u2"),
        ("obj_size", "<u4"), ("obj_type", "<u4"), ("flags", "<u4"), ("client", "<u2"),
        ("version", "<u2"), ("timestamp", "<u8"), ("channel", "<u2"), ("msg_flags", "u1"),
        ("dlc", "u1"), ("can_id", "<u4"), ("data", "u1", (8,)),
    ]
)  # fmt: skip
"""A CAN_MESSAGE object with its V1 header, as python-can's BLFWriter lays it out (48 bytes)."""

_CAN_FD_DTYPE = np.dtype(
    [
        ("signature", "S4"), ("header_size", "<u2"), ("header_version", "<u2"),
        ("obj_size", "<u4"), ("obj_type", "<u4"), ("flags", "<u4"), ("client", "<u2"),
        ("version", "<u2"), ("timestamp", "<u8"), ("channel", "<u2"), ("msg_flags", "u1"),
        ("dlc", "u1"), ("can_id", "<u4"), ("frame_length", "<u4"), ("bit_count", "u1"),
        ("fd_flags", "u1"), ("valid_bytes", "u1"), ("reserved", "u1", (5,)), ("data", "u1", (64,)),
    ]
)  # fmt: skip
"""A CAN_FD_MESSAGE object with its V1 header (116 bytes)."""

_LEN2DLC = np.searchsorted(_DLC2LEN[:16], np.arange(65)).astype(np.uint8)


def write_blf(
    path: str | Path,
    chunks: Iterator[FrameChunk] | list[FrameChunk],
    *,
    compression_level: int = 6,
    container_size: int = 128 * 1024,
) -> int:
    """Write frames as a BLF file python-can and CANoe read; returns the frames written.

    Classic frames become CAN_MESSAGE objects and CAN FD frames CAN_FD_MESSAGE
    objects, with times, channels (``int(name) + 1``), directions and flags as
    python-can's ``BLFWriter`` writes them, but a chunk at a time: this is how
    the tests and benchmarks make traces of millions of frames in seconds.
    Error frames are not written.
    """
    start: float | None = None
    last = 0.0
    objects = 0
    raw_size = blf.FILE_HEADER_SIZE
    pending = b""
    with Path(path).open("wb") as file:
        file.write(b"\x00" * blf.FILE_HEADER_SIZE)
        for chunk in chunks:
            keep = ~chunk.is_error_frame
            if not keep.any():
                continue
            if start is None:
                start = int(float(chunk.timestamp[keep][0]) * 1000) / 1000
            last = float(chunk.timestamp[keep][-1])
            stream = pending + _objects_bytes(chunk, keep, start)
            objects += int(keep.sum())
            whole = len(stream) - len(stream) % container_size
            for at in range(0, whole, container_size):
                raw_size += _write_container(
                    file, stream[at : at + container_size], compression_level
                )
            pending = stream[whole:]
        if pending:
            raw_size += _write_container(file, pending, compression_level)
        size = file.tell()
        file.seek(0)
        header = [b"LOGG", blf.FILE_HEADER_SIZE, 5, 0, 0, 0, 2, 6, 8, 1]
        header += [size, raw_size, objects, 0]
        header += [*blf.timestamp_to_systemtime(start), *blf.timestamp_to_systemtime(last)]
        file.write(blf.FILE_HEADER_STRUCT.pack(*header))
    return objects


def _objects_bytes(chunk: FrameChunk, keep: npt.NDArray[np.bool_], start: float) -> bytes:
    index = np.flatnonzero(keep)
    fd = chunk.is_fd[index]
    ticks = np.maximum(((chunk.timestamp[index] - start) * 1e9).astype(np.int64), 0)
    channel = np.array([_channel_number(n) for n in chunk.channels], dtype=np.int64)
    can_id = chunk.arbitration_id[index].astype(np.uint32) | np.where(
        chunk.is_extended_id[index], np.uint32(blf.CAN_MSG_EXT), np.uint32(0)
    )
    msg_flags = np.where(chunk.is_remote_frame[index], blf.REMOTE_FLAG, 0) | np.where(
        chunk.is_rx[index], 0, blf.DIR
    )
    parts: list[tuple[npt.NDArray[np.bool_], npt.NDArray[Any]]] = []
    for is_fd, dtype in ((False, _CAN_MSG_DTYPE), (True, _CAN_FD_DTYPE)):
        rows = fd == is_fd
        if not rows.any():
            continue
        src = index[rows]
        objs = np.zeros(int(rows.sum()), dtype=dtype)
        objs["signature"] = b"LOBJ"
        objs["header_size"] = 32
        objs["header_version"] = 1
        objs["obj_size"] = dtype.itemsize
        objs["obj_type"] = blf.CAN_FD_MESSAGE if is_fd else blf.CAN_MESSAGE
        objs["flags"] = blf.TIME_ONE_NANS
        objs["timestamp"] = ticks[rows]
        objs["channel"] = channel[chunk.channel[src]] + 1
        objs["msg_flags"] = msg_flags[rows]
        objs["can_id"] = can_id[rows]
        width = 64 if is_fd else 8
        data = np.zeros((len(src), width), dtype=np.uint8)
        take = min(width, chunk.data.shape[1])
        data[:, :take] = chunk.data[src, :take]
        objs["data"] = data
        if is_fd:
            length = np.minimum(chunk.length[src], 64)
            objs["dlc"] = _LEN2DLC[length]
            objs["valid_bytes"] = length
            objs["fd_flags"] = (
                1
                | np.where(chunk.bitrate_switch[src], 2, 0)
                | np.where(chunk.error_state_indicator[src], 4, 0)
            )
        else:
            objs["dlc"] = chunk.dlc[src]
        parts.append((rows, objs))
    if len(parts) == 1:
        return parts[0][1].tobytes()
    sizes = np.where(fd, _CAN_FD_DTYPE.itemsize, _CAN_MSG_DTYPE.itemsize)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    for rows, objs in parts:
        itemsize = objs.dtype.itemsize
        target = offsets[rows][:, None] + np.arange(itemsize)
        out[target] = objs.view(np.uint8).reshape(len(objs), itemsize)
    return out.tobytes()


def _channel_number(name: str) -> int:
    return int(name) if name.lstrip("-").isdigit() else 0


def _write_container(file: BinaryIO, data: bytes, level: int) -> int:
    """One LOG_CONTAINER object; returns the bytes it stands for uncompressed."""
    method = blf.ZLIB_DEFLATE if level else blf.NO_COMPRESSION
    body = zlib.compress(data, level) if level else data
    obj_size = _BASE + blf.LOG_CONTAINER_STRUCT.size + len(body)
    file.write(blf.OBJ_HEADER_BASE_STRUCT.pack(b"LOBJ", _BASE, 1, obj_size, blf.LOG_CONTAINER))
    file.write(blf.LOG_CONTAINER_STRUCT.pack(method, len(data)))
    file.write(body)
    file.write(b"\x00" * (obj_size % 4))
    return _BASE + blf.LOG_CONTAINER_STRUCT.size + len(data)

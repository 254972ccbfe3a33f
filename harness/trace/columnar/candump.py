"""candump ``-l`` logs straight to columns: bytes scanned array-wide, numpy for every field.

Lines read as python-can's ``CanutilsLogReader`` reads them
(``(1436509052.249713) vcan0 12345678#00112233 R``): the same timestamps, IDs
(extended when written with more than three digits), CAN FD (``##`` and a
hex digit of flags), remote frames (``R`` and an optional length), error frames
(``CAN_ERR_FLAG`` with ``CAN_ERR_BUSERROR``) and the optional ``R``/``T``
direction. Where python-can would guess at a malformed line (an odd number of
hex digits, 9 bytes in a classic frame, an FD frame marked remote), this reader
refuses it as :func:`~harness.trace.reader.parse_candump_line` does: a line
that is not a frame is a :class:`~harness.exceptions.TraceError` naming the
file, line and column, raised after the frames before it were yielded.

Lines in candump's own layout (one space between fields, no tabs, a data
frame) are parsed as one byte array: the positions of ``)``, space, ``.`` and
``#`` found once per chunk, each field gathered into a small matrix and checked
there, hex through a lookup table. Every other line (blank, remote, padded,
non-ASCII, malformed) goes through one regex, the grammar of the per-line
parser, which also names what is wrong with a bad line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.exceptions import TraceError
from harness.trace.columnar.frames import DEFAULT_CHUNK_FRAMES, ChannelNames, FrameChunk
from harness.trace.reader import LineError, parse_candump_line

if TYPE_CHECKING:
    import numpy.typing as npt

_LINE = re.compile(
    r"[ \t]*\(([0-9]+(?:\.[0-9]*)?)\)[ \t]+(\S+)[ \t]+([0-9A-Fa-f]{1,8})#"
    r"(?:#([0-9A-Fa-f])("
    + "|".join(f"(?:[0-9A-Fa-f]{{2}}){{{n}}}" for n in (64, 48, 32, 24, 20, 16, 12))
    + r"|(?:[0-9A-Fa-f]{2}){0,8})|((?:[0-9A-Fa-f]{2}){0,8}|[Rr][0-8]?))"
    r"(?:[ \t]+([RrTt]))?[ \t]*\r?"
)
"""A frame line; a line it refuses gets its error from ``parse_candump_line`` (one grammar)."""
_SNIPPET = 40

CAN_ERR_FLAG = 0x20000000
CAN_ERR_BUSERROR = 0x00000080

_NOT_HEX = 16
_NIBBLE = np.full(256, _NOT_HEX, dtype=np.uint8)
"""Byte -> its hex digit's value, 16 for a byte that is not one."""
for _digit in "0123456789abcdef":
    _NIBBLE[ord(_digit)] = _NIBBLE[ord(_digit.upper())] = int(_digit, 16)
_PAIR = np.full(1 << 16, 1 << 8, dtype=np.uint16)
"""Two bytes read as a little-endian uint16 -> the byte their hex digits spell, 256 if not hex."""
for _high in "0123456789abcdefABCDEF":
    for _low in "0123456789abcdefABCDEF":
        _PAIR[ord(_high) | ord(_low) << 8] = int(_high + _low, 16)
_FD_CHARS = np.zeros(129, dtype=bool)
"""Payload length in hex digits -> whether a CAN FD frame may carry it."""
_FD_CHARS[[2 * n for n in (*range(9), 12, 16, 20, 24, 32, 48, 64)]] = True
_STAMP_WIDTH = 20  # characters between the parentheses, at most, on the fast path
_CHANNEL_WIDTH = 8  # so a channel name is one uint64


def read_candump(
    path: str | Path, *, chunk_frames: int = DEFAULT_CHUNK_FRAMES
) -> Iterator[FrameChunk]:
    """Chunks of frames from a candump log, in file order; memory stays flat."""
    path = Path(path)
    channels = ChannelNames()
    line_number = 0
    hint = max(chunk_frames, 1) * 40  # bytes: a classic frame line is 30-45 characters
    with path.open("rb") as file:
        while block := file.read(hint):
            if not block.endswith(b"\n"):
                block += file.readline()
            chunk, bad = _parse_block(block, channels)
            if chunk is not None:
                yield chunk
            if bad is not None:
                index, why = bad
                raise TraceError(f"{path}: line {line_number + index + 1}, {why}")
            line_number += block.count(b"\n")


def _parse_block(
    block: bytes, channels: ChannelNames
) -> tuple[FrameChunk | None, tuple[int, str] | None]:
    """The frames of whole lines, and (index, why) of the first bad line if there is one."""
    if not block.endswith(b"\n"):
        block += b"\n"
    fast, lines, starts, ends = _fast_lines(block, channels)
    slow_lines: list[int] = []
    matches: list[tuple[str, ...]] = []
    bad: tuple[int, str] | None = None
    for index in np.flatnonzero(~lines).tolist():
        line = block[starts[index] : ends[index]].decode("utf-8", errors="replace")
        match = _LINE.fullmatch(line)
        if match:
            slow_lines.append(index)
            matches.append(match.groups(""))
        elif line.strip():
            bad = index, _why(line)
            break
    frames = [fast] if fast is not None else []
    order = [np.flatnonzero(lines)] if fast is not None else []
    if matches:
        frames.append(_columns(matches, channels))
        order.append(np.array(slow_lines, dtype=np.int64))
    if not frames:
        return None, bad
    lines_of = np.concatenate(order)
    chunk = frames[0] if len(frames) == 1 else _merge(frames, lines_of)
    if bad is not None:
        chunk = _take(chunk, np.flatnonzero(np.sort(lines_of) < bad[0]))
    return (chunk if len(chunk) else None), bad


class _Lines:
    """A block as one byte array: where each line starts and ends, which are still fast."""

    def __init__(self, block: bytes) -> None:
        self.size = len(block)
        self.text = np.frombuffer(block + bytes(8), dtype=np.uint8)  # room to peek past the end
        self.body = self.text[: self.size]
        newline = np.flatnonzero(self.body == ord("\n"))
        self.start = np.concatenate(([0], newline[:-1] + 1)).astype(np.int64)
        end = newline.astype(np.int64)  # exclusive, before "\r\n" too
        end -= (end > self.start) & (self.text[np.maximum(end - 1, 0)] == ord("\r"))
        self.end = end
        self.first = block[: int(end[0])] if len(end) else b""
        self.ok = (self.text[self.start] == ord("(")) & (end > self.start)

    def after(self, char: str, position: npt.NDArray[np.int64], *guesses: int) -> Any:
        """Where ``char`` first occurs at or after each position (``size`` if nowhere).

        Each line is first tried at the ``guesses`` (offsets that held on the
        block's first line); a hit there that is not the first occurrence leaves
        that character inside a field whose check refuses it, so the line goes to
        the regex. Only lines no guess fits are searched.
        """
        code = ord(char)
        found = np.full(len(position), self.size, dtype=np.int64)
        todo = np.arange(len(position))
        for guess in guesses:
            at = np.minimum(position[todo] + guess, self.size)
            hit = self.text[at] == code
            found[todo[hit]] = at[hit]
            todo = todo[~hit]
        if len(todo):
            every = np.append(np.flatnonzero(self.body == code), self.size)
            found[todo] = every[np.minimum(np.searchsorted(every, position[todo]), len(every) - 1)]
        return found

    def offset(self, char: bytes, after: int = 0) -> int:
        """Where ``char`` sits after ``after`` on the first line: the guess for every line."""
        return max(self.first.find(char, after) - after, 0)


def _fast_lines(
    block: bytes, channels: ChannelNames
) -> tuple[FrameChunk | None, npt.NDArray[np.bool_], npt.NDArray[np.int64], Any]:
    """The lines in candump's own layout parsed at once: (frames, which lines, starts, ends)."""
    lines = _Lines(block)
    text, start, end, ok = lines.text, lines.start, lines.end, lines.ok
    close = lines.after(")", start, lines.offset(b")"))
    dot = lines.after(".", start, lines.offset(b"."))
    ok &= (close < end) & (dot < close) & (text[close + 1] == ord(" "))
    name_at = close + 2
    name_end = lines.after(" ", name_at, lines.offset(b" ", lines.offset(b")") + 2))
    id_end = lines.after("#", name_end, 4, 9)
    id_width = id_end - name_end - 1
    ok &= (name_end < end) & (name_end > name_at) & (name_end - name_at <= _CHANNEL_WIDTH)
    ok &= (id_end < end) & (id_width >= 1) & (id_width <= 8)
    rows = np.flatnonzero(ok)
    stamp = _stamps(lines, rows, dot, close)
    names = _channel_keys(text, rows, name_at, name_end - name_at, ok)
    can_id = _hex_number(text, rows, id_end, id_width, ok)
    payload = _payloads(lines, id_end)
    rows = np.flatnonzero(ok)
    if len(rows) == 0:
        return None, ok, start, end
    keys = names[rows]
    if (keys == keys[0]).all():
        distinct, inverse = keys[:1], np.zeros(len(rows), dtype=np.intp)
    else:
        distinct, inverse = np.unique(keys, return_inverse=True)
    codes = np.array(
        [channels.code(_channel_name(int(key))) for key in distinct.tolist()], dtype=np.int32
    )
    length = (payload["chars"][rows] // 2).astype(np.int64)
    chunk = _assemble(
        channels,
        timestamp=stamp[rows],
        channel=codes[inverse.ravel()],
        can_id=can_id[rows],
        extended=id_width[rows] > 3,
        remote=np.zeros(len(rows), dtype=bool),
        is_fd=payload["is_fd"][rows],
        flags=payload["flags"][rows],
        dlc=length.copy(),
        length=length,
        data=payload["data"][rows],
        is_rx=payload["is_rx"][rows],
    )
    return chunk, ok, start, end


def _payloads(lines: _Lines, id_end: npt.NDArray[np.int64]) -> dict[str, Any]:
    """What follows each ID's ``#``: FD flags, hex payload, direction; clears ``lines.ok``."""
    text, end, ok = lines.text, lines.end, lines.ok
    is_fd = (text[id_end + 1] == ord("#")) & (id_end + 1 < end)
    flags = _NIBBLE[text[id_end + 2]].astype(np.int64)
    ok &= ~is_fd | ((flags < _NOT_HEX) & (id_end + 2 < end))
    data_at = id_end + 1 + 2 * is_fd
    has_direction = (end - 2 >= data_at) & (text[np.maximum(end - 2, 0)] == ord(" "))
    direction = text[np.maximum(end - 1, 0)]
    ok &= ~has_direction | np.isin(direction, np.frombuffer(b"RrTt", dtype=np.uint8))
    chars = end - data_at - 2 * has_direction
    ok &= (chars >= 0) & (chars % 2 == 0)
    ok &= np.where(is_fd, _FD_CHARS[np.clip(chars, 0, 128)] & (chars <= 128), chars <= 16)
    return {
        "is_fd": is_fd,
        "flags": np.where(is_fd, flags, 0),
        "chars": chars,
        "data": _hex_payloads(text, np.flatnonzero(ok), data_at, chars, ok),
        "is_rx": ~has_direction | np.isin(direction, np.frombuffer(b"Rr", dtype=np.uint8)),
    }


def _groups(
    rows: npt.NDArray[np.intp], key: npt.NDArray[np.int64]
) -> Iterator[tuple[npt.NDArray[np.intp], int]]:
    """``rows`` by their field's layout (``key``), so each group is one fixed-shape gather."""
    if len(rows) == 0:
        return
    keys = key[rows]
    first = int(keys[0])
    if (keys == first).all():  # the usual case: every line alike
        yield rows, first
        return
    for value in np.flatnonzero(np.bincount(keys)).tolist():
        yield rows[keys == value], value


def _rows_where(good: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_] | bool:
    """Per row, whether all of it is good; one reduction over the whole matrix when all is."""
    if good.all():
        return True
    rows: npt.NDArray[np.bool_] = np.logical_and.reduce(good, axis=1)
    return rows


def _window(
    text: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], width: int
) -> npt.NDArray[np.uint8]:
    """The ``width`` bytes from each ``at``: whole rows of a strided view, no index matrix."""
    window: npt.NDArray[np.uint8] = np.lib.stride_tricks.sliding_window_view(text, width)[at]
    return window


def _stamps(
    lines: _Lines,
    rows: npt.NDArray[np.intp],
    dot: npt.NDArray[np.int64],
    close: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """``(digits.digits)`` as floats equal to ``float(text)``; clears ``lines.ok`` where not.

    The digits without the dot make an exact integer below 2**53 and a power of
    ten is exact too, so one IEEE division rounds as ``float`` does.
    """
    text, start, ok = lines.text, lines.start, lines.ok
    stamp = np.zeros(len(start), dtype=np.float64)
    width = close - start - 1
    whole = dot - start - 1
    ok[rows] &= (width[rows] <= _STAMP_WIDTH) & (whole[rows] >= 1)
    rows = rows[ok[rows]]
    for index, key in _groups(rows, width * 32 + whole):
        size, point = divmod(key, 32)
        digits = np.delete(_window(text, start[index] + 1, size), point, axis=1) - ord("0")
        places = digits.shape[1]
        number = digits.astype(np.float64) @ 10.0 ** np.arange(places - 1, -1, -1)
        ok[index] &= _rows_where(digits < 10) & (number < 2**53)
        stamp[index] = number / 10.0 ** (places - point)
    return stamp


def _channel_keys(
    text: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.intp],
    at: npt.NDArray[np.int64],
    width: npt.NDArray[np.int64],
    ok: npt.NDArray[np.bool_],
) -> npt.NDArray[np.uint64]:
    """Channel names of up to 8 printable characters as one uint64 each; clears ``ok`` else."""
    keys = np.zeros((len(at), _CHANNEL_WIDTH), dtype=np.uint8)
    for index, size in _groups(rows, width):
        chars = _window(text, at[index], size)
        ok[index] &= _rows_where((chars > 0x20) & (chars < 0x7F))
        keys[index, :size] = chars
    return keys.view(np.uint64).ravel()


def _channel_name(key: int) -> str:
    name = key.to_bytes(_CHANNEL_WIDTH, "little").rstrip(b"\0").decode("ascii")
    return str(int(name)) if name.isdigit() else name


def _hex_number(
    text: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.intp],
    end: npt.NDArray[np.int64],
    width: npt.NDArray[np.int64],
    ok: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int64]:
    """The hex digits before each ``end`` as integers; clears ``ok`` where one is not hex."""
    number = np.zeros(len(end), dtype=np.int64)
    for index, size in _groups(rows, width):
        nibble = _NIBBLE[_window(text, end[index] - size, size)].astype(np.int64)
        ok[index] &= _rows_where(nibble < _NOT_HEX)
        number[index] = (nibble << (4 * np.arange(size - 1, -1, -1))).sum(axis=1)
    return number


def _hex_payloads(
    text: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.intp],
    at: npt.NDArray[np.int64],
    chars: npt.NDArray[np.int64],
    ok: npt.NDArray[np.bool_],
) -> npt.NDArray[np.uint8]:
    """Payloads of ``chars`` hex digits at ``at`` as a zero-padded byte matrix; clears ``ok``."""
    width = 64 if (chars[rows] > 16).any() else 8
    data = np.zeros((len(at), width), dtype=np.uint8)
    for index, digits in _groups(rows, chars):
        pairs = _PAIR[_window(text, at[index], digits).view("<u2")]
        ok[index] &= _rows_where(pairs < 256)
        data[index, : digits // 2] = pairs
    return data


def _why(line: str) -> str:
    """What is wrong with a line the regex refused, in the reader's words."""
    try:
        parse_candump_line(line)
    except LineError as exc:
        return str(exc)
    return f"not a candump frame: {line.strip()[:_SNIPPET]!r}"


def _columns(matches: list[tuple[str, ...]], channels: ChannelNames) -> FrameChunk:
    """Frames from the regex's groups: the path for lines outside candump's own layout."""
    stamps, names, ids, fd_flags, fd_payloads, classic_payloads, directions = zip(
        *matches, strict=True
    )
    payloads = tuple(f or c for f, c in zip(fd_payloads, classic_payloads, strict=True))
    remote = np.array([p[:1] in ("R", "r") for p in payloads], dtype=bool)
    hex_data = ["" if r else p for r, p in zip(remote.tolist(), payloads, strict=True)]
    length = np.array([len(p) // 2 for p in hex_data], dtype=np.int64)
    data = np.zeros((len(matches), max(int(length.max(initial=0)), 8)), dtype=np.uint8)
    for i, payload in enumerate(hex_data):
        data[i, : length[i]] = np.frombuffer(bytes.fromhex(payload), dtype=np.uint8)
    dlc = length.copy()
    for i in np.flatnonzero(remote).tolist():
        dlc[i] = int(payloads[i][1:] or 0)
    code = {n: channels.code(str(int(n)) if n.isdigit() else n) for n in sorted(set(names))}
    return _assemble(
        channels,
        timestamp=np.array([float(s) for s in stamps], dtype=np.float64),
        channel=np.array([code[n] for n in names], dtype=np.int32),
        can_id=np.array([int(i, 16) for i in ids], dtype=np.int64),
        extended=np.array([len(i) > 3 for i in ids], dtype=bool),
        remote=remote,
        is_fd=np.array([bool(f) for f in fd_flags], dtype=bool),
        flags=np.array([int(f or "0", 16) for f in fd_flags], dtype=np.int64),
        dlc=dlc,
        length=length,
        data=data,
        is_rx=np.array([d in ("", "R", "r") for d in directions], dtype=bool),
    )


def _assemble(channels: ChannelNames, **fields: Any) -> FrameChunk:
    """A chunk from parsed fields, error frames reduced to what python-can keeps (their time)."""
    can_id = fields["can_id"]
    error = ((can_id & CAN_ERR_FLAG) != 0) & ((can_id & CAN_ERR_BUSERROR) != 0)
    if error.any():
        fields["channel"][error] = channels.code("")
        can_id[error] = 0
        fields["extended"][error] = True
        for name in ("remote", "is_fd", "flags", "dlc", "length", "data"):
            fields[name][error] = 0
        fields["is_rx"][error] = True
    flags = fields["flags"]
    return FrameChunk(
        timestamp=fields["timestamp"],
        channel=fields["channel"],
        channels=channels.names,
        is_rx=fields["is_rx"],
        arbitration_id=(can_id & 0x1FFFFFFF).astype(np.uint32),
        is_extended_id=fields["extended"],
        is_remote_frame=fields["remote"],
        is_error_frame=error,
        is_fd=fields["is_fd"],
        bitrate_switch=(flags & 1) != 0,
        error_state_indicator=(flags & 2) != 0,
        dlc=fields["dlc"].astype(np.int16),
        length=fields["length"].astype(np.int16),
        data=fields["data"],
    )


_ROW_FIELDS = (
    "timestamp", "channel", "is_rx", "arbitration_id", "is_extended_id", "is_remote_frame",
    "is_error_frame", "is_fd", "bitrate_switch", "error_state_indicator", "dlc", "length",
)  # fmt: skip


def _merge(frames: list[FrameChunk], lines: npt.NDArray[np.int64]) -> FrameChunk:
    """Chunks of the same block's lines as one, back in line order."""
    order = np.argsort(lines, kind="stable")
    width = max(f.data.shape[1] for f in frames)
    data = np.zeros((len(lines), width), dtype=np.uint8)
    row = 0
    for f in frames:
        data[row : row + len(f), : f.data.shape[1]] = f.data
        row += len(f)
    columns: dict[str, Any] = {
        n: np.concatenate([getattr(f, n) for f in frames])[order] for n in _ROW_FIELDS
    }
    return FrameChunk(channels=frames[0].channels, data=data[order], **columns)


def _take(chunk: FrameChunk, rows: npt.NDArray[np.intp]) -> FrameChunk:
    columns: dict[str, Any] = {n: getattr(chunk, n)[rows] for n in _ROW_FIELDS}
    return FrameChunk(channels=chunk.channels, data=chunk.data[rows], **columns)

"""candump ``-l`` logs straight to columns: one regex over a whole chunk, numpy for the hex.

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
    r"^[ \t]*\(([0-9]+(?:\.[0-9]*)?)\)[ \t]+(\S+)[ \t]+([0-9A-Fa-f]{1,8})#"
    r"(?:#([0-9A-Fa-f])("
    + "|".join(f"(?:[0-9A-Fa-f]{{2}}){{{n}}}" for n in (64, 48, 32, 24, 20, 16, 12))
    + r"|(?:[0-9A-Fa-f]{2}){0,8})|((?:[0-9A-Fa-f]{2}){0,8}|[Rr][0-8]?))"
    r"(?:[ \t]+([RrTt]))?[ \t]*\r?$",
    re.MULTILINE,
)
"""A frame line; a line it refuses gets its error from ``parse_candump_line`` (one grammar)."""
_BLANK = re.compile(r"^[ \t\r]*$", re.MULTILINE)
_SNIPPET = 40

CAN_ERR_FLAG = 0x20000000
CAN_ERR_BUSERROR = 0x00000080

_NIBBLE = np.zeros(128, dtype=np.uint8)
for _digit in "0123456789abcdef":
    _NIBBLE[ord(_digit)] = _NIBBLE[ord(_digit.upper())] = int(_digit, 16)


def read_candump(
    path: str | Path, *, chunk_frames: int = DEFAULT_CHUNK_FRAMES
) -> Iterator[FrameChunk]:
    """Chunks of frames from a candump log, in file order; memory stays flat."""
    path = Path(path)
    channels = ChannelNames()
    line_number = 0
    hint = max(chunk_frames, 1) * 40  # bytes: a classic frame line is 30-45 characters
    with path.open(encoding="utf-8", errors="replace") as file:
        while lines := file.readlines(hint):
            text = "".join(lines)
            matches = _LINE.findall(text)
            blank = len(_BLANK.findall(text)) - (1 if text.endswith("\n") else 0)
            if len(matches) + blank != len(lines):
                good, bad = _first_bad_line(lines)
                if good:
                    yield _columns(_LINE.findall("".join(lines[:good])), channels)
                raise TraceError(f"{path}: line {line_number + bad + 1}, {_why(lines[bad])}")
            line_number += len(lines)
            if matches:
                yield _columns(matches, channels)


def _why(line: str) -> str:
    """What is wrong with a line the regex refused, in the reader's words."""
    try:
        parse_candump_line(line)
    except LineError as exc:
        return str(exc)
    return f"not a candump frame: {line.strip()[:_SNIPPET]!r}"


def _first_bad_line(lines: list[str]) -> tuple[int, int]:
    """(frames before it, index) of the first line that is neither a frame nor blank."""
    good = 0
    for index, line in enumerate(lines):
        if _LINE.fullmatch(line.rstrip("\n")):
            good += 1
        elif line.strip():
            return good, index
    return good, len(lines)  # not reached: the counts disagreed


def _columns(matches: list[tuple[str, ...]], channels: ChannelNames) -> FrameChunk:
    stamps, names, ids, fd_flags, fd_payloads, classic_payloads, directions = zip(
        *matches, strict=True
    )
    payloads = tuple(f or c for f, c in zip(fd_payloads, classic_payloads, strict=True))
    can_id = _hex_numbers(ids)
    extended = _lengths(ids) > 3
    remote = np.array([p[:1] in ("R", "r") for p in payloads], dtype=bool)
    hex_data = np.where(remote, "", np.array(payloads, dtype=object))
    data, length = _hex_bytes(hex_data.tolist())
    dlc = length.copy()
    if remote.any():
        for i in np.flatnonzero(remote).tolist():
            dlc[i] = int(payloads[i][1:] or 0)
    is_fd = np.array([bool(f) for f in fd_flags], dtype=bool)
    flags = np.array([int(f or "0", 16) for f in fd_flags], dtype=np.int64)
    error = ((can_id & CAN_ERR_FLAG) != 0) & ((can_id & CAN_ERR_BUSERROR) != 0)
    is_rx = np.array([d in ("", "R", "r") for d in directions], dtype=bool)
    distinct = sorted(set(names))
    code = {n: channels.code(str(int(n)) if n.isdigit() else n) for n in distinct}
    channel = np.array([code[n] for n in names], dtype=np.int32)
    if error.any():  # python-can keeps nothing of an error frame but its time
        channel[error] = channels.code("")
        can_id[error] = 0
        extended[error] = True
        for array in (remote, is_fd, flags, dlc, length):
            array[error] = 0
        is_rx[error] = True
        data[error] = 0
    return FrameChunk(
        timestamp=np.array(stamps, dtype=np.float64),
        channel=channel,
        channels=channels.names,
        is_rx=is_rx,
        arbitration_id=(can_id & 0x1FFFFFFF).astype(np.uint32),
        is_extended_id=extended,
        is_remote_frame=remote,
        is_error_frame=error,
        is_fd=is_fd,
        bitrate_switch=(flags & 1) != 0,
        error_state_indicator=(flags & 2) != 0,
        dlc=dlc.astype(np.int16),
        length=length.astype(np.int16),
        data=data,
    )


def _codes(texts: Any, width: int) -> npt.NDArray[np.uint32]:
    """Characters of equal-width-padded strings as an (N, width) array of code points."""
    array = np.array(texts, dtype=f"U{max(width, 1)}")
    codes: npt.NDArray[np.uint32] = array.view(np.uint32).reshape(len(array), max(width, 1))
    return codes


def _lengths(texts: tuple[str, ...]) -> npt.NDArray[np.int64]:
    return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))


def _hex_numbers(texts: tuple[str, ...]) -> npt.NDArray[np.int64]:
    """Hex strings of up to 8 digits as integers, all at once."""
    codes = _codes(texts, 8)
    lengths = _lengths(texts)
    nibbles = _NIBBLE[np.minimum(codes, 127)].astype(np.int64)
    position = lengths[:, None] - 1 - np.arange(8)  # nibble weight, digit by digit
    weight = np.where(position >= 0, np.left_shift(1, 4 * np.maximum(position, 0)), 0)
    numbers: npt.NDArray[np.int64] = (nibbles * weight).sum(axis=1)
    return numbers


def _hex_bytes(texts: list[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Payloads written as hex pairs, as a zero-padded byte matrix and their lengths."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)) // 2
    width = max(int(lengths.max(initial=0)), 8)
    codes = _codes(texts, 2 * width)
    nibbles = _NIBBLE[np.minimum(codes, 127)]
    data = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    return np.ascontiguousarray(data, dtype=np.uint8), lengths

"""Reading traces: every corpus file, damaged files of each kind, round trips, closing."""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import can
import pytest

from harness.canbus.database import SignalDatabase
from harness.exceptions import TraceError
from harness.trace.reader import (
    BadLines,
    decode_message,
    lookup_extended,
    read_trace,
    trace_format,
)

ROOT = Path(__file__).resolve().parents[2]
TRACE_DBC = ROOT / "tests" / "data" / "trace_test.dbc"

CORPUS_OUTCOMES: dict[str, int | type[TraceError]] = {
    "python-can/issue_1256.asc": 1457,
    "python-can/issue_1299.asc": 4,
    "python-can/issue_1905.blf": 22,
    "python-can/logfile.asc": 20,
    "python-can/logfile_errorframes.asc": 12,
    "python-can/single_frame.asc": 1,
    "python-can/single_frame_us_locale.asc": 1,
    "python-can/test_CanErrorFrameExt.blf": 2,
    "python-can/test_CanErrorFrames.asc": 4,
    "python-can/test_CanFdMessage.asc": 3,
    "python-can/test_CanFdMessage.blf": 2,
    "python-can/test_CanFdMessage64.asc": 2,
    "python-can/test_CanFdMessage64.blf": 2,
    "python-can/test_CanFdRemoteMessage.asc": 1,
    "python-can/test_CanMessage.asc": 2,
    "python-can/test_CanMessage.asc.gz": 2,
    "python-can/test_CanMessage.blf": 2,
    "python-can/test_CanMessage.trc": 2,
    "python-can/test_CanMessage2.blf": 2,
    "python-can/test_CanMessage_V1_0_BUS1.trc": 11,
    "python-can/test_CanMessage_V1_1.trc": 11,
    "python-can/test_CanMessage_V1_3.trc": 11,
    "python-can/test_CanMessage_V2_0_BUS1.trc": 11,
    "python-can/test_CanMessage_V2_1.trc": 11,
    "python-can/test_CanRemoteMessage.asc": 3,
}
"""Each corpus trace: the number of messages it reads as, or TraceError (none so far)."""


def read_error(path: Path, seconds: float = 30.0) -> TraceError:
    """The TraceError reading ``path`` raises; the test fails (not hangs) if reading does not end.

    Any other exception escapes the reading thread, so the assertion below fails too.
    """
    errors: list[TraceError] = []

    def read() -> None:
        try:
            list(read_trace(path))
        except TraceError as exc:
            errors.append(exc)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=seconds)
    assert not worker.is_alive(), f"still reading {path} after {seconds} s"
    assert errors, f"reading {path} raised no TraceError"
    error = errors[0]
    assert str(path) in str(error)
    assert "\n" not in str(error)
    return error


def classic(n: int, **kwargs: object) -> can.Message:
    """A classic 11-bit data frame (python-can's default is a 29-bit ID)."""
    fields: dict[str, Any] = {
        "timestamp": 1.0 + n * 0.01,
        "arbitration_id": 0x100 + n % 0x400,
        "is_extended_id": False,
        "data": bytes([n % 256] * 8),
        "channel": 0,
    }
    fields.update(kwargs)
    return can.Message(**fields)


def write_blf(path: Path, messages: list[can.Message], container: int = 128 * 1024) -> Path:
    writer = can.BLFWriter(path, max_container_size=container)
    for msg in messages:
        writer.on_message_received(msg)
    writer.stop()
    return path


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


# --- the shared corpus ---------------------------------------------------------------


def test_corpus_trace_reads_fully_or_raises_trace_error(corpus: Path, corpus_trace: str) -> None:
    path = corpus / "traces" / corpus_trace
    assert corpus_trace in CORPUS_OUTCOMES, f"new corpus trace {corpus_trace}: pin its outcome"
    expected = CORPUS_OUTCOMES[corpus_trace]
    if expected is TraceError:
        read_error(path)
        return
    messages = list(read_trace(path))
    assert len(messages) == expected
    with can.LogReader(path) as plain:  # nothing python-can reads goes missing
        assert len(list(plain)) == expected
    assert all(isinstance(m, can.Message) for m in messages)


# --- formats and file-level problems ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "suffix", "compressed"),
    [
        ("run.asc", ".asc", False),
        ("RUN.BLF", ".blf", False),
        ("run.2024-05-01.asc.gz", ".asc", True),
        ("candump-2024.log", ".log", False),
        ("a.b.trc", ".trc", False),
    ],
)
def test_format_comes_from_the_suffix(name: str, suffix: str, compressed: bool) -> None:
    fmt = trace_format(name)
    assert (fmt.suffix, fmt.compressed) == (suffix, compressed)


@pytest.mark.parametrize("name", ["trace.txt", "trace", "trace.gz", "trace.db.gz", "x.asc.zip"])
def test_unsupported_suffix_lists_the_supported_ones(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"whatever")
    with pytest.raises(TraceError, match="unsupported trace format") as info:
        read_trace(path)
    assert str(path) in str(info.value)
    for suffix in (".asc", ".blf", ".trc", ".log", ".csv", ".mf4", ".gz"):
        assert suffix in str(info.value)


def test_missing_file_fails_before_iteration(tmp_path: Path) -> None:
    path = tmp_path / "absent.blf"
    with pytest.raises(TraceError, match=r"absent\.blf: no such file"):
        read_trace(path)


def test_directory_is_not_a_trace(tmp_path: Path) -> None:
    path = tmp_path / "dir.asc"
    path.mkdir()
    with pytest.raises(TraceError, match="not a file"):
        read_trace(path)


@pytest.mark.parametrize("suffix", [".blf", ".asc", ".trc", ".log", ".csv", ".asc.gz", ".db"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(TraceError, match=r"empty file \(0 bytes\)") as info:
        read_trace(path)
    assert str(path) in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec("asammdf") is not None, reason="asammdf installed")
def test_mf4_without_asammdf_says_what_to_install(tmp_path: Path) -> None:
    path = tmp_path / "run.mf4"
    path.write_bytes(b"MDF     4.10    ")
    with pytest.raises(TraceError, match="asammdf"):
        read_trace(path)


# --- damaged BLF ------------------------------------------------------------------------


def test_blf_cut_in_half_names_file_byte_and_count(tmp_path: Path) -> None:
    full = write_blf(tmp_path / "full.blf", [classic(n) for n in range(200)], container=1024)
    cut = tmp_path / "cut.blf"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    error = read_error(cut)
    assert re.search(r"cut\.blf: byte \d+ \(after \d+ messages\): file ends", str(error))


def test_every_prefix_of_a_blf_file_is_refused(tmp_path: Path) -> None:
    """python-can alone reads most prefixes as shorter traces without a word."""
    data = write_blf(tmp_path / "full.blf", [classic(n) for n in range(12)], 200).read_bytes()
    cut = tmp_path / "cut.blf"
    for size in range(1, len(data)):
        cut.write_bytes(data[:size])
        with pytest.raises(TraceError):
            list(read_trace(cut))


def test_corpus_blf_cut_in_half(corpus: Path, tmp_path: Path) -> None:
    data = (corpus / "traces" / "python-can" / "test_CanMessage.blf").read_bytes()
    cut = tmp_path / "half.blf"
    cut.write_bytes(data[: len(data) // 2])
    read_error(cut)


@pytest.mark.parametrize("size", [10, 100, 4096, 100_000])
def test_random_bytes_named_blf(tmp_path: Path, size: int) -> None:
    path = tmp_path / "random.blf"
    path.write_bytes(os.urandom(size))
    assert "not a BLF file" in str(read_error(path))


def blf_with_container(tmp_path: Path, payload: bytes, method: int = 2) -> Path:
    """A BLF file whose one log container holds ``payload`` (objects, uncompressed)."""
    packed = zlib.compress(payload) if method == 2 else payload
    body = struct.pack("<H6xL4x", method, len(payload)) + packed
    container = struct.pack("<4sHHLL", b"LOBJ", 16, 1, 16 + len(body), 10) + body
    header = bytearray(144)
    struct.pack_into("<4sL", header, 0, b"LOGG", 144)
    path = tmp_path / "crafted.blf"
    path.write_bytes(bytes(header) + container + bytes(len(container) % 4))
    return path


def can_object(size: int) -> bytes:
    """A CAN_MESSAGE object with header version 1 whose header claims ``size`` bytes."""
    head = struct.pack("<4sHHLL", b"LOBJ", 32, 1, size, 1) + struct.pack("<LHHQ", 2, 0, 0, 0)
    return head + struct.pack("<HBBL8s", 1, 0, 8, 0x123, bytes(8))


def test_crafted_container_reads(tmp_path: Path) -> None:
    """The crafted-file helper makes a valid file, so the next tests damage only one thing."""
    path = blf_with_container(tmp_path, can_object(48))
    assert [m.arbitration_id for m in read_trace(path)] == [0x123]


def test_object_of_size_zero_does_not_hang(tmp_path: Path) -> None:
    """python-can stays on such an object forever, yielding it again and again."""
    path = blf_with_container(tmp_path, can_object(0))
    assert "object of size 0" in str(read_error(path))


def test_container_that_does_not_decompress(tmp_path: Path) -> None:
    path = blf_with_container(tmp_path, can_object(48))
    data = bytearray(path.read_bytes())
    data[144 + 32 + 4] ^= 0xFF  # inside the zlib stream
    path.write_bytes(bytes(data))
    assert re.search(
        r"byte 144 \(after 0 messages\): .*(decompress|cut short)", str(read_error(path))
    )


def test_unknown_compression_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    path = blf_with_container(tmp_path, can_object(48), method=7)
    assert "unknown compression method 7" in str(read_error(path))


# --- damaged text traces ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".asc", ".trc", ".csv"])
def test_random_bytes_named_as_text(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(b"\x00\x01garbage\xff\xfe" + os.urandom(4000))
    assert re.search(r": line \d+ .*binary data", str(read_error(path)))


@pytest.mark.parametrize(
    ("suffix", "content", "where"),
    [
        (".asc", "hello world\nthis is not asc\n", "line 1: no frames found"),
        (".asc", "// a comment\nhello\n", "line 2: no frames found"),
        (".csv", "not,the,header\n", "line 1: no frames found"),
        (".csv", "timestamp,arbitration_id,extended,remote,error,dlc,data\n1,2\n", "line 2 "),
        (".log", "hello world\n", "line 1, column 1 (after 0 messages): expected '(TIME)"),
        (".trc", "hello world\nnot trc\n", "line 1: no frames found"),
        (".trc", "hello world\nthis is not trc\n", "line 2 "),
        (".asc", "\n  \n\n", "no header and no frames"),
    ],
)
def test_text_that_is_not_the_format(tmp_path: Path, suffix: str, content: str, where: str) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_text(content)
    assert where in str(read_error(path))


@pytest.mark.parametrize(
    ("suffix", "content"),
    [
        (".asc", "date Sam Sep 30 15:06:13.191 2017\nbase hex  timestamps absolute\n"),
        (".trc", ";$FILEVERSION=1.1\n;$STARTTIME=44548.6028595139\n"),
        (".csv", "timestamp,arbitration_id,extended,remote,error,dlc,data\n"),
    ],
)
def test_header_without_frames_is_an_empty_trace(tmp_path: Path, suffix: str, content: str) -> None:
    path = tmp_path / f"quiet{suffix}"
    path.write_text(content)
    assert list(read_trace(path)) == []


@pytest.mark.parametrize(
    "header",
    ["date Sam Sep 30 15:06:13.191 2017\nbase hex  timestamps absolute\n", "// no header\n", ""],
)
def test_asc_without_events_line_keeps_its_first_frame(tmp_path: Path, header: str) -> None:
    """python-can alone drops the first frame of such a file."""
    path = tmp_path / "short_header.asc"
    path.write_text(header + "0.1 1 123 Rx d 2 11 22\n0.2 1 124 Rx d 1 33\n")
    assert [m.arbitration_id for m in read_trace(path)] == [0x123, 0x124]


def test_random_bytes_named_db(tmp_path: Path) -> None:
    path = tmp_path / "random.db"
    path.write_bytes(b"\x00garbage" * 200)
    assert "not a database" in str(read_error(path))


def test_bad_candump_line_names_line_and_messages_before(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_text("(0.0) vcan0 123#1122\n(0.1) vcan0 124#33\n(0.2) vcan0 12G#11\n")
    messages = read_trace(path)
    got = [next(messages).arbitration_id, next(messages).arbitration_id]
    with pytest.raises(
        TraceError,
        match=r"run\.log: line 3, column 13 \(after 2 messages\): expected a CAN ID.*'12G#11'",
    ):
        next(messages)
    assert got == [0x123, 0x124]  # what came before the bad line was delivered


def test_truncated_gzip(tmp_path: Path) -> None:
    lines = "".join(f"{n}.5 1 123 Rx d 2 11 22\n" for n in range(3000))
    data = gzip.compress(("date Sam Sep 30 15:06:13.191 2017\n" + lines).encode())
    path = tmp_path / "cut.asc.gz"
    path.write_bytes(data[: len(data) // 2])
    assert re.search(r"line \d+ \(after \d+ messages\): EOFError", str(read_error(path)))


def test_gzip_suffix_on_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.asc.gz"
    path.write_text("date Sam Sep 30 15:06:13.191 2017\n")
    assert "gzip" in str(read_error(path))


# --- round trips --------------------------------------------------------------------------


ROUND_TRIP = [".blf", ".asc", ".trc", ".log", ".csv", ".asc.gz", ".log.gz", ".csv.gz"]


@pytest.mark.parametrize("suffix", ROUND_TRIP)
def test_round_trip_through_python_can_writers(tmp_path: Path, suffix: str) -> None:
    sent = [
        classic(0),
        classic(1, arbitration_id=0x7FF, data=b"\x01\x02"),
        classic(2, arbitration_id=0x18FF0001, is_extended_id=True),
        classic(3, data=b""),
    ]
    path = tmp_path / f"trip{suffix}"
    with can.Logger(path) as logger:
        for msg in sent:
            logger.on_message_received(msg)
    got = list(read_trace(path))
    assert [(m.arbitration_id, m.is_extended_id, bytes(m.data)) for m in got] == [
        (m.arbitration_id, m.is_extended_id, bytes(m.data)) for m in sent
    ]
    assert [m.timestamp - got[0].timestamp for m in got] == pytest.approx([0, 0.01, 0.02, 0.03])


@pytest.mark.parametrize("writer", [can.BLFWriter, can.ASCWriter])
def test_round_trip_keeps_fd_remote_error_direction_channel(
    tmp_path: Path, writer: Callable[[Path], can.io.generic.MessageWriter]
) -> None:
    sent = [
        classic(0, channel=1, is_rx=False),
        classic(1, is_fd=True, bitrate_switch=True, data=bytes(range(64))),
        classic(2, is_remote_frame=True, data=b"", dlc=4),
        can.Message(timestamp=1.03, is_error_frame=True, channel=0),
    ]
    path = tmp_path / ("trip.blf" if writer is can.BLFWriter else "trip.asc")
    with writer(path) as out:
        for msg in sent:
            out.on_message_received(msg)
    got = list(read_trace(path))
    assert [(m.arbitration_id, bytes(m.data)) for m in got[:3]] == [
        (m.arbitration_id, bytes(m.data)) for m in sent[:3]
    ]
    assert [m.channel for m in got[:2]] == [1, 0]
    assert [m.is_rx for m in got[:2]] == [False, True]
    assert (got[1].is_fd, got[1].bitrate_switch) == (True, True)
    assert (got[2].is_remote_frame, got[2].dlc) == (True, 4)
    assert got[3].is_error_frame


# --- closing -------------------------------------------------------------------------------


@pytest.fixture
def many_formats(tmp_path: Path) -> dict[str, Path]:
    """The same 50 frames as BLF, ASC, gzip ASC and candump log."""
    paths = {}
    for suffix in (".blf", ".asc", ".asc.gz", ".log"):
        path = tmp_path / f"many{suffix}"
        with can.Logger(path) as logger:
            for n in range(50):
                logger.on_message_received(classic(n))
        paths[suffix] = path
    return paths


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc fds")


@linux_only
@pytest.mark.parametrize("suffix", [".blf", ".asc", ".asc.gz", ".log"])
def test_stopping_early_closes_the_file(many_formats: dict[str, Path], suffix: str) -> None:
    before = open_fds()
    messages = read_trace(many_formats[suffix])
    assert open_fds() == before  # nothing is opened until iteration starts
    next(messages)
    assert len(open_fds() - before) == 1
    messages.close()
    assert open_fds() == before


@linux_only
def test_dropping_the_generator_closes_the_file(many_formats: dict[str, Path]) -> None:
    before = open_fds()

    def first_three() -> list[can.Message]:
        out = []
        for msg in read_trace(many_formats[".blf"]):
            out.append(msg)
            if len(out) == 3:
                break
        return out

    assert len(first_three()) == 3
    assert open_fds() == before


@linux_only
def test_an_error_mid_file_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    path.write_text("(0.0) vcan0 123#11\n(0.1) vcan0 zzz#11\n")
    before = open_fds()
    with pytest.raises(TraceError):
        list(read_trace(path))
    assert open_fds() == before


@linux_only
def test_reading_to_the_end_closes_the_file(many_formats: dict[str, Path]) -> None:
    before = open_fds()
    with closing(read_trace(many_formats[".asc"])) as messages:
        assert len(list(messages)) == 50
    assert open_fds() == before


# --- decode_message ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trace_db() -> SignalDatabase:
    return SignalDatabase.load(TRACE_DBC)


def test_known_id_is_decoded_with_the_recorded_timestamp(trace_db: SignalDatabase) -> None:
    msg = classic(0, arbitration_id=0x110, data=bytes([1, 0xE2, 4, 3, 0, 0, 0, 0]), channel=2)
    frame = decode_message(msg, trace_db)
    assert frame.name == "DoorStatus"
    assert dict(frame.signals) == {"Locked": "UNLOCKED", "Speed": 12.5, "Counter": 3}
    assert (frame.timestamp, frame.channel, frame.decode_error) == (msg.timestamp, "2", None)


def test_extended_id_is_decoded(trace_db: SignalDatabase) -> None:
    msg = classic(
        0, arbitration_id=0x18FF0001, is_extended_id=True, data=bytes([0xD0, 4] + [0] * 6)
    )
    assert decode_message(msg, trace_db)["Voltage"] == pytest.approx(12.32)
    same_id_11_bit = classic(0, arbitration_id=0x001)
    assert decode_message(same_id_11_bit, trace_db).name is None


def test_unknown_id_stays_raw(trace_db: SignalDatabase) -> None:
    frame = decode_message(classic(0, arbitration_id=0x7FF), trace_db)
    assert (frame.name, dict(frame.signals), frame.data) == (None, {}, bytes(8))


def test_short_payload_keeps_bytes_and_says_why(trace_db: SignalDatabase) -> None:
    frame = decode_message(classic(0, arbitration_id=0x110, data=b"\x01\x02"), trace_db)
    assert frame.name == "DoorStatus"
    assert frame.data == b"\x01\x02"
    assert frame.decode_error
    assert "8" in frame.decode_error


def test_remote_and_error_frames(trace_db: SignalDatabase) -> None:
    remote = decode_message(
        classic(0, arbitration_id=0x200, is_remote_frame=True, data=b""), trace_db
    )
    assert (remote.name, dict(remote.signals), remote.is_remote) == ("Request", {}, True)
    error = decode_message(can.Message(is_error_frame=True, arbitration_id=0x110), trace_db)
    assert (error.name, error.is_error) == (None, True)


def test_without_database_and_with_a_channel_name() -> None:
    frame = decode_message(classic(0, channel=None), None, channel_name="body")
    assert (frame.name, frame.channel) == (None, "body")
    assert decode_message(classic(0, channel=None)).channel == ""


def frames_of(path: Path, db: SignalDatabase) -> Iterator[str]:
    for msg in read_trace(path):
        yield decode_message(msg, db).describe()


def test_a_trace_decodes_end_to_end(tmp_path: Path, trace_db: SignalDatabase) -> None:
    path = write_blf(
        tmp_path / "door.blf",
        [classic(0, arbitration_id=0x110, data=bytes([0, 0x10, 0x27, 5, 0, 0, 0, 0]))],
    )
    (line,) = frames_of(path, trace_db)
    assert "DoorStatus Locked=LOCKED Speed=100 Counter=5" in line


# --- the extended flag of an 11-bit ID written with 8 digits ---------------------------------


@pytest.mark.parametrize(
    ("frame_id", "extended", "defined", "looked_up_as_extended"),
    [
        (0x110, True, {(0x110, False)}, False),  # only an 11-bit message: taken as that
        (0x110, True, {(0x110, False), (0x110, True)}, True),  # a 29-bit one too: the flag stands
        (0x110, True, set(), True),  # nothing defines it: unknown as recorded
        (0x810, True, {(0x810, False)}, True),  # not an 11-bit ID
        (0x110, False, {(0x110, True)}, False),  # a standard frame is never widened
    ],
    ids=["standard-only", "both", "none", "above-0x7ff", "standard-frame"],
)
def test_lookup_extended_takes_a_padded_11_bit_id_only_where_nothing_else_fits(
    frame_id: int, extended: bool, defined: set[tuple[int, bool]], looked_up_as_extended: bool
) -> None:
    def defines(arbitration_id: int, is_extended: bool) -> bool:
        return (arbitration_id, is_extended) in defined

    assert lookup_extended(frame_id, extended, defines) is looked_up_as_extended


# --- malformed lines: line, column and what was expected -------------------------------------


@pytest.mark.parametrize(
    ("line", "column", "expected"),
    [
        ("(hi) can0 123#00", 1, "expected a time in parentheses"),
        ("(1.0) can0 12Z#00", 12, "expected a CAN ID of 1 to 8 hex digits"),
        ("(1.0) can0 123##Z00", 17, "expected one hex digit of CAN FD flags"),
        ("(1.0) can0 123#00112233445566778899", 16, "expected at most 8 data bytes in a classic"),
        ("(1.0) can0 123##1R", 18, "expected data (CAN FD has no remote frames)"),
        ("(1.0) can0 123##1001122334455667788", 18, "expected a CAN FD length"),
        ("(1.0) can0 123#0G", 16, "expected data bytes as hex digit pairs, found '0G'"),
        ("(1.0) can0 123#001", 18, "expected a second hex digit"),
        ("(1.0) can0 123#00 X", 19, "expected R or T"),
        ("(1.0) can0", 1, "expected '(TIME) CHANNEL ID#DATA'"),
    ],
    ids=[
        "time",
        "id",
        "fd-flags",
        "classic-9-bytes",
        "fd-remote",
        "fd-length",
        "hex",
        "odd",
        "direction",
        "fields",
    ],
)
def test_a_malformed_candump_line_names_line_column_and_what_belongs_there(
    tmp_path: Path, line: str, column: int, expected: str
) -> None:
    path = tmp_path / "bad.log"
    path.write_text(f"(0.5) can0 100#00\n{line}\n")
    error = str(read_error(path))
    assert f"bad.log: line 2, column {column} (after 1 message): {expected}" in error
    assert "could not convert" not in error
    assert "invalid literal" not in error


def test_candump_fd_flags_are_hex(tmp_path: Path) -> None:
    path = tmp_path / "fd.log"
    path.write_text("(1.0) can0 123##C0011\n(1.1) can0 124##30011\n")
    first, second = read_trace(path)
    assert first.is_fd
    assert not first.bitrate_switch
    assert not first.error_state_indicator
    assert second.bitrate_switch
    assert second.error_state_indicator


def test_a_malformed_asc_line_names_line_column_and_what_belongs_there(
    corpus: Path, tmp_path: Path
) -> None:
    lines = (corpus / "traces/python-can/logfile.asc").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if " 6F9 " in line)
    lines[at] = lines[at].replace("05 0C", "05 ZZ", 1)
    path = tmp_path / "bad.asc"
    path.write_text("\n".join(lines) + "\n")
    column = lines[at].index("ZZ") + 1
    error = str(read_error(path))
    assert f"bad.asc: line {at + 1}, column {column} (after " in error
    assert error.endswith("expected a hex number, found 'ZZ'")


@pytest.mark.parametrize("suffix", [".log", ".asc"])
def test_skip_bad_counts_bad_lines_and_reads_on(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"run{suffix}"
    if suffix == ".log":
        path.write_text("(1.0) can0 100#00\n(hi) can0 100#00\n(1.2) can0 100#0G\n(1.3) can0 101#\n")
    else:
        path.write_text(
            "date Thu Nov 26 10:00:00.000 am 2026\nbase hex  timestamps absolute\n"
            + "   1.0 1  100   Rx   d 1 00\n   1.1 1  100   Rx   d 1 ZZ\n"
            + "   1.2 1  100   Rx   d\n   1.3 1  101   Rx   d 0\n"
        )
    bad = BadLines()
    assert [m.arbitration_id for m in read_trace(path, skip_bad=bad)] == [0x100, 0x101]
    assert bad.count == 2
    assert bad.first.startswith("line ")


def test_skip_bad_is_refused_where_the_format_has_no_lines(tmp_path: Path) -> None:
    path = write_blf(tmp_path / "run.blf", [classic(0)])
    with pytest.raises(TraceError, match=r"skipping bad lines works for \.log and \.asc"):
        read_trace(path, skip_bad=BadLines())

"""The columnar engine against cantools and python-can: values, frames, failures, the CLI."""

from __future__ import annotations

import functools
import math
import re
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import can
import cantools
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness.canbus.database import SignalDatabase
from harness.cli import cli
from harness.exceptions import TraceError
from harness.trace.columnar import (
    LABEL_SUFFIX,
    DecodeStats,
    FrameChunk,
    MessageDecoder,
    decode_columns,
    read_frames,
    write_parquet,
)
from harness.trace.columnar.blf import BLFStats, _chained_starts, read_blf, write_blf
from harness.trace.reader import read_trace

ROOT = Path(__file__).resolve().parents[2]
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"
CORPUS = ROOT.parent / "shared" / "corpus"
CORPUS_DBCS = sorted((CORPUS / "dbc").glob("*/*.dbc"))
CORPUS_TRACES = CORPUS / "traces" / "python-can"
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared corpus is not at {CORPUS}"
)


def _load(path: Path) -> cantools.database.can.Database | None:
    try:
        db = cantools.database.load_file(str(path), strict=False)
    except Exception:  # noqa: BLE001 - broken on purpose: the test skips these
        return None
    return db if isinstance(db, cantools.database.can.Database) else None


DBC_FILES = [DEMO_DBC, *CORPUS_DBCS]


@functools.cache
def _decodable_messages(path: Path) -> list[Any]:
    db = _load(path)
    if db is None:
        return []
    return [m for m in db.messages if not m.is_container and m.length]


MESSAGES = [
    (f"{p.parent.name}/{p.name}:{m.name}", m) for p in DBC_FILES for m in _decodable_messages(p)
]


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(got, float):
        return got == expected or (math.isnan(got) and math.isnan(expected))
    return type(got) is type(expected) and got == expected


def _check_against_cantools(message: Any, payloads: list[bytes], **options: Any) -> int:
    """Decode ``payloads`` in bulk and frame by frame; return how many cantools decoded."""
    width = max([64, *(len(p) for p in payloads)])
    matrix = np.zeros((len(payloads), width), dtype=np.uint8)
    for i, p in enumerate(payloads):
        matrix[i, : len(p)] = np.frombuffer(p, dtype=np.uint8)
    lengths = np.array([len(p) for p in payloads])
    allow_truncated = options.get("allow_truncated", False)
    decoded = MessageDecoder(message, labels=True, **options).decode(matrix, lengths)
    columns = {name: column.to_pylist() for name, column in decoded.columns.items()}
    rows = decoded.rows.tolist()
    expected_rows = []
    for i, payload in enumerate(payloads):
        try:
            reference = message.decode(
                payload, decode_choices=False, scaling=True, allow_truncated=allow_truncated
            )
        except (cantools.database.DecodeError, ValueError):
            continue
        expected_rows.append((i, reference))
    assert rows == [i for i, _ in expected_rows], "decoded rows differ from cantools'"
    for row, (i, reference) in enumerate(expected_rows):
        for signal in message.signals:
            got, expected = columns[signal.name][row], reference.get(signal.name)
            assert _same(got, expected), (
                f"{message.name}.{signal.name} frame {i} ({payloads[i].hex()}): "
                + f"{got!r} != cantools {expected!r}"
            )
            if signal.name + LABEL_SUFFIX in columns:
                label = columns[signal.name + LABEL_SUFFIX][row]
                named = message.decode(payloads[i], allow_truncated=allow_truncated)
                choice = named.get(signal.name)
                assert label == (choice.name if hasattr(choice, "name") else None)
    return len(expected_rows)


def _payload_strategy(message: Any) -> st.SearchStrategy[bytes]:
    """Full-length payloads mostly, some short or long; low bytes often small (mux values)."""
    length = int(message.length)
    full = st.binary(min_size=length, max_size=length)
    small = st.lists(st.integers(0, 7), min_size=length, max_size=length).map(bytes)
    odd = st.binary(min_size=0, max_size=64)
    return st.one_of(full, full, small, odd)


@pytest.mark.parametrize("path", DBC_FILES, ids=[f"{p.parent.name}/{p.name}" for p in DBC_FILES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_payloads_equal_cantools(path: Path, data: st.DataObject) -> None:
    """Property: for any message of any corpus DBC, any payloads decode as cantools does."""
    messages = _decodable_messages(path)
    if not messages:
        pytest.skip(f"cantools cannot load {path.name} (broken on purpose)")
    message = data.draw(st.sampled_from(messages))
    payloads = data.draw(st.lists(_payload_strategy(message), min_size=1, max_size=30))
    _check_against_cantools(message, payloads)
    _check_against_cantools(message, payloads, allow_truncated=True)


@pytest.mark.parametrize("path", DBC_FILES, ids=[f"{p.parent.name}/{p.name}" for p in DBC_FILES])
def test_every_message_equals_cantools(path: Path) -> None:
    """Every message of every loadable DBC, on seeded random payloads (short ones too)."""
    messages = _decodable_messages(path)
    if not messages:
        pytest.skip(f"cantools cannot load {path.name} (broken on purpose)")
    rng = np.random.default_rng(0)
    for message in messages:
        length = int(message.length)
        payloads = [rng.integers(0, 256, length, dtype=np.uint8).tobytes() for _ in range(8)]
        payloads += [bytes(rng.integers(0, 4, length, dtype=np.uint8)) for _ in range(8)]
        payloads += [rng.integers(0, 256, max(length - 1, 0), dtype=np.uint8).tobytes()]
        _check_against_cantools(message, payloads)
        _check_against_cantools(message, payloads, allow_truncated=True)


def _message(path: str, name: str) -> Any:
    db = _load(CORPUS / "dbc" / path)
    if db is None:
        pytest.skip(f"{path} is not in the corpus")
    return db.get_message_by_name(name)


def _kinds() -> dict[str, Any]:
    """One message per kind of signal the engine must get right, from the corpus."""
    kinds = {}
    for _, message in MESSAGES:
        signals = message.signals
        if "big_endian" not in kinds and any(s.byte_order == "big_endian" for s in signals):
            kinds["big_endian"] = message
        if "signed" not in kinds and any(s.is_signed for s in signals):
            kinds["signed"] = message
        if "float" not in kinds and any(s.is_float for s in signals):
            kinds["float"] = message
        if "multiplexed" not in kinds and message.is_multiplexed():
            kinds["multiplexed"] = message
        cascaded = any(s.is_multiplexer and s.multiplexer_signal for s in signals)
        if "extended_mux" not in kinds and cascaded:
            kinds["extended_mux"] = message
        if "fd" not in kinds and message.length > 8:
            kinds["fd"] = message
        if "value_table" not in kinds and any(s.choices for s in signals):
            kinds["value_table"] = message
    return kinds


KINDS = _kinds()


@needs_corpus
@pytest.mark.parametrize(
    "kind", ["big_endian", "signed", "float", "multiplexed", "extended_mux", "fd", "value_table"]
)
def test_corpus_has_and_engine_decodes(kind: str) -> None:
    """Each kind is present in the corpus and decodes equal to cantools on many payloads."""
    message = KINDS.get(kind)
    assert message is not None, f"no {kind} message in the corpus DBCs"
    rng = np.random.default_rng(15)
    payloads = [rng.integers(0, 256, message.length, dtype=np.uint8).tobytes() for _ in range(300)]
    payloads += [bytes(rng.integers(0, 4, message.length, dtype=np.uint8)) for _ in range(300)]
    assert _check_against_cantools(message, payloads) > 0


@needs_corpus
def test_cascaded_multiplexing_nulls_the_unselected_branch() -> None:
    message = _message("cantools/multiplex_2.dbc", "Extended")
    rng = np.random.default_rng(2)
    payloads = [bytes(rng.integers(0, 8, message.length, dtype=np.uint8)) for _ in range(500)]
    decoded = _check_against_cantools(message, payloads)
    assert 0 < decoded < 500  # some mux values select no branch: cantools refuses those


def test_value_table_labels_are_dictionary_strings() -> None:
    message = cantools.database.load_file(str(DEMO_DBC)).get_message_by_name("BCM_Lights")
    assert any(s.choices for s in message.signals) or pytest.skip("no value table")
    matrix = np.zeros((3, 8), dtype=np.uint8)
    matrix[:, 0] = [0, 8, 24]
    columns = MessageDecoder(message, labels=True).decode(matrix, np.full(3, 8)).columns
    labelled = [name for name in columns if name.endswith(LABEL_SUFFIX)]
    assert labelled
    assert pa.types.is_dictionary(columns[labelled[0]].type)


def test_integer_and_float_columns_follow_cantools_types() -> None:
    db = cantools.database.load_file(str(DEMO_DBC))
    engine = db.get_message_by_name("ECM_EngineData")
    types = {f.name: f.type for f in MessageDecoder(engine).schema_fields()}
    assert types["EngineSpeed"] == pa.float64()  # scale 0.25
    assert types["CoolantTemp"] == pa.int64()  # scale 1, offset -40: cantools gives int


# --- readers -----------------------------------------------------------------------


def _key(msg: can.Message) -> tuple[Any, ...]:
    return (
        msg.timestamp,
        msg.arbitration_id,
        msg.is_extended_id,
        msg.is_remote_frame,
        msg.is_error_frame,
        msg.is_fd,
        msg.bitrate_switch,
        msg.error_state_indicator,
        msg.is_rx,
        msg.dlc,
        bytes(msg.data),
        "" if msg.channel is None else str(msg.channel),
    )


CORPUS_FILES = sorted(CORPUS_TRACES.glob("*.*")) if CORPUS_TRACES.is_dir() else []


@needs_corpus
@pytest.mark.parametrize(
    "path",
    [p for p in CORPUS_FILES if p.suffix != ".txt"],
    ids=[p.name for p in CORPUS_FILES if p.suffix != ".txt"],
)
def test_real_traces_read_as_python_can_reads_them(path: Path) -> None:
    expected = [_key(m) for m in read_trace(path)]
    got = [_key(m) for chunk in read_frames(path) for m in chunk.to_messages()]
    assert got == expected


@needs_corpus
def test_blf_counts_objects_it_skips() -> None:
    stats = BLFStats()
    frames = sum(len(c) for c in read_blf(CORPUS_TRACES / "test_CanMessage.blf", stats=stats))
    assert frames == 2
    assert sum(stats.skipped.values()) > 0  # app-text objects (115) in Vector's files


def _chunk(count: int, *, fd_every: int = 0, seed: int = 0) -> FrameChunk:
    rng = np.random.default_rng(seed)
    index = np.arange(count)
    fd = (index % fd_every == 0) if fd_every else np.zeros(count, dtype=bool)
    length = np.where(fd, 64, 8).astype(np.int16)
    data = rng.integers(0, 256, (count, 64), dtype=np.uint8)
    data[np.arange(64) >= length[:, None]] = 0
    ids = rng.choice(np.array([0x100, 0x120, 0x1ABCDE0], dtype=np.uint32), count)
    return FrameChunk(
        timestamp=1_700_000_000.0 + index * 1e-4,
        channel=(index % 2).astype(np.int32),
        channels=["0", "1"],
        is_rx=index % 3 != 0,
        arbitration_id=ids,
        is_extended_id=ids > 0x7FF,
        is_remote_frame=np.zeros(count, dtype=bool),
        is_error_frame=np.zeros(count, dtype=bool),
        is_fd=fd,
        bitrate_switch=fd & (index % 2 == 0),
        error_state_indicator=np.zeros(count, dtype=bool),
        dlc=length.copy(),
        length=length,
        data=data,
    )


def test_bulk_blf_writer_and_reader_agree_with_python_can(tmp_path: Path) -> None:
    path = tmp_path / "mixed.blf"
    write_blf(path, [_chunk(5000, fd_every=7), _chunk(3000, seed=1)], container_size=4096)
    expected = [_key(m) for m in can.BLFReader(str(path))]
    stats = BLFStats()
    got = [
        _key(m) for c in read_blf(path, chunk_bytes=50_000, stats=stats) for m in c.to_messages()
    ]
    assert len(expected) == 8000
    assert got == expected


def test_blf_payload_holding_a_signature_falls_back_to_the_walk(tmp_path: Path) -> None:
    chunk = _chunk(50)
    chunk.data[10, :4] = np.frombuffer(b"LOBJ", dtype=np.uint8)
    path = tmp_path / "lobj.blf"
    write_blf(path, [chunk])
    expected = [_key(m) for m in can.BLFReader(str(path))]
    assert [_key(m) for c in read_blf(path) for m in c.to_messages()] == expected


def test_objects_off_word_boundaries_are_found_by_the_byte_scan() -> None:
    def objects(count: int, pad: bytes) -> bytes:
        one = bytearray(48)
        one[0:4] = b"LOBJ"
        one[4:8] = (32).to_bytes(2, "little") + (1).to_bytes(2, "little")
        one[8:12] = (48).to_bytes(4, "little")
        one[12:16] = (1).to_bytes(4, "little")  # CAN_MESSAGE
        return pad.join([bytes(one)] * count)

    for pad in (b"", b"\x00\x00", b"\x00\x00\x00"):  # aligned; off by 2, by 3
        raw = np.frombuffer(objects(5, pad), dtype=np.uint8)
        found = _chained_starts(raw)
        assert found is not None
        assert found[0].tolist() == [i * (48 + len(pad)) for i in range(5)]
    padded_with_a_signature = np.frombuffer(objects(2, b"LOBJ"), dtype=np.uint8)
    assert _chained_starts(padded_with_a_signature) is None  # python-can's walk decides


def test_stopping_early_leaves_no_reader_running(tmp_path: Path) -> None:
    path = tmp_path / "many.blf"
    write_blf(path, [_chunk(20000)], container_size=8192)
    chunks = read_blf(path, chunk_bytes=20_000)
    first = next(chunks)
    chunks.close()  # the read-ahead thread is done and the file closed, without error
    assert 0 < len(first) < 20000
    assert not [t for t in threading.enumerate() if t.name.startswith("blf-read")]


def _collect(chunks: Any, into: list[can.Message]) -> None:
    """Gather frames until the reader raises: what it yielded first stays in ``into``."""
    for chunk in chunks:
        into.extend(chunk.to_messages())


def test_truncated_blf_raises_after_yielding_what_came_before(tmp_path: Path) -> None:
    whole = tmp_path / "whole.blf"
    write_blf(whole, [_chunk(20000)], container_size=8192)
    cut = tmp_path / "cut.blf"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    got: list[can.Message] = []
    with pytest.raises(TraceError, match=r"cut\.blf: byte \d+ \(after \d+ messages\): file ends"):
        _collect(read_blf(cut, chunk_bytes=20_000), got)
    reference = [_key(m) for m in can.BLFReader(str(whole))]
    assert 0 < len(got) < 20000
    assert [_key(m) for m in got] == reference[: len(got)]


def test_corrupt_container_names_its_byte(tmp_path: Path) -> None:
    path = tmp_path / "bad.blf"
    write_blf(path, [_chunk(4000)], container_size=8192)
    raw = bytearray(path.read_bytes())
    second = raw.find(b"LOBJ", raw.find(b"LOBJ", 144) + 16)
    raw[second + 32 : second + 40] = b"\xff" * 8  # inside the zlib stream
    path.write_bytes(bytes(raw))
    with pytest.raises(TraceError, match=rf"bad\.blf: byte {second} .*(decompress|cut short)"):
        list(read_blf(path))


def test_zero_size_object_inside_a_container_is_an_error(tmp_path: Path) -> None:
    objects = _chunk(3)
    path = tmp_path / "zero.blf"
    write_blf(path, [objects], compression_level=0)
    raw = bytearray(path.read_bytes())
    inner = raw.find(b"LOBJ", raw.find(b"LOBJ", 144) + 4)
    raw[inner + 8 : inner + 12] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(TraceError, match="object of size 0"):
        list(read_blf(path))


def test_not_a_blf_file(tmp_path: Path) -> None:
    path = tmp_path / "x.blf"
    path.write_bytes(b"LOGX" + bytes(200))
    with pytest.raises(TraceError, match="no 'LOGG' signature"):
        list(read_frames(path))


CANDUMP = """\
(1436509052.249713) vcan0 044#2A366C2BBA
(1436509052.449847) vcan0 0F6#7ADFE07BD2 T
(1436509052.650004) vcan1 0BA#6D97A4F4F6

(1436509053.1) vcan0 12345678#0011223344556677 R
(1436509053.2) can1 123##1AABBCCDDEEFF001122334455
(1436509053.25) can1 124##C00
(1436509053.3) 0 100#R
(1436509053.4) 0 100#R5
(1436509053.5) vcan0 20000080#0000000000000000
"""


def test_candump_reads_as_python_can_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_text(CANDUMP)
    expected = [_key(m) for m in read_trace(path)]
    assert [_key(m) for c in read_frames(path) for m in c.to_messages()] == expected


def test_candump_bad_line_names_it_and_keeps_what_came_before(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    lines = CANDUMP.splitlines()
    path.write_text("\n".join([*lines[:3], "(1436509052.9) vcan0 zz#00", *lines[3:]]) + "\n")
    got: list[can.Message] = []
    with pytest.raises(TraceError, match=r"bad\.log: line 4, column 22: expected a CAN ID"):
        _collect(read_frames(path), got)
    assert [m.arbitration_id for m in got] == [0x044, 0x0F6, 0x0BA]


_HEX = "0123456789abcdefABCDEF"
_PAYLOAD_BYTES = st.sampled_from([*range(10), 12, 16, 20, 24, 32, 48, 64])


@st.composite
def _candump_line(draw: st.DrawFn) -> str:
    """A candump line, mostly in candump's own layout, sometimes padded, remote or broken."""
    seconds = draw(st.integers(0, 10**10))
    fraction = draw(st.text("0123456789", max_size=9))
    stamp = f"{seconds}.{fraction}" if draw(st.booleans()) else str(seconds)
    channel = draw(st.sampled_from(["can0", "vcan1", "0", "07", "any", "k\u00e4n", "x" * 9]))
    can_id = draw(st.text(_HEX, min_size=1, max_size=9))
    flags = draw(st.sampled_from(["", "", "#0", "#1", "#F", "#g", "#"]))
    payload = draw(st.sampled_from(["hex", "hex", "R", "r3", "R9"]))
    if payload == "hex":
        payload = draw(st.text(_HEX, min_size=2 * draw(_PAYLOAD_BYTES), max_size=130))
        payload = payload[: len(payload) - (len(payload) % 2) * draw(st.sampled_from([1, 1, 0]))]
    gap = draw(st.sampled_from([" ", " ", " ", "  ", "\t"]))
    tail = draw(st.sampled_from(["", "", " R", " T", " t", " X", "  ", "\r", " T\r"]))
    lead = draw(st.sampled_from(["", "", "", " "]))
    if draw(st.integers(0, 20)) == 0:
        return draw(st.sampled_from(["", "   ", "garbage", "(1.5)"]))
    return f"{lead}({stamp}){gap}{channel}{gap}{can_id}#{flags}{payload}{tail}"


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(_candump_line(), min_size=1, max_size=12))
def test_candump_bulk_parser_equals_the_per_line_reader(tmp_path: Path, lines: list[str]) -> None:
    assume(any(line.strip() for line in lines))  # read_trace refuses a file of blank lines
    path = tmp_path / "random.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected: list[tuple[Any, ...]] = []
    error = None
    try:
        expected.extend(_key(m) for m in read_trace(path))
    except TraceError as exc:
        error = re.sub(r" \(after \d+ messages?\)", "", str(exc))
    got: list[can.Message] = []
    if error is None:
        _collect(read_frames(path), got)
    else:
        with pytest.raises(TraceError) as raised:
            _collect(read_frames(path), got)
        assert str(raised.value) == error
    assert [_key(m) for m in got] == expected


def test_other_formats_come_through_python_can_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "run.asc"
    with can.ASCWriter(str(path)) as writer:
        for i in range(10):
            writer.on_message_received(
                can.Message(timestamp=1.0 + i, arbitration_id=0x100, data=bytes([i] * 8))
            )
    expected = [_key(m) for m in read_trace(path)]
    assert [_key(m) for c in read_frames(path, chunk_frames=3) for m in c.to_messages()] == (
        expected
    )


# --- the engine, the Parquet writer and the CLI ------------------------------------------


def _demo_trace(path: Path, frames: int, *, seed: int = 0) -> Path:
    """A BLF of demo-DBC messages with varying payloads (valid multiplexer values)."""
    db = cantools.database.load_file(str(DEMO_DBC))
    messages = db.messages
    ids = np.array([m.frame_id for m in messages], dtype=np.uint32)
    lengths = np.array([m.length for m in messages], dtype=np.int16)
    rng = np.random.default_rng(seed)

    def chunks() -> Any:
        step = 250_000
        for begin in range(0, frames, step):
            index = np.arange(begin, min(frames, begin + step))
            which = index % len(messages)
            count = len(index)
            length = lengths[which]
            data = rng.integers(0, 256, (count, 64), dtype=np.uint8)
            data[:, 0] %= 3  # TCU_Telemetry's InfoType: a branch for each of 0..2
            data[np.arange(64) >= length[:, None]] = 0
            yield FrameChunk(
                timestamp=1_700_000_000.0 + index * 1e-4,
                channel=(index % 2).astype(np.int32),
                channels=["0", "1"],
                is_rx=index % 3 != 0,
                arbitration_id=ids[which],
                is_extended_id=ids[which] > 0x7FF,
                is_remote_frame=np.zeros(count, dtype=bool),
                is_error_frame=np.zeros(count, dtype=bool),
                is_fd=length > 8,
                bitrate_switch=np.zeros(count, dtype=bool),
                error_state_indicator=np.zeros(count, dtype=bool),
                dlc=length,
                length=length,
                data=data,
            )

    write_blf(path, chunks(), compression_level=1)
    return path


def test_decode_columns_equals_cantools_frame_by_frame(tmp_path: Path) -> None:
    trace = _demo_trace(tmp_path / "demo.blf", 3000)
    db = SignalDatabase.load(DEMO_DBC)
    stats = DecodeStats()
    tables = decode_columns(trace, [db], stats=stats)
    rows = {name: table.to_pylist() for name, table in tables.items()}
    seen: dict[str, int] = {}
    for msg in read_trace(trace):
        definition = db.message_for(msg.arbitration_id, msg.is_extended_id)
        assert definition is not None
        try:
            expected = db.cantools.decode_message(
                msg.arbitration_id, bytes(msg.data), decode_choices=False
            )
        except cantools.database.DecodeError:
            continue
        row = rows[definition.name][seen.setdefault(definition.name, 0)]
        seen[definition.name] += 1
        assert row["timestamp"] == msg.timestamp
        assert row["channel"] == str(msg.channel)
        assert row["direction"] == ("rx" if msg.is_rx else "tx")
        assert row["arbitration_id"] == msg.arbitration_id
        for signal in definition.signals:
            assert _same(row[signal.name], expected.get(signal.name)), signal.name
    assert sum(seen.values()) == stats.decoded
    assert stats.frames == 3000


def test_filters_narrow_messages_and_signals(tmp_path: Path) -> None:
    trace = _demo_trace(tmp_path / "demo.blf", 2000)
    db = SignalDatabase.load(DEMO_DBC)
    engine = db.message("ECM_EngineData")
    tables = decode_columns(trace, [db], ids=[engine.frame_id], signals=["EngineSpeed"])
    assert list(tables) == ["ECM_EngineData"]
    assert tables["ECM_EngineData"].column_names == [
        "timestamp", "channel", "direction", "arbitration_id", "EngineSpeed",
    ]  # fmt: skip
    assert list(decode_columns(trace, [db], messages=["BCM_Lights"])) == ["BCM_Lights"]


def test_parquet_written_before_a_damaged_part_is_readable(tmp_path: Path) -> None:
    whole = _demo_trace(tmp_path / "demo.blf", 30000)
    cut = tmp_path / "cut.blf"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(TraceError, match="cut.blf"):
        write_parquet(cut, [SignalDatabase.load(DEMO_DBC)], tmp_path / "out")
    written = list((tmp_path / "out").glob("*/part-0.parquet"))
    assert written
    assert all(pq.read_table(p).num_rows >= 0 for p in written)


def test_million_frames_through_the_cli_to_parquet(tmp_path: Path) -> None:
    trace = _demo_trace(tmp_path / "million.blf", 1_000_000, seed=7)
    out = tmp_path / "parquet"
    result = CliRunner().invoke(
        cli, ["decode", str(trace), "--dbc", str(DEMO_DBC), "--to", "parquet", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "1000000 frames: 1000000 decoded" in result.output
    db = SignalDatabase.load(DEMO_DBC)
    sample = np.random.default_rng(1).choice(1_000_000, 300, replace=False)
    wanted = set(sample.tolist())
    picked: list[can.Message] = []
    per_message: dict[str, int] = {}
    position: dict[int, tuple[str, int]] = {}
    for chunk in read_blf(trace):  # python-can gives the same frames (tested above), faster here
        for i in range(len(chunk)):
            name = db.message_for(int(chunk.arbitration_id[i]), bool(chunk.is_extended_id[i]))
            assert name is not None
            n = per_message.get(name.name, 0)
            per_message[name.name] = n + 1
            frame_no = len(position)
            position[frame_no] = (name.name, n)
            if frame_no in wanted:
                picked.append(next(iter(chunk_slice(chunk, i).to_messages())))
    tables = {p.parent.name: pq.read_table(p) for p in out.glob("*/part-0.parquet")}
    assert sum(t.num_rows for t in tables.values()) == 1_000_000
    readers = [_pyarrow_row(tables), _polars_row(out), _duckdb_row(out)]
    frames_in_order = sorted(wanted)
    for frame_no, msg in zip(frames_in_order, picked, strict=True):
        name, row = position[frame_no]
        expected = db.cantools.decode_message(msg.arbitration_id, bytes(msg.data), False)
        for read_row in readers:  # every engine reads the dataset as it is, values as cantools'
            got = read_row(name, row)
            assert got["timestamp"] == msg.timestamp
            for signal, value in expected.items():
                assert _same(got[signal], value), (read_row, name, signal)


def chunk_slice(chunk: FrameChunk, i: int) -> FrameChunk:
    return FrameChunk(
        **{
            field: (getattr(chunk, field)[i : i + 1] if field not in {"channels", "has_direction"}
                    else getattr(chunk, field))
            for field in FrameChunk.__slots__
        }
    )  # fmt: skip


RowReader = Callable[[str, int], dict[str, Any]]
"""Message name, row number -> that row of the message's table as a dict."""


def _pyarrow_row(tables: dict[str, Any]) -> RowReader:
    return lambda name, row: tables[name].slice(row, 1).to_pylist()[0]


def _polars_row(out: Path) -> RowReader:
    pl = pytest.importorskip("polars", reason="polars reads the dataset (pip install polars)")
    frames = {p.parent.name: pl.read_parquet(p) for p in out.glob("*/part-0.parquet")}
    return lambda name, row: frames[name].row(row, named=True)


def _duckdb_row(out: Path) -> RowReader:
    duckdb = pytest.importorskip("duckdb", reason="DuckDB reads the dataset (pip install duckdb)")

    def read(name: str, row: int) -> dict[str, Any]:
        query = f"SELECT * FROM read_parquet('{out}/{name}/*.parquet') LIMIT 1 OFFSET {row}"
        relation = duckdb.sql(query)
        (values,) = relation.fetchall()
        return dict(zip(relation.columns, values, strict=True))

    return read


def test_cli_filters_and_errors(tmp_path: Path) -> None:
    trace = _demo_trace(tmp_path / "demo.blf", 500)
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["decode", str(trace), "--dbc", str(DEMO_DBC), "--to", "parquet", str(out)]
    result = runner.invoke(cli, [*args, "--message", "ECM_EngineData", "--signal", "EngineSpeed"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == ["ECM_EngineData"]
    assert pq.read_table(out / "ECM_EngineData").column_names[-1] == "EngineSpeed"
    result = runner.invoke(cli, [*args, "--message", "ECM_EngineDta"])
    assert result.exit_code == 2
    assert "did you mean 'ECM_EngineData'" in result.output
    result = runner.invoke(cli, ["decode", str(trace), "--message", "ECM_EngineData"])
    assert result.exit_code == 2
    assert "go with --to parquet DIR" in result.output


def test_uncompressed_container_method_zero(tmp_path: Path) -> None:
    path = tmp_path / "plain.blf"
    write_blf(path, [_chunk(100)], compression_level=0)
    assert [_key(m) for c in read_blf(path) for m in c.to_messages()] == [
        _key(m) for m in can.BLFReader(str(path))
    ]
    assert zlib  # the compressed path is the default, exercised everywhere else

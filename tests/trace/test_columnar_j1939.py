"""The columnar engine on J1939: frames match by PGN from any source address and
priority, exactly as the per-frame decoder (``SignalDatabase.message_for``) decides."""

from __future__ import annotations

import math
from pathlib import Path

import can
import cantools
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.canbus.database import SignalDatabase
from harness.canbus.saej1939.addressing import build_id, is_pdu1, parse_id, pgn_of
from harness.trace.columnar import J1939_COLUMNS, ColumnarDecoder, DecodeStats, decode_columns
from harness.trace.columnar.frames import ChannelNames, chunk_from_messages

TRUCK = Path(__file__).resolve().parents[2] / "dbc" / "j1939_truck.dbc"
DB = SignalDatabase.load(TRUCK)
J1939_MESSAGES = [m for m in DB.messages if DB.is_j1939_message(m)]
DEMO = Path(__file__).resolve().parents[2] / "dbc" / "demo_vehicle.dbc"


@st.composite
def j1939_frames(draw: st.DrawFn) -> can.Message:
    message = draw(st.sampled_from(J1939_MESSAGES))
    pgn = pgn_of(message.frame_id)
    destination = draw(st.integers(0, 255)) if is_pdu1(pgn) else 255
    can_id = build_id(
        pgn,
        source=draw(st.integers(0, 255)),
        destination=destination,
        priority=draw(st.integers(0, 7)),
    )
    if draw(st.booleans()):  # now and then an ID no J1939 message has
        can_id ^= draw(st.sampled_from([0x1 << 16, 0x1 << 24, 0x2 << 16]))
    data = draw(st.binary(min_size=message.length, max_size=message.length))
    return can.Message(arbitration_id=can_id, data=data, is_extended_id=True, timestamp=1.0)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=0, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return a == b


@settings(max_examples=60, deadline=None)
@given(st.lists(j1939_frames(), min_size=1, max_size=40))
def test_pgn_matching_equals_the_per_frame_decoder(messages: list[can.Message]) -> None:
    decoder = ColumnarDecoder([DB])
    stats = DecodeStats()
    tables = decoder.decode(chunk_from_messages(messages, ChannelNames()), stats)
    expected: dict[str, list[can.Message]] = {}
    for message in messages:
        definition = DB.message_for(message.arbitration_id, True)
        if definition is not None:
            expected.setdefault(definition.name, []).append(message)
    assert sorted(tables) == sorted(expected)
    assert stats.unknown == len(messages) - sum(map(len, expected.values()))
    for name, sent in expected.items():
        rows = tables[name].to_pylist()
        assert len(rows) == len(sent)
        definition = DB.message(name)
        for row, message in zip(rows, sent, strict=True):
            ident = parse_id(message.arbitration_id)
            fields = (ident.priority, ident.pgn, ident.source, ident.destination)
            assert tuple(row[c] for c in J1939_COLUMNS) == fields
            want = definition.decode(bytes(message.data), decode_choices=False, scaling=True)
            assert isinstance(want, dict)
            for signal, value in want.items():
                assert _same(row[signal], value), (name, signal, row[signal], value)


def test_a_trace_from_several_sources_decodes_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "truck.asc"
    eec1 = bytes([0, 125, 140, 0x40, 0x1F, 0, 0, 125])
    with can.ASCWriter(str(path)) as writer:
        for n, (sa, prio) in enumerate([(0x00, 3), (0x01, 3), (0x17, 2), (0x21, 6), (0x00, 7)]):
            writer.on_message_received(
                can.Message(
                    timestamp=100.0 + n / 100,
                    arbitration_id=build_id(61444, source=sa, priority=prio),
                    data=eec1,
                    is_extended_id=True,
                )
            )
    stats = DecodeStats()
    table = decode_columns(path, [DB], stats=stats)["EEC1"]
    assert stats.unknown == 0
    assert table.column("source_address").to_pylist() == [0x00, 0x01, 0x17, 0x21, 0x00]
    assert table.column("priority").to_pylist() == [3, 3, 2, 6, 7]
    assert table.column("EngSpeed").to_pylist() == [1000.0] * 5
    plain = cantools.database.load_file(str(TRUCK))  # not wrapped: J1939 all the same
    assert isinstance(plain, cantools.database.can.Database)
    assert decode_columns(path, [plain])["EEC1"].num_rows == 5


def test_a_database_that_is_not_j1939_still_matches_exact_ids_only() -> None:
    demo = SignalDatabase.load(DEMO)
    extended = [m for m in demo.messages if m.is_extended_frame]
    decoder = ColumnarDecoder([demo])
    assert "priority" not in decoder.schema(demo.messages[0].name).names
    if extended:  # an extended ID one source address off is unknown
        other = can.Message(
            arbitration_id=extended[0].frame_id ^ 1,
            data=bytes(extended[0].length),
            is_extended_id=True,
        )
        stats = DecodeStats()
        assert decoder.decode(chunk_from_messages([other], ChannelNames()), stats) == {}
        assert stats.unknown == 1

"""J1939 databases: PGN matching from any source address and priority, and how a
database says it is J1939."""

from __future__ import annotations

from pathlib import Path

import cantools
import pytest

from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase

ROOT = Path(__file__).resolve().parents[2]
TRUCK = ROOT / "dbc" / "j1939_truck.dbc"
DEMO = ROOT / "dbc" / "demo_vehicle.dbc"


@pytest.fixture(scope="module")
def truck() -> SignalDatabase:
    return SignalDatabase.load(TRUCK)


@pytest.mark.parametrize("can_id", [0x0CF00400, 0x0CF00417, 0x08F00400, 0x1CF004FE])
def test_eec1_decodes_from_any_source_and_priority(truck: SignalDatabase, can_id: int) -> None:
    data = bytes([0, 125, 140, 0x40, 0x1F, 0, 0, 125])
    name, signals, error = truck.decode_payload(can_id, True, data)
    assert (name, error) == ("EEC1", None)
    assert signals["EngSpeed"] == 1000.0


def test_pdu1_message_matches_to_any_destination(truck: SignalDatabase) -> None:
    definition = truck.message_for(0x18EA00F9, True)
    assert definition is not None
    assert definition.name == "RQST"


def test_unknown_pgn_and_standard_ids_stay_unknown(truck: SignalDatabase) -> None:
    assert truck.message_for(0x18FF0000, True) is None
    assert truck.message_for(0x400, False) is None


def test_a_database_is_j1939_by_protocol_type_or_by_the_bench() -> None:
    assert SignalDatabase.load(TRUCK).is_j1939
    demo = SignalDatabase.load(DEMO)
    assert not demo.is_j1939
    extended = [m for m in demo.messages if m.is_extended_frame]
    forced = SignalDatabase.load(DEMO, j1939=True)
    assert forced.is_j1939
    probe = extended[0].frame_id ^ 0x7F  # another source address
    assert (forced.message_for(probe, True) or extended[0]).name == extended[0].name
    assert demo.message_for(probe, True) is None


def test_vframeformat_alone_marks_a_message_j1939() -> None:
    text = TRUCK.read_text().replace('BA_ "ProtocolType" "J1939";\n', "")
    loaded = cantools.database.load_string(text, database_format="dbc")
    assert isinstance(loaded, cantools.database.can.Database)
    db = SignalDatabase(loaded)
    assert db.is_j1939
    assert db.message_for(0x18FEEE17, True) is not None


def test_received_frames_carry_priority_pgn_and_addresses(truck: SignalDatabase) -> None:
    import can

    from harness.canbus.channel import decode_frame

    msg = can.Message(arbitration_id=0x18EA00F9, data=b"\xca\xfe\x00", is_extended_id=True)
    frame = decode_frame(msg, truck, "truck", 0.0)
    assert frame.name == "RQST"
    assert (frame.priority, frame.pgn, frame.source_address, frame.destination_address) == (
        6,
        59904,
        0xF9,
        0x00,
    )
    assert "SA=0xF9 DA=0x00" in frame.describe()
    plain = decode_frame(msg, SignalDatabase.load(DEMO), "body", 0.0)
    assert plain.pgn is None


def test_waits_filter_on_source_address(truck: SignalDatabase) -> None:
    import can

    bus_name = "j1939-where"
    with (
        Channel("rx", can.Bus(interface="virtual", channel=bus_name), truck) as rx,
        can.Bus(interface="virtual", channel=bus_name) as tx,
    ):
        since = rx.mark()
        data = bytes([0, 125, 140, 0x40, 0x1F, 0, 0, 125])
        tx.send(can.Message(arbitration_id=0x0CF00400, data=data, is_extended_id=True))
        tx.send(can.Message(arbitration_id=0x08F00417, data=data, is_extended_id=True))
        frame = rx.wait_for(
            "EEC1", where={"source_address": 0x17, "EngSpeed": 1000.0}, since=since, timeout=5
        )
        assert frame.priority == 2
        first = rx.wait_for("EEC1", where={"priority": 3}, since=since, timeout=5)
        assert first.source_address == 0x00

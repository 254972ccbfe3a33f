"""The J1939 node on a harness channel against an independent stack: can-j1939 on its
own python-can bus, as a second ECU on the same virtual bus.

Address claim and contention are watched on a third channel; long messages cross by
BAM and by RTS/CTS in both directions.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import can
import j1939
import pytest

from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase
from harness.canbus.saej1939.addressing import NULL_ADDRESS
from harness.canbus.saej1939.request import Acknowledgement, Control
from harness.canbus.saej1939.stack import J1939Error, J1939Node, name
from harness.canbus.saej1939.transport import BAM, RTS, TP_CM

TRUCK = Path(__file__).resolve().parents[3] / "dbc" / "j1939_truck.dbc"
ENGINE, PEER = 0x00, 0xF9
PROPRIETARY_A = 61184  # PDU1: to one address, so long ones go by RTS/CTS
PROPRIETARY_B = 65280  # PDU2: broadcast, so long ones go by BAM
KILOBYTE = bytes(n * 7 % 251 for n in range(1000))
WAIT = 30.0  # a 1 kB BAM takes 143 gaps of at least 50 ms


@pytest.fixture(scope="module")
def truck() -> SignalDatabase:
    return SignalDatabase.load(TRUCK)


@pytest.fixture
def bus_name() -> str:
    return f"j1939-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def observer(bus_name: str, truck: SignalDatabase) -> Iterator[Channel]:
    with Channel("observer", can.Bus(interface="virtual", channel=bus_name), truck) as channel:
        yield channel


@pytest.fixture
def engine(bus_name: str, truck: SignalDatabase) -> Iterator[J1939Node]:
    with (
        Channel("engine", can.Bus(interface="virtual", channel=bus_name), truck) as channel,
        J1939Node(channel, name(identity=1, function=0), ENGINE) as node,
    ):
        yield node


class Peer:
    """can-j1939 as it is meant to be used: its own bus, its own notifier."""

    def __init__(self, bus_name: str) -> None:
        self.ecu = j1939.ElectronicControlUnit()
        self.ecu.connect(interface="virtual", channel=bus_name)
        self.ca = j1939.ControllerApplication(name(identity=99, function=130), PEER)
        self.ecu.add_ca(controller_application=self.ca)
        self.received: queue.Queue[tuple[int, int, bytes]] = queue.Queue()
        self.ca.subscribe(self._on_message)
        self.ca.start()

    def _on_message(
        self, priority: int, pgn: int, source: int, timestamp: float, data: Any
    ) -> None:
        self.received.put((pgn, source, bytes(data)))

    def next(self, pgn: int) -> tuple[int, bytes]:
        while True:
            got, source, data = self.received.get(timeout=WAIT)
            if got == pgn:
                return source, data

    def close(self) -> None:
        self.ca.stop()
        self.ecu.disconnect()
        self.ecu.stop()


@pytest.fixture
def peer(bus_name: str, observer: Channel) -> Iterator[Peer]:
    since = observer.mark()
    peer = Peer(bus_name)
    try:
        observer.wait_for("AC", where={"source_address": PEER}, since=since, timeout=WAIT)
        yield peer
    finally:
        peer.close()


def test_node_claims_its_address_with_its_name(
    bus_name: str, observer: Channel, truck: SignalDatabase
) -> None:
    since = observer.mark()
    with (
        Channel("ecu", can.Bus(interface="virtual", channel=bus_name), truck) as channel,
        J1939Node(channel, name(identity=4711, function=0), ENGINE),
    ):
        claim = observer.wait_for("AC", where={"source_address": ENGINE}, since=since, timeout=WAIT)
    assert claim["IdentityNumber"] == 4711
    assert claim.destination_address == 0xFF


def test_contention_lower_name_keeps_the_address_the_other_cannot_claim(
    bus_name: str, observer: Channel, truck: SignalDatabase
) -> None:
    lost = threading.Event()
    since = observer.mark()
    with (
        Channel("a", can.Bus(interface="virtual", channel=bus_name), truck) as a_channel,
        Channel("b", can.Bus(interface="virtual", channel=bus_name), truck) as b_channel,
        J1939Node(a_channel, name(identity=2, function=0), 0x80, on_lost=lost.set) as loser,
        J1939Node(b_channel, name(identity=1, function=0), 0x80) as winner,
    ):
        gave_up = observer.wait_for(
            "AC", where={"source_address": NULL_ADDRESS}, since=since, timeout=WAIT
        )
        assert gave_up["IdentityNumber"] == 2
        assert loser.cannot_claim
        assert loser.address == NULL_ADDRESS
        with pytest.raises(J1939Error, match="no address"):
            loser.send(PROPRIETARY_B, b"\x01")
        assert not winner.cannot_claim
        assert loser.wait_claimed(WAIT) == NULL_ADDRESS
        assert winner.wait_claimed(WAIT) == 0x80
        assert lost.wait(WAIT), "on_lost was not called"


def test_node_sees_the_peers_claim_and_answers_its_request(
    engine: J1939Node, peer: Peer, observer: Channel
) -> None:
    engine.answer(65262, lambda: bytes([130, 60, 0x20, 0x2B, 0xFF, 0xFF, 0xFF, 0xFF]))
    since = observer.mark()
    peer.ca.send_request(0, 65262, ENGINE)
    source, _ = peer.next(65262)
    assert source == ENGINE
    et1 = observer.wait_for("ET1", where={"source_address": ENGINE}, since=since, timeout=WAIT)
    assert et1["EngCoolantTemp"] == 90


def test_peer_answers_the_nodes_requests(engine: J1939Node, peer: Peer, observer: Channel) -> None:
    since = observer.mark()
    engine.request(60928, PEER)  # address claimed: the peer repeats its claim
    claim = observer.wait_for("AC", where={"source_address": PEER}, since=since, timeout=WAIT)
    assert claim["IdentityNumber"] == 99
    component_id = b"ACME*TRUCK-PEER*0001*"  # component identification, PGN 65259: by BAM

    def on_request(source: int, destination: int, pgn: int) -> None:
        if pgn == 65259:
            peer.ca.send_pgn(0, 0xFE, 0xEB, 6, list(component_id))

    peer.ca.subscribe_request(on_request)
    engine.request(65259, PEER)
    assert engine.wait_message(65259, source=PEER, timeout=WAIT).data == component_id


@pytest.mark.parametrize(("pgn", "mode"), [(PROPRIETARY_B, "BAM"), (PROPRIETARY_A, "RTS/CTS")])
def test_a_kilobyte_crosses_both_ways(
    engine: J1939Node, peer: Peer, observer: Channel, pgn: int, mode: str
) -> None:
    since = observer.mark()
    engine.send(pgn, KILOBYTE, destination=PEER if mode == "RTS/CTS" else 0xFF)
    assert peer.next(pgn) == (ENGINE, KILOBYTE)
    control = RTS if mode == "RTS/CTS" else BAM
    announced = observer.wait_for(
        None,
        where=lambda f: f.pgn == TP_CM and f.source_address == ENGINE and f.data[0] == control,
        since=since,
        timeout=WAIT,
    )
    assert int.from_bytes(announced.data[1:3], "little") == len(KILOBYTE)
    ps = ENGINE if mode == "RTS/CTS" else pgn & 0xFF
    peer.ca.send_pgn(0, (pgn >> 8) & 0xFF, ps, 6, list(KILOBYTE))
    message = engine.wait_message(pgn, source=PEER, timeout=WAIT)
    assert message.data == KILOBYTE


def test_a_direct_request_for_an_unknown_pgn_gets_a_nack_a_command_an_ack(
    engine: J1939Node, peer: Peer
) -> None:
    cleared = threading.Event()

    def clear() -> bool:
        cleared.set()
        return True

    engine.acknowledge(65235, clear)  # DM11
    peer.ca.send_request(0, 65259, ENGINE)
    _, nack = peer.next(59392)
    assert Acknowledgement.parse(nack) == Acknowledgement(Control.NACK, 65259, PEER)
    peer.ca.send_request(0, 65235, ENGINE)
    _, ack = peer.next(59392)
    assert Acknowledgement.parse(ack) == Acknowledgement(Control.ACK, 65235, PEER)
    assert cleared.is_set()

"""Simulated truck ECUs on the virtual J1939 bench, seen by can-j1939 as a second ECU."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import j1939
import pytest

from harness import clock
from harness.bench.assembly import Bench
from harness.canbus.saej1939.dm import DM1, DM2, DM3, DM11, Dtc, parse_dm
from harness.canbus.saej1939.request import ACKNOWLEDGEMENT, Acknowledgement, Control
from harness.canbus.saej1939.stack import name
from harness.config import load_bench

BENCH = Path(__file__).resolve().parents[2] / "fixtures" / "benches" / "virtual-j1939.toml"
WAIT = 10.0
TESTER = 0xF9
ENGINE = 0x00
COMPONENT_ID = 65259
"""A PGN the engine does not support."""


class Peer:
    """can-j1939 on its own python-can bus: a tester nobody on the project wrote."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[int, int, bytes]] = queue.Queue()
        self.ecu = j1939.ElectronicControlUnit()
        self.ecu.connect(interface="virtual", channel="demo-truck")
        self.ca = j1939.ControllerApplication(name(identity=77, function=130), TESTER)
        self.ecu.add_ca(controller_application=self.ca)
        self.ca.subscribe(self._on_message)

    def _on_message(self, priority: int, pgn: int, sa: int, timestamp: float, data: Any) -> None:
        self.received.put((pgn, sa, bytes(data)))

    def next(self, pgn: int, source: int = ENGINE) -> bytes:
        """The next message of ``pgn`` from ``source``; what came before it is dropped."""
        deadline = clock.now() + WAIT
        while True:
            got, sa, data = self.received.get(timeout=max(0.0, deadline - clock.now()))
            if got == pgn and sa == source:
                return data

    def acknowledgement(self, pgn: int) -> Acknowledgement:
        while True:
            ack = Acknowledgement.parse(self.next(ACKNOWLEDGEMENT))
            if ack.pgn == pgn:
                return ack

    def close(self) -> None:
        self.ca.stop()
        self.ecu.disconnect()
        self.ecu.stop()


@pytest.fixture
def bench() -> Iterator[Bench]:
    with Bench.open(load_bench(BENCH)) as bench:
        yield bench


@pytest.fixture
def peer(bench: Bench) -> Iterator[Peer]:
    truck = bench.can["truck"]
    since = truck.mark()
    peer = Peer()
    peer.ca.start()
    try:
        truck.wait_for("AC", where={"source_address": TESTER}, since=since, timeout=WAIT)
        yield peer
    finally:
        peer.close()


def test_sim_ecus_see_the_testers_claim_answer_its_requests_and_send_dm1_by_bam(
    bench: Bench, peer: Peer
) -> None:
    truck = bench.can["truck"]
    peer.ca.send_request(0, 65262, ENGINE)  # ET1 from the engine
    et1 = peer.next(65262)
    report = parse_dm(peer.next(DM1))
    assert truck.db is not None
    assert truck.db.decode(truck.db.message("ET1"), et1)["EngCoolantTemp"] == 90
    assert report.dtcs == (Dtc(110, 0, 3), Dtc(100, 1, 1))
    assert report.amber_warning_lamp == 1


def test_dm2_previously_active_and_dm3_clears_them(peer: Peer) -> None:
    peer.ca.send_request(0, DM2, ENGINE)
    assert parse_dm(peer.next(DM2)).dtcs == (Dtc(91, 3, 2),)
    peer.ca.send_request(0, DM3, ENGINE)
    ack = peer.acknowledgement(DM3)
    assert (ack.control, ack.address) == (Control.ACK, TESTER)
    peer.ca.send_request(0, DM2, ENGINE)
    assert parse_dm(peer.next(DM2)).dtcs == ()


def test_dm11_clears_the_active_dtcs_and_the_lamp(peer: Peer) -> None:
    peer.ca.send_request(0, DM11, ENGINE)
    assert peer.acknowledgement(DM11).control == Control.ACK
    peer.ca.send_request(0, DM1, ENGINE)
    report = parse_dm(peer.next(DM1))
    assert (report.dtcs, report.amber_warning_lamp) == ((), 0)
    peer.ca.send_request(0, DM2, ENGINE)  # DM11 leaves the previously active ones
    assert parse_dm(peer.next(DM2)).dtcs == (Dtc(91, 3, 2),)


def test_a_power_cycle_brings_back_the_dtcs_of_the_ecu_file(bench: Bench, peer: Peer) -> None:
    peer.ca.send_request(0, DM11, ENGINE)
    peer.acknowledgement(DM11)
    engine = bench.sim("engine")
    truck = bench.can["truck"]
    since = truck.mark()
    engine.power_off()
    engine.power_on()
    truck.wait_for("AC", where={"source_address": ENGINE}, since=since, timeout=WAIT)
    peer.ca.send_request(0, DM1, ENGINE)
    assert len(parse_dm(peer.next(DM1)).dtcs) == 2


def test_unsupported_pgn_asked_directly_gets_a_nack_asked_globally_nothing(
    bench: Bench, peer: Peer
) -> None:
    truck = bench.can["truck"]
    since = truck.mark()
    peer.ca.send_request(0, COMPONENT_ID, 0xFF)
    peer.ca.send_request(0, 65262, ENGINE)  # answered in order: a barrier for the first
    peer.next(65262)
    nacks = truck.frames(
        None, where=lambda f: f.pgn == ACKNOWLEDGEMENT and f.source_address == ENGINE, since=since
    )
    assert nacks == []
    peer.ca.send_request(0, COMPONENT_ID, ENGINE)
    ack = peer.acknowledgement(COMPONENT_ID)
    assert (ack.control, ack.address) == (Control.NACK, TESTER)


def test_seeded_nack_missing_and_clear_ignored() -> None:
    with Bench.open(
        BENCH, ['simulation.ecus.engine.faults=["nack_missing", "clear_ignored"]']
    ) as bench:
        truck = bench.can["truck"]
        other = Peer()
        other.ca.start()
        try:
            truck.wait_for("AC", where={"source_address": TESTER}, timeout=WAIT)
            since = truck.mark()
            other.ca.send_request(0, COMPONENT_ID, ENGINE)
            other.ca.send_request(0, DM11, ENGINE)
            assert other.acknowledgement(DM11).control == Control.ACK  # after the other's NACK
            acks = truck.frames(
                None,
                where=lambda f: f.pgn == ACKNOWLEDGEMENT and f.data[5] != DM11 & 0xFF,
                since=since,
            )
            assert acks == []
            other.ca.send_request(0, DM1, ENGINE)
            assert len(parse_dm(other.next(DM1)).dtcs) == 2
        finally:
            other.close()

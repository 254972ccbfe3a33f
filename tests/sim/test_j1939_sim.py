"""Simulated truck ECUs on the virtual J1939 bench, seen by can-j1939 as a second ECU."""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

import j1939

from harness import clock
from harness.bench.assembly import Bench
from harness.canbus.j1939.dm import DM1, Dtc, parse_dm
from harness.canbus.j1939.stack import name
from harness.config import load_bench

BENCH = Path(__file__).resolve().parents[2] / "fixtures" / "benches" / "virtual-j1939.toml"
WAIT = 10.0
TESTER = 0xF9


def test_sim_ecus_see_the_testers_claim_answer_its_requests_and_send_dm1_by_bam() -> None:
    received: queue.Queue[tuple[int, int, bytes]] = queue.Queue()
    with Bench.open(load_bench(BENCH)) as bench:
        truck = bench.can["truck"]
        ecu = j1939.ElectronicControlUnit()
        ecu.connect(interface="virtual", channel="demo-truck")
        ca = j1939.ControllerApplication(name(identity=77, function=130), TESTER)
        ecu.add_ca(controller_application=ca)

        def on_message(priority: int, pgn: int, sa: int, timestamp: float, data: Any) -> None:
            received.put((pgn, sa, bytes(data)))

        ca.subscribe(on_message)
        since = truck.mark()
        ca.start()
        try:
            truck.wait_for("AC", where={"source_address": TESTER}, since=since, timeout=WAIT)
            ca.send_request(0, 65262, 0x00)  # ET1 from the engine
            dm1 = None
            et1 = None
            deadline = clock.now() + WAIT
            while dm1 is None or et1 is None:
                assert clock.now() < deadline, f"ET1 {et1!r}, DM1 {dm1!r} from the engine"
                pgn, sa, data = received.get(timeout=WAIT)
                if pgn == 65262 and sa == 0x00:
                    et1 = data
                if pgn == DM1 and sa == 0x00:
                    dm1 = data
            assert truck.db is not None
            assert truck.db.decode(truck.db.message("ET1"), et1)["EngCoolantTemp"] == 90
            report = parse_dm(dm1)
            assert report.dtcs == (Dtc(110, 0, 3), Dtc(100, 1, 1))
            assert report.amber_warning_lamp == 1
        finally:
            ca.stop()
            ecu.disconnect()
            ecu.stop()

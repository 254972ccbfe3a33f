"""UDS over DoIP against UDS over CAN ISO-TP (classic and FD), on virtual benches, in one run.

Measures a ReadDataByIdentifier (VIN) round trip (median, p99) and a 64 KiB download
(RequestDownload, TransferData blocks, RequestTransferExit) over each transport: classic
CAN ISO-TP (the baseline) and DoIP on the virtual bench, ISO-TP over CAN FD with 64-byte
frames on fixtures/benches/virtual-fd.toml, and DoIP to a DoIP-native BCM (``doip-local``:
its entity hands requests to its UDS server directly, no CAN hop). The
simulated DoIP entity is an edge node: it routes every diagnostic message over ISO-TP
on the virtual CAN to the BCM's UDS server, so its figures are the CAN-side exchange
plus the DoIP hop; ``doip-local`` is the ECU with DoIP on board.

    .venv/bin/python benchmarks/doip.py [--rounds 200] [--size 65536]

A script, not a test: it prints figures and ratios and exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from harness.bench import Bench
from harness.bench.diagnostics import open_uds

BENCHES = Path(__file__).resolve().parents[1] / "fixtures" / "benches"
RUNS = {
    "isotp": (BENCHES / "virtual.toml", ["diagnostics.transport=isotp"]),
    "doip": (BENCHES / "virtual.toml", ["diagnostics.transport=doip"]),
    "doip-local": (
        BENCHES / "virtual.toml",
        ["diagnostics.transport=doip", 'simulation.ecus.bcm.doip={ routing = "local" }'],
    ),
    "isotp-fd": (BENCHES / "virtual-fd.toml", []),
}
"""Name -> (bench file, overrides); ``isotp`` (classic CAN) is the baseline."""


def measure(
    bench_file: Path, overrides: list[str], rounds: int, size: int
) -> tuple[list[float], float]:
    """(RDBI round trips in seconds, download seconds) on ``bench_file`` with ``overrides``."""
    with Bench.open(bench_file, overrides) as bench, open_uds(bench) as uds:
        uds.read_did("VIN")  # warm up: stacks started, connection routed
        trips = []
        for _ in range(rounds):
            started = time.perf_counter()
            uds.read_did("VIN")
            trips.append(time.perf_counter() - started)
        area = uds.profile.download
        assert area is not None, "the BCM profile has a [download] area"
        uds.session("extended")
        uds.session(area.session)
        if area.security is not None:
            uds.unlock(area.security)
        image = bytes(i & 0xFF for i in range(size))
        started = time.perf_counter()
        uds.download(area.address, image)
        download = time.perf_counter() - started
        uds.session("default")
    return trips, download


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.99 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--size", type=int, default=64 * 1024)
    args = parser.parse_args()
    results = {name: measure(*run, args.rounds, args.size) for name, run in RUNS.items()}
    print(f"RDBI VIN round trip, {args.rounds} rounds; download of {args.size} bytes")
    print(f"{'transport':10} {'median ms':>10} {'p99 ms':>10} {'download s':>11}")
    for name, (trips, download) in results.items():
        median = statistics.median(trips) * 1000
        print(f"{name:10} {median:10.2f} {p99(trips) * 1000:10.2f} {download:11.2f}")
    can_trips, can_download = results["isotp"]
    for name, (trips, download) in results.items():
        if name == "isotp":
            continue
        ratio = statistics.median(can_trips) / statistics.median(trips)
        print(
            f"{name}: RDBI {ratio:.2f}x, download {can_download / download:.2f}x "
            "the speed of classic CAN ISO-TP"
        )


if __name__ == "__main__":
    main()

"""Offline decoding: the naive loop against the columnar engine, BLF and candump (issue 15).

Generates traces (1 M frames; ``--ten-million`` adds a 10 M BLF for the memory
check) of every message of a DBC round-robin with varying random payloads, then
in a fresh subprocess per case measures wall time and peak RSS:

* naive: python-can's reader + ``db.decode_message(..., decode_choices=False)``
  per frame (on the first ``--naive-frames`` frames, reported as frames/s);
* columnar: ``decode_columns`` (one Arrow table per message) and
  ``write_parquet`` (``DIR/<message>/part-0.parquet``).

    .venv/bin/python benchmarks/offline.py            # demo DBC + two opendbc DBCs
    .venv/bin/python benchmarks/offline.py --ten-million
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cantools
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "dbc" / "opendbc"
DBCS = [
    ROOT / "dbc" / "demo_vehicle.dbc",
    CORPUS / "ford_lincoln_base_pt.dbc",  # big-endian (2150 signals), 29-bit IDs, CAN FD
    CORPUS / "hyundai_2015_ccan.dbc",  # multiplexed messages
]

CHILD = r"""
import json, sys, time
kind, trace, dbc, limit, out = sys.argv[1:6]
limit = int(limit)
start = time.perf_counter()
frames = 0
if kind == "naive":
    import cantools, can
    db = cantools.database.load_file(dbc, strict=False)
    read_trace = can.BLFReader if trace.endswith(".blf") else can.CanutilsLogReader
    by_id = {(m.frame_id, m.is_extended_frame): m for m in db.messages}
    start = time.perf_counter()
    decoded = []
    for msg in read_trace(trace):
        frames += 1
        m = by_id.get((msg.arbitration_id, msg.is_extended_id))
        if m is not None:
            try:
                decoded.append(m.decode(bytes(msg.data), decode_choices=False))
            except Exception:
                pass
        if frames >= limit:
            break
elif kind == "asammdf":
    from asammdf import MDF
    start = time.perf_counter()
    decoded = MDF(trace).extract_bus_logging({"CAN": [(dbc, 0)]})
    frames = int(limit)
    decoded.close()
else:
    from harness.canbus.database import SignalDatabase
    from harness.trace.columnar import DecodeStats, decode_columns, write_parquet
    db = SignalDatabase.load(dbc, strict=False)
    start = time.perf_counter()
    if kind == "tables":
        stats = DecodeStats()
        tables = decode_columns(trace, [db], stats=stats)
    else:
        stats = write_parquet(trace, [db], out).stats
    frames = stats.frames
elapsed = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork + exec
status = open("/proc/self/status").read().split("VmHWM:")[1]
peak = int(status.split()[0]) / 1024
print(json.dumps({"frames": frames, "seconds": elapsed, "peak_mib": peak}))
"""


def generate(dbc: Path, frames: int, folder: Path) -> dict[str, Path]:
    """A BLF and a candump log of the same frames: each message in turn, random payloads."""
    from harness.trace.columnar import FrameChunk
    from harness.trace.columnar.blf import write_blf

    db = cantools.database.load_file(str(dbc), strict=False)
    messages = [m for m in db.messages if m.length and not m.is_container]
    ids = np.array([m.frame_id for m in messages], dtype=np.uint32)
    ext = np.array([m.is_extended_frame for m in messages])
    lengths = np.array([m.length for m in messages], dtype=np.int16)
    step = 500_000

    def chunks():  # the same seed every time: the BLF, the log and the MF4 hold the same frames
        rng = np.random.default_rng(15)
        for begin in range(0, frames, step):
            index = np.arange(begin, min(frames, begin + step))
            which = index % len(messages)
            n = len(index)
            length = lengths[which]
            data = rng.integers(0, 256, (n, 64), dtype=np.uint8)
            data[np.arange(64) >= length[:, None]] = 0
            yield FrameChunk(
                timestamp=1_700_000_000.0 + index * 1e-4,
                channel=np.zeros(n, dtype=np.int32),
                channels=["0"],
                is_rx=np.ones(n, dtype=bool),
                arbitration_id=ids[which],
                is_extended_id=ext[which],
                is_remote_frame=np.zeros(n, dtype=bool),
                is_error_frame=np.zeros(n, dtype=bool),
                is_fd=length > 8,
                bitrate_switch=np.zeros(n, dtype=bool),
                error_state_indicator=np.zeros(n, dtype=bool),
                dlc=length,
                length=length,
                data=data,
            )

    blf = folder / f"{dbc.stem}-{frames}.blf"
    write_blf(blf, chunks(), compression_level=6)
    traces = {"blf": blf}
    if frames <= 1_000_000:
        log = folder / f"{dbc.stem}-{frames}.log"
        with log.open("w") as out:
            for chunk in chunks():
                hexes = [
                    chunk.data[i, : chunk.length[i]].tobytes().hex().upper()
                    for i in range(len(chunk))
                ]
                for t, can_id, x, h, fd in zip(
                    chunk.timestamp.tolist(), chunk.arbitration_id.tolist(),
                    chunk.is_extended_id.tolist(), hexes, chunk.is_fd.tolist(), strict=True,
                ):  # fmt: skip
                    ident = f"{can_id:08X}" if x else f"{can_id:03X}"
                    out.write(f"({t:.6f}) can0 {ident}#{'#0' if fd else ''}{h}\n")
        traces["log"] = log
        mf4 = write_mf4(folder / f"{dbc.stem}-{frames}.mf4", list(chunks()))
        if mf4 is not None:
            traces["mf4"] = mf4
    return traces


def write_mf4(path: Path, chunks: list[Any]) -> Path | None:
    """The frames as an ASAM MDF 4 bus log, laid out as python-can's ``MF4Writer`` lays it out
    (``CAN_DataFrame`` records, transposition + deflate), written in bulk; None without asammdf."""
    try:
        from asammdf import MDF, Signal
        from asammdf.blocks.source_utils import Source
    except ImportError:
        return None
    from can.io.mf4 import STD_DTYPE

    count = sum(len(c) for c in chunks)
    records = np.zeros(count, dtype=STD_DTYPE)
    stamps = np.concatenate([c.timestamp for c in chunks])
    field = "CAN_DataFrame."
    records[field + "BusChannel"] = 1
    records[field + "ID"] = np.concatenate([c.arbitration_id for c in chunks])
    records[field + "IDE"] = np.concatenate([c.is_extended_id for c in chunks])
    length = np.concatenate([c.length for c in chunks])
    fd = np.concatenate([c.is_fd for c in chunks])
    records[field + "DLC"] = np.where(
        fd, np.searchsorted([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64], length), length
    )
    records[field + "DataLength"] = length
    records[field + "DataBytes"] = np.concatenate([c.data for c in chunks])
    records[field + "EDL"] = fd
    mdf = MDF(version="4.10")
    source = Source(
        name="CAN",
        path="CAN",
        comment="",
        source_type=Source.SOURCE_BUS,
        bus_type=Source.BUS_TYPE_CAN,
    )
    mdf.append(
        Signal(name="CAN_DataFrame", samples=records, timestamps=stamps - stamps[0], source=source)
    )
    mdf.save(path, compression=2, overwrite=True)
    mdf.close()
    return path


REPEAT = 3


def run(
    kind: str, trace: Path, dbc: Path, limit: int, out: Path, *, repeat: int = REPEAT
) -> dict[str, float]:
    """The fastest of ``repeat`` fresh runs: on a shared machine the others waited for a CPU."""
    best: dict[str, float] | None = None
    for _ in range(max(repeat, 1)):
        result = subprocess.run(
            [sys.executable, "-c", CHILD, kind, str(trace), str(dbc), str(limit), str(out)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
        if best is None or figures["seconds"] < best["seconds"]:
            best = figures
    assert best is not None
    best["rate"] = best["frames"] / best["seconds"]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--naive-frames", type=int, default=200_000)
    parser.add_argument("--ten-million", action="store_true", help="also 10 M frames (memory)")
    parser.add_argument("--dbc", type=Path, action="append", help="DBC files (default: three)")
    parser.add_argument(
        "--format", choices=["blf", "log"], action="append", help="trace formats (default: both)"
    )
    parser.add_argument("--no-parquet", action="store_true", help="skip the parquet case")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="runs per case, fastest kept")
    args = parser.parse_args()
    dbcs = [d for d in (args.dbc or DBCS) if d.exists()]
    print(f"{'dbc':<24} {'fmt':<4} {'case':<8} {'frames':>9} {'s':>7} {'frames/s':>11} "
          f"{'x naive':>8} {'peak MiB':>9}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for dbc in dbcs:
            t = time.perf_counter()
            traces = generate(dbc, args.frames, folder)
            print(f"# {dbc.name}: traces generated in {time.perf_counter() - t:.1f} s")
            for fmt, trace in traces.items():
                if args.format and fmt not in args.format:
                    continue
                if fmt == "mf4":
                    continue
                naive = run(
                    "naive", trace, dbc, args.naive_frames, folder / "none", repeat=args.repeat
                )
                rows = [("naive", naive)]
                if fmt == "blf" and "mf4" in traces:
                    mdf = run(
                        "asammdf",
                        traces["mf4"],
                        dbc,
                        args.frames,
                        folder / "none",
                        repeat=args.repeat,
                    )
                    rows.append(("asammdf", mdf))
                elif fmt == "blf":
                    print(f"{dbc.name:<24} {fmt:<4} asammdf  not measured: asammdf is not "
                          "installed (.venv/bin/pip install -e '.[bench]')")  # fmt: skip
                rows.append(
                    ("tables", run("tables", trace, dbc, 0, folder / "none", repeat=args.repeat))
                )
                if not args.no_parquet:
                    rows.append(
                        (
                            "parquet",
                            run("parquet", trace, dbc, 0, folder / f"pq-{fmt}", repeat=args.repeat),
                        )
                    )
                for case, f in rows:
                    print(f"{dbc.name:<24} {fmt:<4} {case:<8} {f['frames']:>9.0f} "
                          f"{f['seconds']:>7.2f} {f['rate']:>11,.0f} "
                          f"{f['rate'] / naive['rate']:>7.1f}x {f['peak_mib']:>9.0f}")  # fmt: skip
                figures = dict(rows)
                if "asammdf" in figures:
                    ratio = figures["tables"]["rate"] / figures["asammdf"]["rate"]
                    print(f"{dbc.name:<24} {fmt:<4} tables / asammdf: {ratio:.1f}x")
            if args.ten_million:
                big = generate(dbc, 10 * args.frames, folder)["blf"]
                small = run("tables", traces["blf"], dbc, 0, folder / "none", repeat=args.repeat)
                for case in ("parquet",):
                    one = run(case, traces["blf"], dbc, 0, folder / "pq1", repeat=args.repeat)
                    ten = run(case, big, dbc, 0, folder / "pq10", repeat=args.repeat)
                    print(f"{dbc.name:<24} blf  {case:<8} 10x frames: {ten['rate']:,.0f} f/s, "
                          f"peak {ten['peak_mib']:.0f} MiB vs {one['peak_mib']:.0f} MiB at 1x "
                          f"({ten['peak_mib'] / one['peak_mib']:.2f}x); tables at 1x peak "
                          f"{small['peak_mib']:.0f} MiB")  # fmt: skip
                big.unlink()


if __name__ == "__main__":
    main()

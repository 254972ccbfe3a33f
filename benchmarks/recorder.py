"""What the trace recorder's flush window costs, against no window, in the same run.

The window (``harness.trace.recorder.FLUSH_WINDOW``, 0.5 s) writes out a short BLF
container (or the ASC buffer) once a frame has waited that long, so a SIGKILL loses
at most the last half second. Without it a frame waits until a 16 KiB container fills.
Two workloads, each recorded with the window and without it (the baseline), rounds
alternating:

- burst: ``--frames`` frames sent back to back through a ``Channel``: containers fill
  long before the window, so the window should cost nothing;
- paced: a residual bus of ``--ids`` messages every ``--period-ms`` (python-can cyclic
  tasks on the virtual bus) for ``--seconds``: the window fires every 0.5 s and writes
  short containers. Figures: CPU time of the process per frame, bytes per frame, and
  the frames a SIGKILL at the end would lose (recorded, not yet in the file).

    .venv/bin/python benchmarks/recorder.py [--format blf] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import can

from harness.canbus.channel import Channel
from harness.canbus.frame import Frame
from harness.trace.reader import read_trace
from harness.trace.recorder import FLUSH_WINDOW, TraceRecorder

VARIANTS = (("no window (baseline)", None), (f"window {FLUSH_WINDOW:g} s", FLUSH_WINDOW))


@dataclass
class Figures:
    frames: int
    seconds: float
    cpu: float
    size: int
    on_disk: int
    """Frames readable from the file before it was closed (what a SIGKILL leaves)."""


def _on_disk(path: Path) -> int:
    if path.stat().st_size == 0:
        return 0
    return sum(1 for _ in read_trace(path))


class _Count:
    """A channel tap that sets an event when ``target`` frames have been seen."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.done = threading.Event()

    def __call__(self, frame: Frame) -> None:
        self.seen += 1
        if self.seen >= self.target:
            self.done.set()


def burst(path: Path, window: float | None, frames: int) -> Figures:
    channel = Channel(f"burst-{uuid.uuid4().hex[:8]}", can.Bus(interface="virtual"))
    try:
        recorder = TraceRecorder(channel, path, flush_window=window)
        cpu, start = time.process_time(), time.perf_counter()
        for n in range(frames):
            channel.send_raw(0x100 + n % 64, n.to_bytes(8, "big"))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        on_disk = _on_disk(path)
        recorder.close()
    finally:
        channel.close()
    return Figures(recorder.frames, seconds, cpu, path.stat().st_size, on_disk)


def paced(path: Path, window: float | None, ids: int, period: float, seconds: float) -> Figures:
    name = f"paced-{uuid.uuid4().hex[:8]}"
    target = int(ids * seconds / period)
    channel = Channel("paced", can.Bus(interface="virtual", channel=name))
    sender = can.Bus(interface="virtual", channel=name)
    count = _Count(target)
    try:
        recorder = TraceRecorder(channel, path, flush_window=window)
        channel.tap(count)
        cpu, start = time.process_time(), time.perf_counter()
        tasks = [
            sender.send_periodic(can.Message(arbitration_id=0x200 + i, data=bytes(8)), period)
            for i in range(ids)
        ]
        if not count.done.wait(timeout=seconds * 10 + 30):
            raise RuntimeError(f"only {count.seen} of {target} frames arrived")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        for task in tasks:
            task.stop()
        channel.untap(count)
        on_disk = _on_disk(path)
        frames = recorder.frames
        recorder.close()
    finally:
        sender.shutdown()
        channel.close()
    return Figures(frames, elapsed, cpu, path.stat().st_size, on_disk)


def _row(label: str, runs: list[Figures]) -> tuple[float, float, float]:
    cpu_us = statistics.median(r.cpu / r.frames * 1e6 for r in runs)
    size = statistics.median(r.size / r.frames for r in runs)
    at_risk = statistics.median(r.frames - r.on_disk for r in runs)
    rate = statistics.median(r.frames / r.seconds for r in runs)
    print(
        f"  {label:<22} {rate:>12,.0f} {cpu_us:>14.1f} {size:>10.1f} {at_risk:>16,.0f}"
        f" {max(r.frames - r.on_disk for r in runs):>8,}"
    )
    return cpu_us, size, at_risk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("blf", "asc"), default="blf")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=50_000, help="burst frames per round")
    parser.add_argument("--ids", type=int, default=20, help="paced messages")
    parser.add_argument("--period-ms", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=3.0, help="paced time per round")
    args = parser.parse_args()
    period = args.period_ms / 1000
    header = (
        f"  {'variant':<22} {'frames/s':>12} {'CPU us/frame':>14} {'B/frame':>10} "
        f"{'lost on SIGKILL':>16} {'max':>8}"
    )
    paced_title = (
        f"paced: {args.ids} messages every {args.period_ms:g} ms "
        f"({args.ids / period:,.0f} frames/s) for {args.seconds:g} s"
    )
    workloads: list[tuple[str, Callable[[Path, float | None], Figures]]] = [
        (f"burst: {args.frames:,} frames back to back", lambda p, w: burst(p, w, args.frames)),
        (paced_title, lambda p, w: paced(p, w, args.ids, period, args.seconds)),
    ]
    with tempfile.TemporaryDirectory() as folder:
        for title, measure in workloads:
            runs: dict[str, list[Figures]] = {label: [] for label, _ in VARIANTS}
            for n in range(args.rounds):
                for label, window in VARIANTS:
                    path = Path(folder) / f"{n}-{window}.{args.format}"
                    runs[label].append(measure(path, window))
            print(f"{title}, {args.format}, median of {args.rounds} rounds")
            print(header)
            (base_cpu, base_size, _), (cpu, size, _) = (
                _row(label, runs[label]) for label, _ in VARIANTS
            )
            print(
                f"  ratio (window / baseline): CPU {cpu / base_cpu:.2f}x, "
                f"size {size / base_size:.2f}x"
            )


if __name__ == "__main__":
    main()

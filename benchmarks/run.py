"""Performance figures for the harness's CAN receive path and its waits.

Usage: ``.venv/bin/python benchmarks/run.py [--frames N] [--quick]`` (``make bench``).

Everything runs in one process on python-can's in-process ``virtual`` interface,
and every harness figure is set against a bare python-can + cantools baseline
measured in the same run, interleaved round by round so both see the same
machine noise. Medians over the rounds are reported. benchmarks/README.md
explains each figure.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.util
import itertools
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import can
import cantools
import cantools.database

from harness.canbus.channel import Channel, _Receiver
from harness.canbus.config import DEFAULT_HISTORY
from harness.canbus.database import SignalDatabase
from harness.exceptions import DatabaseError

if TYPE_CHECKING:
    from cantools.database.can import Database, Message

ROOT = Path(__file__).resolve().parent.parent
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"
FALLBACK_DBC = ROOT / "tests" / "data" / "mini.dbc"
PREFERRED = ("ECM_EngineData", "ABS_WheelSpeeds")
"""Messages the mix starts with when the DBC has them."""
MIX_SIZE = 4
REPEAT_CYCLE = 4
"""Distinct payloads per message in the "repeating" variant."""

TARGET_RATE = 150_000.0
TARGET_RATIO = 1.3
TARGET_MEDIAN_US = 50.0
TARGET_P99_US = 500.0

_channel_ids = itertools.count()


# -- the workload -------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    path: Path
    db: Database
    note: str
    mix: tuple[Message, ...]
    sentinel: Message
    sentinel_frame: can.Message
    varying: tuple[can.Message, ...]
    repeating: tuple[can.Message, ...]

    def frames(self, variant: str) -> tuple[can.Message, ...]:
        return self.varying if variant == "varying" else self.repeating


def _plain(message: Message) -> bool:
    """A classic, non-multiplexed, integer-signal message any payload decodes as."""
    return (
        not message.is_container
        and not message.is_multiplexed()
        and message.length <= 8
        and bool(message.signals)
        and not any(s.is_float for s in message.signals)
    )


def load_database(explicit: Path | None) -> tuple[Path, Database, str]:
    """The demo DBC when it loads and has plain messages, else tests/data/mini.dbc."""
    if explicit is not None:
        return explicit, _load(explicit), "chosen with --dbc"
    if DEMO_DBC.exists():
        try:
            db = _load(DEMO_DBC)
        except DatabaseError as exc:  # the file may be half-written by someone else
            note = f"{DEMO_DBC.name} did not load ({str(exc)[:80]}); fallback"
        else:
            if sum(map(_plain, db.messages)) >= 2:
                return DEMO_DBC, db, "demo DBC"
            note = f"{DEMO_DBC.name} has fewer than 2 plain messages; fallback"
    else:
        note = f"{DEMO_DBC.relative_to(ROOT)} not present; fallback"
    return FALLBACK_DBC, _load(FALLBACK_DBC), note


def _load(path: Path) -> Database:
    """The cantools database; SignalDatabase.load turns every failure into DatabaseError."""
    return SignalDatabase.load(path).cantools


def choose_messages(db: Database) -> tuple[tuple[Message, ...], Message]:
    """The traffic mix (preferred names, then the fastest cyclic messages) and a sentinel
    (a plain message outside the mix, preferably one without a cycle time)."""
    plain = [m for m in db.messages if _plain(m)]
    if len(plain) < 2:
        raise SystemExit(f"the DBC needs at least 2 plain messages, it has {len(plain)}")
    by_name = {m.name: m for m in plain}
    mix = [by_name[name] for name in PREFERRED if name in by_name]
    cyclic = sorted((m for m in plain if m.cycle_time), key=lambda m: m.cycle_time or 0)
    for message in [*cyclic, *plain]:
        if len(mix) >= min(MIX_SIZE, len(plain) - 1):
            break
        if message not in mix:
            mix.append(message)
    rest = [m for m in plain if m not in mix]
    sentinel = min(rest, key=lambda m: (bool(m.cycle_time), m.frame_id))
    return tuple(mix), sentinel


def _payload(message: Message, step: int, memo: dict[tuple[str, int], bytes]) -> bytes:
    """Step ``step`` of the message's traffic: every signal moves each step (a rolling
    counter, values ramping with odd strides), raw values wrapping at the signal's width."""
    period = 1 << max(s.length for s in message.signals)
    key = (message.name, step % period)
    data = memo.get(key)
    if data is None:
        raw: dict[str, int] = {}
        for j, signal in enumerate(message.signals):
            span = 1 << signal.length
            value = (step * (2 * j + 1) + j) % span
            if signal.is_signed and value >= span // 2:
                value -= span
            raw[signal.name] = value
        data = memo[key] = message.encode(raw, scaling=False, strict=False)
    return data


def build_workload(explicit_dbc: Path | None, count: int) -> Workload:
    path, db, note = load_database(explicit_dbc)
    mix, sentinel = choose_messages(db)
    memo: dict[tuple[str, int], bytes] = {}

    def traffic(repeating: bool) -> tuple[can.Message, ...]:
        frames = []
        for i in range(count):
            message = mix[i % len(mix)]
            step = i // len(mix)
            data = _payload(message, step % REPEAT_CYCLE if repeating else step, memo)
            frames.append(_can_message(message, data))
        return tuple(frames)

    sentinel_data = _payload(sentinel, 0, memo)
    return Workload(
        path,
        db,
        note,
        mix,
        sentinel,
        _can_message(sentinel, sentinel_data),
        traffic(repeating=False),
        traffic(repeating=True),
    )


def _can_message(message: Message, data: bytes) -> can.Message:
    return can.Message(
        arbitration_id=message.frame_id,
        is_extended_id=message.is_extended_frame,
        data=data,
    )


def distinct_share(frames: Sequence[can.Message]) -> float:
    keys = {(f.arbitration_id, bytes(f.data)) for f in frames}
    return len(keys) / len(frames)


# -- the two receivers --------------------------------------------------------------


class BareListener(can.Listener):
    """The baseline: what a script without the harness does with each received frame."""

    def __init__(self, db: Database, target_id: int) -> None:
        self.decode = db.decode_message
        self.target_id = target_id
        self.frames: list[tuple[can.Message, Any]] = []
        self.seen = threading.Event()

    def on_message_received(self, msg: can.Message) -> None:
        # cantools takes the bytearray as it is, so the baseline pays no bytes() copy
        decoded = self.decode(msg.arbitration_id, msg.data, decode_choices=True)  # type: ignore[arg-type]
        self.frames.append((msg, decoded))
        if msg.arbitration_id == self.target_id:
            self.seen.set()

    def stop(self) -> None:
        """Nothing to release."""


def _virtual_bus(stack: ExitStack, name: str) -> can.BusABC:
    bus = can.Bus(interface="virtual", channel=name)
    stack.callback(bus.shutdown)
    return bus


def _harness_channel(stack: ExitStack, work: Workload, name: str, frames: int) -> Channel:
    """A Channel on its own virtual bus, with a fresh SignalDatabase (so a fresh decode
    cache) and a history big enough that nothing is evicted during a run."""
    bus = can.Bus(interface="virtual", channel=name)
    try:
        channel = Channel(
            "bench",
            bus,
            SignalDatabase(work.db, work.path),
            history=max(DEFAULT_HISTORY, frames + 16),
        )
    except BaseException:
        bus.shutdown()
        raise
    stack.enter_context(channel)
    return channel


def _bare_receiver(stack: ExitStack, work: Workload, name: str) -> BareListener:
    bus = _virtual_bus(stack, name)
    listener = BareListener(work.db, work.sentinel.frame_id)
    notifier = can.Notifier(bus, [listener], timeout=0.1)
    stack.callback(notifier.stop)  # runs before bus.shutdown (LIFO)
    return listener


class Sender(threading.Thread):
    """Sends every frame, then the sentinel, as fast as the virtual bus takes them."""

    def __init__(self, bus: can.BusABC, frames: Sequence[can.Message], last: can.Message):
        super().__init__(name="bench-sender", daemon=True)
        self.bus = bus
        self.frames = frames
        self.last = last
        self.started_at = math.nan
        self.error: BaseException | None = None

    def run(self) -> None:
        send = self.bus.send
        try:
            self.started_at = time.perf_counter()
            for msg in self.frames:
                send(msg)
            send(self.last)
        except Exception as exc:  # noqa: BLE001  (re-raised by the main thread)
            self.error = exc


def _wait_budget(frames: int) -> float:
    return 10.0 + frames * 200e-6


def _collect() -> None:
    """Start each timed section from a collected heap; the collector stays on while timing,
    as it does in a real test run (both sides allocate alike)."""
    gc.collect()


# -- throughput ---------------------------------------------------------------------


def harness_over_bus(work: Workload, frames: Sequence[can.Message]) -> float:
    """Seconds from the first send until ``wait_for(sentinel)`` returns on a Channel."""
    name = f"bench-{next(_channel_ids)}"
    with ExitStack() as stack:
        channel = _harness_channel(stack, work, name, len(frames))
        tx = _virtual_bus(stack, name)
        sender = Sender(tx, frames, work.sentinel_frame)
        _collect()
        mark = channel.mark()
        sender.start()
        channel.wait_for(work.sentinel.name, since=mark, timeout=_wait_budget(len(frames)))
        ended = time.perf_counter()
        sender.join(10.0)
        _check_sender(sender)
        received = channel.history.count - mark.seq
        if received != len(frames) + 1:
            raise RuntimeError(f"harness channel recorded {received} of {len(frames) + 1}")
        return ended - sender.started_at


def bare_over_bus(work: Workload, frames: Sequence[can.Message]) -> float:
    """Seconds from the first send until the bare listener has seen the sentinel."""
    name = f"bench-{next(_channel_ids)}"
    with ExitStack() as stack:
        listener = _bare_receiver(stack, work, name)
        tx = _virtual_bus(stack, name)
        sender = Sender(tx, frames, work.sentinel_frame)
        _collect()
        sender.start()
        if not listener.seen.wait(_wait_budget(len(frames))):
            raise RuntimeError("the bare listener never saw the sentinel")
        ended = time.perf_counter()
        sender.join(10.0)
        _check_sender(sender)
        if len(listener.frames) != len(frames) + 1:
            raise RuntimeError(f"bare listener got {len(listener.frames)} of {len(frames) + 1}")
        return ended - sender.started_at


def _check_sender(sender: Sender) -> None:
    if sender.is_alive():
        raise RuntimeError("the sender thread did not finish")
    if sender.error is not None:
        raise RuntimeError(f"sending failed: {sender.error!r}") from sender.error


def harness_processing(work: Workload, frames: Sequence[can.Message]) -> float:
    """CPU seconds the Channel's receive path (decode, Frame, history) takes over
    pre-built messages, called directly: no bus, no threads.

    Timed with the thread's CPU clock, so time the shared machine spends on other
    processes does not count; on an idle machine it equals the wall-clock time.
    """
    with ExitStack() as stack:
        channel = _harness_channel(stack, work, f"bench-{next(_channel_ids)}", len(frames))
        receive = _Receiver(channel).on_message_received
        _collect()
        started = time.thread_time()
        for msg in frames:
            receive(msg)
        ended = time.thread_time()
        if channel.history.count != len(frames):
            raise RuntimeError("the harness receive path lost frames")
        return ended - started


def bare_processing(work: Workload, frames: Sequence[can.Message]) -> float:
    """CPU seconds the bare listener's decode + append takes over the same messages."""
    listener = BareListener(work.db, work.sentinel.frame_id)
    receive = listener.on_message_received
    _collect()
    started = time.thread_time()
    for msg in frames:
        receive(msg)
    ended = time.thread_time()
    return ended - started


# -- latency ------------------------------------------------------------------------


def harness_latency(work: Workload, samples: int) -> list[float]:
    """Seconds from just before a second bus sends a frame until the Channel's
    ``wait_for(..., since=mark)`` returns it."""
    name = f"bench-{next(_channel_ids)}"
    msg = work.frames("varying")[0]
    message = work.mix[0].name
    out: list[float] = []
    with ExitStack() as stack:
        channel = _harness_channel(stack, work, name, samples)
        tx = _virtual_bus(stack, name)
        send, wait_for, mark = tx.send, channel.wait_for, channel.mark
        perf = time.perf_counter
        _collect()
        for _ in range(samples):
            since = mark()
            started = perf()
            send(msg)
            wait_for(message, since=since, timeout=1.0)
            out.append(perf() - started)
    return out


def bare_latency(work: Workload, samples: int) -> list[float]:
    """The same round trip on bare python-can: the Notifier's listener only sets an
    Event, the main thread waits on it (the floor python-can itself imposes)."""
    name = f"bench-{next(_channel_ids)}"
    msg = work.frames("varying")[0]
    seen = threading.Event()
    out: list[float] = []
    with ExitStack() as stack:
        rx = _virtual_bus(stack, name)
        notifier = can.Notifier(rx, [lambda _msg: seen.set()], timeout=0.1)
        stack.callback(notifier.stop)
        tx = _virtual_bus(stack, name)
        send = tx.send
        perf = time.perf_counter
        _collect()
        for _ in range(samples):
            seen.clear()
            started = perf()
            send(msg)
            if not seen.wait(1.0):
                raise RuntimeError("the bare listener missed a latency frame")
            out.append(perf() - started)
    return out


# -- running and reporting ----------------------------------------------------------


@dataclass
class Figure:
    """Repeated timings of the harness and of the baseline for one throughput figure."""

    label: str
    frames: int
    over_bus: bool
    harness: list[float]
    bare: list[float]

    def rate(self, side: str) -> float:
        return self.frames / statistics.median(self.harness if side == "harness" else self.bare)

    def ratio(self) -> float:
        """Harness cost over bare cost (median seconds over median seconds)."""
        return statistics.median(self.harness) / statistics.median(self.bare)

    def cell(self, side: str) -> str:
        times = self.harness if side == "harness" else self.bare
        rate = self.rate(side)
        low, high = self.frames / max(times) / 1e3, self.frames / min(times) / 1e3
        return f"{rate:>9,.0f} f/s {1e6 / rate:5.2f} us [{low:,.0f}-{high:,.0f}k]"


def run_rounds(
    rounds: int, label: str, frames: int, harness: Callable[[], float], bare: Callable[[], float]
) -> Figure:
    """Time both sides ``rounds`` times, alternating which goes first so drift in the
    machine's load hits both alike."""
    figure = Figure(label, frames, False, [], [])
    for r in range(rounds):
        order = [(figure.harness, harness), (figure.bare, bare)]
        for out, func in order if r % 2 == 0 else order[::-1]:
            out.append(func())
    return figure


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def machine_facts() -> list[str]:
    # cantools decodes with bitstruct's C extension when it is there
    kind = "C extension" if importlib.util.find_spec("bitstruct.c") else "pure Python"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    python = f"{platform.python_implementation()} {platform.python_version()}"
    system = f"{platform.platform(terse=True)} ({platform.machine()})"
    libs = f"python-can {can.__version__}, cantools {cantools.__version__}"
    switch = f"GIL switch interval {sys.getswitchinterval() * 1e3:g} ms"
    return [
        f"python  : {python} on {system}",
        f"libs    : {libs}, bitstruct {_version('bitstruct')} ({kind})",
        f"cpus    : {os.cpu_count()} ({usable} usable); load average {_load_average()}; {switch}",
    ]


DESCRIPTION = "Throughput and latency of the harness's CAN channel against bare python-can."
Latency = dict[str, dict[str, float]]
"""side ("harness", "bare") -> statistic ("median", "p99", "max") -> microseconds."""


def measure_throughput(work: Workload, rounds: int) -> list[Figure]:
    figures = []
    count = len(work.varying)
    for variant in ("varying", "repeating"):
        batch = work.frames(variant)
        figures.append(
            run_rounds(
                rounds,
                f"pure processing, {variant} payloads",
                count,
                functools.partial(harness_processing, work, batch),
                functools.partial(bare_processing, work, batch),
            )
        )
    for variant in ("varying", "repeating"):
        batch = work.frames(variant)
        figure = run_rounds(
            rounds,
            f"over virtual bus, {variant} payloads",
            count + 1,  # the sentinel
            functools.partial(harness_over_bus, work, batch),
            functools.partial(bare_over_bus, work, batch),
        )
        figure.over_bus = True
        figures.append(figure)
    return figures


def measure_latency(work: Workload, rounds: int, samples: int) -> Latency:
    seconds: dict[str, list[float]] = {"harness": [], "bare": []}
    for r in range(rounds):
        order = [("harness", harness_latency), ("bare", bare_latency)]
        for side, func in order if r % 2 == 0 else order[::-1]:
            seconds[side].extend(func(work, samples))
    return {
        side: {
            "median": statistics.median(v) * 1e6,
            "p99": percentile(v, 0.99) * 1e6,
            "max": max(v) * 1e6,
        }
        for side, v in seconds.items()
    }


def print_header(work: Workload, rounds: int, samples: int) -> None:
    print(f"ECU harness benchmarks, {datetime.now():%Y-%m-%d %H:%M}")
    for line in machine_facts():
        print(line)
    shown = work.path.relative_to(ROOT) if work.path.is_relative_to(ROOT) else work.path
    print(f"dbc     : {shown} ({work.note})")
    print(
        f"traffic : {', '.join(m.name for m in work.mix)} round-robin, then sentinel "
        f"{work.sentinel.name}; {len(work.varying):,} frames a run"
    )
    varying, repeating = (distinct_share(work.frames(v)) for v in ("varying", "repeating"))
    print(f"payloads: varying {varying:.0%} distinct, repeating {repeating:.2%} distinct")
    print(
        f"rounds  : {rounds} of every figure (medians, [slowest-fastest]); latency "
        f"{rounds} x {samples} round trips"
    )
    print(
        "timing  : pure processing = receive path called directly, thread CPU time; "
        "over virtual bus = wall clock, first send to sentinel seen"
    )
    print()


def print_tables(figures: Sequence[Figure], latency: Latency) -> None:
    w = 36
    print(f"{'THROUGHPUT':<{w}} {'harness':>32} {'bare loop':>32} {'cost':>6}")
    for f in figures:
        print(f"{f.label:<{w}} {f.cell('harness'):>32} {f.cell('bare'):>32} {f.ratio():>5.2f}x")
    print()
    print(f"{'LATENCY send -> wait returns':<{w}} {'harness':>32} {'bare loop':>32} {'cost':>6}")
    for key in ("median", "p99", "max"):
        h, b = latency["harness"][key], latency["bare"][key]
        print(f"{'  ' + key:<{w}} {h:>29.1f} us {b:>29.1f} us {h / b:>5.2f}x")
    pure = next(f for f in figures if not f.over_bus)
    bus = next(f for f in figures if f.over_bus)
    bare_bus = statistics.median(bus.bare) / bus.frames
    bare_pure = statistics.median(pure.bare) / pure.frames
    print()
    print(
        f"where the time goes: over the virtual bus the bare loop takes {bare_bus * 1e6:.2f} us "
        f"a frame, of which decode + append is {bare_pure * 1e6:.2f} us; the other "
        f"{(bare_bus - bare_pure) * 1e6:.2f} us is the bus hop (a Message deepcopy per "
        "receiver, queue put/get, thread wake-ups and GIL hand-offs)"
    )


def judge(figures: Sequence[Figure], latency: Latency) -> list[tuple[bool, str]]:
    verdicts: list[tuple[bool, str]] = []
    for f in figures:
        rate = f.rate("harness")
        note = f" (bare loop on the same bus: {f.rate('bare'):,.0f})" if f.over_bus else ""
        text = f"throughput >= {TARGET_RATE:,.0f} f/s, {f.label}: {rate:,.0f}{note}"
        verdicts.append((rate >= TARGET_RATE, text))
    verdicts.extend(
        (f.ratio() <= TARGET_RATIO, f"cost <= {TARGET_RATIO}x bare, {f.label}: {f.ratio():.2f}x")
        for f in figures
    )
    for key, target in (("median", TARGET_MEDIAN_US), ("p99", TARGET_P99_US)):
        value, floor = latency["harness"][key], latency["bare"][key]
        text = f"latency {key} <= {target:g} us: {value:.1f} us (bare python-can: {floor:.1f})"
        verdicts.append((value <= target, text))
    return verdicts


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--frames", type=int, help="frames per throughput run (default 40000)")
    parser.add_argument("--quick", action="store_true", help="a few seconds, rougher figures")
    parser.add_argument("--rounds", type=int, help="repetitions of every figure (default 5)")
    parser.add_argument("--samples", type=int, help="latency round trips a round (default 1000)")
    parser.add_argument("--dbc", type=Path, help="DBC to take the traffic mix from")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    frames = _given(args.frames, 5_000 if args.quick else 40_000)
    rounds = _given(args.rounds, 3 if args.quick else 5)
    samples = _given(args.samples, 300 if args.quick else 1000)
    if min(frames, rounds, samples) < 1:
        parser.error("--frames, --rounds and --samples must be positive")

    began = time.perf_counter()
    work = build_workload(args.dbc, frames)
    print_header(work, rounds, samples)
    figures = measure_throughput(work, rounds)
    latency = measure_latency(work, rounds, samples)
    print_tables(figures, latency)
    verdicts = judge(figures, latency)
    print()
    print("TARGETS")
    for ok, text in verdicts:
        print(f"  [{'PASS' if ok else 'MISS'}] {text}")
    print(f"\ntotal {time.perf_counter() - began:.1f} s; load average now {_load_average()}")
    return 1 if args.strict and not all(ok for ok, _ in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())

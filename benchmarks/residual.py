"""Transmit jitter of the residual-bus simulation on this machine.

50 messages with periods from 10 to 100 ms, each with a rolling counter and a
J1850 checksum, sent by a :class:`~harness.sim.nodes.SimulatedNodes` on the
in-process virtual bus. The cycle-time error of every interval (measured from
the bus timestamps the receiver sees) is summarised as median and p99. The
baseline, measured in the same run, is python-can's own cyclic tasks sending
the same 50 fixed payloads: what the simulation adds is the ratio.

    .venv/bin/python benchmarks/residual.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import uuid
from collections import defaultdict
from collections.abc import Callable

import can
import cantools

from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase
from harness.sim.nodes import SimulatedNodes

MESSAGES = 50
PERIODS_MS = [10, 20, 50, 100]


def database() -> SignalDatabase:
    """50 messages from node Sim, periods cycling through 10/20/50/100 ms."""
    lines = ['VERSION ""', "NS_ :", "BS_:", "BU_: Sim Rx"]
    attributes = ['BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;', 'BA_DEF_DEF_ "GenMsgCycleTime" 0;']
    for index in range(MESSAGES):
        frame_id = 0x200 + index
        lines += [
            f"BO_ {frame_id} M{index}: 8 Sim",
            ' SG_ Value : 0|16@1+ (1,0) [0|65535] "" Rx',
            ' SG_ Counter : 48|4@1+ (1,0) [0|15] "" Rx',
            ' SG_ Checksum : 56|8@1+ (1,0) [0|255] "" Rx',
        ]
        period = PERIODS_MS[index % len(PERIODS_MS)]
        attributes.append(f'BA_ "GenMsgCycleTime" BO_ {frame_id} {period};')
    return SignalDatabase(cantools.database.load_string("\n".join(lines + attributes), "dbc"))


def errors_ms(stamps: dict[int, list[float]], periods: dict[int, float]) -> list[float]:
    """Every interval's deviation from its period, in milliseconds (absolute)."""
    errors = []
    for frame_id, times in stamps.items():
        period = periods[frame_id]
        errors += [abs((b - a) - period) * 1000 for a, b in itertools.pairwise(times)]
    return errors


def measure(start: Callable[[str], Callable[[], None]], seconds: float) -> dict[int, list[float]]:
    """Start a sender on a fresh virtual channel; record receive timestamps for ``seconds``."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    stamps: dict[int, list[float]] = defaultdict(list)
    receiver = can.Bus(interface="virtual", channel=name)
    stop_sender = start(name)
    first: float | None = None
    try:
        while True:
            msg = receiver.recv(timeout=1.0)
            if msg is None:
                raise RuntimeError("the sender stopped sending")
            stamps[msg.arbitration_id].append(msg.timestamp)
            first = msg.timestamp if first is None else first
            if msg.timestamp - first >= seconds:
                return stamps
    finally:
        stop_sender()
        receiver.shutdown()


def with_residual_bus(db: SignalDatabase) -> Callable[[str], Callable[[], None]]:
    def start(name: str) -> Callable[[], None]:
        channel = Channel("sim", can.Bus(interface="virtual", channel=name), db)
        residual = SimulatedNodes(channel, ["Sim"])

        def stop() -> None:
            residual.close()
            channel.close()

        return stop

    return start


def with_bare_python_can(db: SignalDatabase) -> Callable[[str], Callable[[], None]]:
    def start(name: str) -> Callable[[], None]:
        bus = can.Bus(interface="virtual", channel=name)
        tasks = [
            bus.send_periodic(
                can.Message(arbitration_id=m.frame_id, data=bytes(8), is_extended_id=False),
                (m.cycle_time or 100) / 1000,
            )
            for m in db.messages
        ]

        def stop() -> None:
            for task in tasks:
                task.stop()
            bus.shutdown()

        return stop

    return start


def summary(errors: list[float]) -> tuple[float, float]:
    ordered = sorted(errors)
    return statistics.median(ordered), ordered[int(0.99 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per variant")
    args = parser.parse_args()
    db = database()
    periods = {m.frame_id: (m.cycle_time or 100) / 1000 for m in db.messages}
    rows = []
    for label, start in (
        ("python-can cyclic tasks (baseline)", with_bare_python_can(db)),
        ("harness residual bus", with_residual_bus(db)),
    ):
        stamps = measure(start, args.seconds)
        errors = errors_ms(stamps, periods)
        rows.append((label, len(errors), *summary(errors)))
    print(
        f"residual-bus transmit jitter: {MESSAGES} messages at 10-100 ms, {args.seconds:g} s each"
    )
    print(f"{'variant':<38} {'intervals':>9} {'median ms':>10} {'p99 ms':>8}")
    for label, count, median, p99 in rows:
        print(f"{label:<38} {count:>9} {median:>10.3f} {p99:>8.3f}")
    base, ours = rows[0], rows[1]
    median_ratio, p99_ratio = ours[2] / base[2], ours[3] / base[3]
    print(f"ratio (residual bus / baseline): median {median_ratio:.2f}x, p99 {p99_ratio:.2f}x")


if __name__ == "__main__":
    main()

"""Cross-process CAN buses side by side: python-can's ``udp_multicast`` against
python-can-remote's TCP server (what ``harness simulate --serve`` offers).

A child process sends; this process receives, as a test run does against a
simulation in another process. Per transport, in one run:

- **burst**: N frames (default 200 000) sent back to back, each carrying its sequence
  number; frames lost (never received once the sender is done and the receiver has
  heard nothing for ``--quiet`` seconds), throughput (frames received / time from the
  first send to the last receive), and latency (receive time - send time, both
  ``time.time()`` on this machine) median and p99, which in a burst is mostly queueing;
- **paced**: ``--paced`` frames one every millisecond: latency median and p99 of a
  bus that is not saturated.

For the remote bus the sender is a ``virtual`` bus in the server's process (the
simulated ECUs' side) unless ``--remote-sender client``, where it is a second
python-can-remote client (firmware built for the host). ``--nodelay`` sets TCP_NODELAY
on the client sockets (the server sets it on its side already).

    .venv/bin/python benchmarks/crossprocess.py [--frames 200000] [--paced 2000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import socket
import statistics
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType

import can

from harness.sim.multicast import GROUP
from harness.sim.network_bus import NetworkBus

SEQ = struct.Struct(">II")  # sequence number, send time in microseconds (mod 2**32)
WRAP = 2**32


@dataclass
class Figures:
    sent: int
    received: int
    seconds: float
    latencies: list[float]
    cpu: float = 0.0
    """CPU seconds of this (receiving) process during the run."""
    child_cpu: float = 0.0
    """CPU seconds of the child processes (sender; for the remote bus also the server)."""

    @property
    def lost(self) -> int:
        return self.sent - self.received

    def row(self, label: str) -> str:
        rate = self.received / self.seconds if self.seconds else 0.0
        lat = sorted(self.latencies)
        median = statistics.median(lat) * 1e3 if lat else float("nan")
        p99 = lat[int(len(lat) * 0.99) - 1] * 1e3 if lat else float("nan")
        per = 1e6 / max(self.received, 1)
        return (
            f"{label:<34} {self.sent:>8} {self.lost:>7} {100 * self.lost / self.sent:>7.3f}% "
            f"{rate:>10,.0f} {median:>9.3f} {p99:>9.3f} "
            f"{self.cpu * per:>7.1f} {self.child_cpu * per:>7.1f}"
        )


def _frame(seq: int) -> can.Message:
    return can.Message(
        arbitration_id=0x123,
        data=SEQ.pack(seq, int(time.time() * 1e6) % WRAP),
        is_extended_id=False,
    )


def _nodelay(bus: can.BusABC) -> None:
    sock = getattr(bus, "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _send(
    open_bus: Callable[[], can.BusABC], frames: int, paced: bool, go: EventType, nodelay: bool
) -> None:
    """The child: wait for the receiver, then send ``frames`` frames."""
    bus = open_bus()
    if nodelay:
        _nodelay(bus)
    try:
        go.wait(30)
        tick = threading.Event()
        for seq in range(frames):
            bus.send(_frame(seq))
            if paced:
                tick.wait(0.001)
    finally:
        bus.shutdown()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _receive(bus: can.BusABC, frames: int, started: threading.Event, quiet: float) -> Figures:
    cpu = time.process_time()
    seen = bytearray(frames)
    latencies: list[float] = []
    first_send = last = 0.0
    while True:
        msg = bus.recv(quiet)
        if msg is None:
            break
        now = time.time()
        if msg.arbitration_id != 0x123 or len(msg.data) < SEQ.size:
            continue
        seq, sent_us = SEQ.unpack_from(bytes(msg.data))
        if seq >= frames or seen[seq]:
            continue
        seen[seq] = 1
        latency = ((int(now * 1e6) - sent_us) % WRAP) / 1e6
        if not first_send:
            first_send = now - latency
        last = now
        latencies.append(latency)
        started.set()
    return Figures(frames, sum(seen), last - first_send, latencies, time.process_time() - cpu)


def _udp_bus(port: int) -> can.BusABC:
    return can.Bus(interface="udp_multicast", channel=GROUP, port=port)


def _remote_bus(url: str) -> can.BusABC:
    return can.Bus(interface="remote", channel=url)


def _virtual_bus(channel: str) -> can.BusABC:
    return can.Bus(interface="virtual", channel=channel)


def _serve_and_send(
    channel: str,
    ready: multiprocessing.Queue,
    frames: int,
    paced: bool,
    events: tuple[EventType, EventType],
) -> None:
    """The child for the remote bus: the server and the sending virtual bus (the
    simulation's side), as ``harness simulate --serve`` has them."""
    with NetworkBus.serve({"bench": channel}, "127.0.0.1", 0) as served:
        ready.put(served.channels[0].url)
        go, done = events
        _send(lambda: _virtual_bus(channel), frames, paced, go, nodelay=False)
        done.wait(600)  # keep serving until the receiver has everything


def run_udp(frames: int, paced: bool, quiet: float) -> Figures:
    port = 40000 + uuid.uuid4().int % 20000
    receiver = _udp_bus(port)
    go = multiprocessing.Event()
    child = multiprocessing.Process(
        target=_send, args=(lambda: _udp_bus(port), frames, paced, go, False)
    )
    before = _children_cpu()
    try:
        child.start()
        go.set()  # udp_multicast: no way to know the sender joined; it sends when ready
        figures = _receive(receiver, frames, threading.Event(), quiet)
    finally:
        child.join(60)
        receiver.shutdown()
    figures.child_cpu = _children_cpu() - before
    return figures


def run_remote(frames: int, paced: bool, quiet: float, sender: str, nodelay: bool) -> Figures:
    channel = f"xp-{uuid.uuid4().hex[:8]}"
    go = multiprocessing.Event()
    done = multiprocessing.Event()
    children = []
    before = _children_cpu()
    if sender == "server":
        ready: multiprocessing.Queue = multiprocessing.Queue()
        server = multiprocessing.Process(
            target=_serve_and_send, args=(channel, ready, frames, paced, (go, done))
        )
        server.start()
        url = ready.get(timeout=30)
        children.append(server)
        served = None
    else:
        served = NetworkBus.serve({"bench": channel}, "127.0.0.1", 0)
        url = served.channels[0].url
    receiver = _remote_bus(url)
    if nodelay:
        _nodelay(receiver)
    try:
        if sender == "client":
            child = multiprocessing.Process(
                target=_send, args=(lambda: _remote_bus(url), frames, paced, go, nodelay)
            )
            child.start()
            children.append(child)
        go.set()
        figures = _receive(receiver, frames, threading.Event(), quiet)
    finally:
        done.set()
        receiver.shutdown()
        for child in children:
            child.join(60)
        if served is not None:
            served.close()
    figures.child_cpu = _children_cpu() - before
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--paced", type=int, default=2000, help="frames sent 1 ms apart")
    parser.add_argument(
        "--quiet", type=float, default=2.0, help="seconds of silence that end a run"
    )
    parser.add_argument("--remote-sender", choices=("server", "client"), default="server")
    parser.add_argument("--nodelay", action="store_true", help="TCP_NODELAY on client sockets")
    parser.add_argument("--skip-udp", action="store_true")
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="sys.setswitchinterval in every process, seconds (Python's default: 0.005)",
    )
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)  # the children are forked: theirs too
    multiprocessing.set_start_method("fork")
    print("latency in ms; cpu in us per frame received, of this process (rx) and the children")
    print(
        f"{'transport / traffic':<34} {'sent':>8} {'lost':>7} {'loss':>8} "
        f"{'frames/s':>10} {'lat p50':>9} {'lat p99':>9} {'rx cpu':>7} {'tx cpu':>7}"
    )
    remote = f"remote ({args.remote_sender} sends{', nodelay' if args.nodelay else ''}"
    remote += f", switch {args.switch_interval * 1e3:g} ms)" if args.switch_interval else ")"
    results = {}
    for label, paced, frames in (("burst", False, args.frames), ("paced 1 kHz", True, args.paced)):
        if not args.skip_udp:
            udp = run_udp(frames, paced, args.quiet)
            print(udp.row(f"udp_multicast, {label}"), flush=True)
            results[("udp", label)] = udp
        tcp = run_remote(frames, paced, args.quiet, args.remote_sender, args.nodelay)
        print(tcp.row(f"{remote}, {label}"), flush=True)
        results[("remote", label)] = tcp
    if ("udp", "burst") in results:
        udp, tcp = results[("udp", "burst")], results[("remote", "burst")]
        ratio = (tcp.received / tcp.seconds) / (udp.received / udp.seconds)
        print(f"burst throughput remote / udp_multicast: {ratio:.2f}x")
    lost = results[("remote", "burst")].lost
    print(f"remote burst: {lost} of {args.frames} lost ({'PASS' if lost == 0 else 'MISS'}: 0 lost)")
    rate = results[("remote", "burst")].received / results[("remote", "burst")].seconds
    print(f"remote burst: {rate:,.0f} frames/s ({'PASS' if rate >= 16000 else 'MISS'}: 16 000)")


if __name__ == "__main__":
    main()

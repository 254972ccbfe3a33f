"""Helpers of the gateway suite: frames a test can recognise on the far side, and why a
forwarded frame is not the one sent.

A probe is a frame of a routed message that no sender on the bench has sent: the latest
values heard on the source channel (else the DBC's initial values) with the widest data
signal moved by one raw step, the rolling counter one on from the latest frame, and the
checksum right (harness.canbus.protection). A receiver sees nothing but one more
plausible frame, so the networks are left as they were; the test finds exactly those
bytes again on the target channel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cantools.database.can import Message, Signal
from cantools.database.namedsignalvalue import NamedSignalValue

from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase, default_value
from harness.canbus.expect import require_db
from harness.canbus.frame import Frame
from harness.canbus.protection import checksum_problem, counter_modulo, declared, protect
from harness.canbus.routing import Blocked, Route, RoutingTable

LEAK_PAYLOAD = b"GW-LEAK!"
"""Payload of the frame with an ID no database knows, sent to see that it stays put."""


@dataclass(frozen=True)
class RouteUnderTest:
    """A route of the routing table with the bench channels at both ends."""

    route: Route
    source: Channel
    target: Channel
    definition: Message

    @property
    def limit(self) -> float:
        return self.route.max_latency


@dataclass(frozen=True)
class Crossing:
    """One direction between two channels of the table, and what must not cross it."""

    source: str
    target: str
    blocked: tuple[Blocked, ...]
    window: float
    """Seconds the target is watched: a few times the slowest route's latency limit."""

    def __str__(self) -> str:
        return f"{self.source}->{self.target}"


LEAK_WINDOW_MIN = 0.2
"""Seconds a crossing is watched at least, however fast the routes are."""


def crossings(routing: RoutingTable) -> list[Crossing]:
    """Every direction between channels the table connects (routed or blocked), both ways."""
    pairs: list[tuple[str, str]] = []
    entries: list[Route | Blocked] = [*routing.routes, *routing.blocked]
    for entry in entries:
        for pair in ((entry.source, entry.target), (entry.target, entry.source)):
            if pair not in pairs:
                pairs.append(pair)
    slowest = max(route.max_latency for route in routing.routes)
    window = max(LEAK_WINDOW_MIN, 3 * slowest)
    return [
        Crossing(
            source,
            target,
            tuple(b for b in routing.blocked if (b.source, b.target) == (source, target)),
            window,
        )
        for source, target in pairs
    ]


def plain(value: Any) -> Any:
    """A decoded value as a number (value-table entries by their raw value)."""
    return value.value if isinstance(value, NamedSignalValue) else value


def nudged(signal: Signal, value: Any, steps: int = 1) -> float:
    """``value`` moved by ``steps`` raw steps of ``signal``, up if that stays in range, else
    down: a value a receiver finds plausible, which no sender has just sent. A value
    outside the range (a value-table entry such as 99 "UNKNOWN") gives the nearest bound."""
    scale = float(signal.scale)
    number = float(plain(value))
    slack = abs(scale) * 1e-6
    low = -math.inf if signal.minimum is None else signal.minimum - slack
    high = math.inf if signal.maximum is None else signal.maximum + slack
    for candidate in (number + steps * scale, number - steps * scale):
        if low <= candidate <= high:
            return candidate
    return float(signal.maximum if number > high else signal.minimum)  # type: ignore[arg-type]


def probe_signal(definition: Message, values: Mapping[str, Any]) -> Signal:
    """The signal a probe moves: the widest that is neither counter, checksum nor
    multiplexer, and in the multiplexed branch ``values`` select (the last of equals,
    which tends to be the least consequential)."""
    protection = declared(definition)
    reserved = {protection.counter, protection.checksum}
    selectors = {
        s.name: int(plain(values.get(s.name, default_value(s))))
        for s in definition.signals
        if s.is_multiplexer
    }

    def in_branch(signal: Signal) -> bool:
        if signal.multiplexer_ids is None:
            return True
        return selectors.get(signal.multiplexer_signal or "") in signal.multiplexer_ids

    candidates = [
        s
        for s in definition.signals
        if s.name not in reserved and not s.is_multiplexer and in_branch(s)
    ]
    if not candidates:
        raise ValueError(f"{definition.name} has no data signal a probe could move")
    return max(reversed(candidates), key=lambda s: s.length)


def probe_payload(channel: Channel, definition: Message) -> bytes:
    """The bytes of a probe of ``definition`` on ``channel`` (see the module docstring)."""
    latest = channel.latest(definition.name)
    values: dict[str, Any] = {}
    if latest is not None and latest.signals and not latest.decode_error:
        values = {name: plain(value) for name, value in latest.signals.items()}
    signal = probe_signal(definition, values)
    values[signal.name] = nudged(signal, values.get(signal.name, default_value(signal)))
    protection = declared(definition)
    counter = 0
    if protection.counter is not None and protection.counter in values:
        counter = (int(values[protection.counter]) + 1) % counter_modulo(definition, protection)
        values[protection.counter] = counter
    buffer = bytearray(require_db(channel).encode(definition.name, values)[1])
    protect(buffer, definition, protection, counter)
    return bytes(buffer)


def send_probe(channel: Channel, definition: Message) -> Frame:
    """Send a probe of ``definition`` on ``channel``; the frame as sent (with its time)."""
    return channel.send_raw(
        definition.frame_id,
        probe_payload(channel, definition),
        is_extended_id=definition.is_extended_frame,
        is_fd=definition.is_fd,
    )


def same_payload(sent: Frame) -> Callable[[Frame], bool]:
    """``where`` for the frame carrying exactly the bytes of ``sent``."""

    def carries(frame: Frame) -> bool:
        return frame.data == sent.data

    carries.__qualname__ = f"payload == {sent.data.hex(' ')}"
    return carries


def unknown_id(databases: Iterable[SignalDatabase]) -> int:
    """The highest 11-bit ID none of ``databases`` declares: a frame nobody should route."""
    for candidate in range(0x7FF, 0, -1):
        if all(db.message_for(candidate, False) is None for db in databases):
            return candidate
    raise ValueError("every 11-bit ID is declared")


def bit_distance(a: bytes, b: bytes) -> int:
    """How many bits differ (a length difference counts as every bit of the missing bytes)."""
    common = sum((x ^ y).bit_count() for x, y in zip(a, b, strict=False))
    return common + 8 * abs(len(a) - len(b))


def explain_mismatch(route: RouteUnderTest, sent: Frame, arrived: list[Frame]) -> str:
    """Why none of ``arrived`` (frames of the route's message on the target after the probe)
    is the probe: the closest one, signal by signal, and its checksum."""
    head = (
        f"route {route.route}: the probe sent on {route.source.name!r} did not arrive unchanged "
        f"on {route.target.name!r}\n  sent:    {sent.describe()}"
    )
    if not arrived:
        return f"{head}\n  no frame of {route.route.message} arrived at all"
    checksum = declared(route.definition).checksum

    def distance(frame: Frame) -> tuple[int, int]:
        """Signals that differ (the checksum aside: it follows the rest), then bits."""
        differing = sum(
            1
            for name, value in sent.signals.items()
            if name != checksum and plain(frame.signals.get(name)) != plain(value)
        )
        return differing, bit_distance(frame.data, sent.data)

    candidates = [f for f in arrived if f.timestamp >= sent.timestamp] or arrived
    closest = min(candidates, key=distance)
    lines = [
        head,
        f"  closest: {closest.describe(sent.timestamp)}",
        f"  bytes:   {sent.data.hex(' ')} sent, {closest.data.hex(' ')} arrived",
    ]
    changed = [
        f"{name}: sent {plain(value)!r}, arrived {plain(closest.signals.get(name))!r}"
        for name, value in sent.signals.items()
        if plain(closest.signals.get(name)) != plain(value)
    ]
    if changed:
        lines.append("  changed signals: " + "; ".join(changed))
    problem = checksum_problem(closest.data, route.definition, declared(route.definition))
    if problem:
        lines.append(f"  checksum: {problem}")
    lines.append(f"  ({len(arrived)} frame(s) of {route.route.message} arrived in all)")
    return "\n".join(lines)

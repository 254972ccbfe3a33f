"""A simulated gateway ECU: forwards frames between bench channels per its routing table
(:mod:`harness.canbus.routing`). The gateway's ECU file holds the table under
``[gateway]``, or points to the gateway's DUT profile with
``[gateway] profile = "../dut/gateway.toml"``; the tester's bench file names the same
profile, so the simulation and the gateway suite read one table.

Forwarding is event-driven: a route fires on the receive thread of its ``from``
channel when the frame arrives (a delayed route through a :class:`Scheduler`).
Seeded faults of the ECU file add ``routing = [{ kind = ..., ... }]`` primitives
(:data:`ROUTE_FAULT_KINDS`); a primitive picks routes by ``message``, ``from``, ``to``.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cantools.database import DecodeError
from cantools.database.namedsignalvalue import NamedSignalValue

from harness.canbus.database import SignalDatabase
from harness.canbus.protection import protect
from harness.canbus.routing import (
    Route,
    RoutingTable,
    SnapshotRoute,
    load_routing,
    parse_routing,
)
from harness.datafile import Table, suggest
from harness.exceptions import ConfigError, HarnessError
from harness.sim.scheduler import Scheduler

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.canbus.frame import Frame
    from harness.sim.ecu import EcuDefinition, SimulatedEcu

log = logging.getLogger(__name__)

ROUTE_FAULT_KINDS: dict[str, str] = {
    "drop": "frames of the route are not forwarded",
    "delay": "frames of the route go out `delay_ms` late",
    "corrupt_signal": "`signal` goes out changed by `add` (counter and checksum recomputed)",
    "corrupt_byte": "byte `byte` goes out XORed with `mask` (checksum left as it was)",
    "wrong_id": "frames of the route go out on arbitration ID `id`",
    "forward_unrouted": "frames heard on `from` that no route takes to `to` go there too",
    "freeze_snapshot": "the snapshot keeps its values: source signals are no longer copied",
}
"""Routing fault primitives a seeded fault can name (``routing = [{ kind = ... }]``)."""

_PER_ROUTE = ("drop", "delay", "corrupt_signal", "corrupt_byte", "wrong_id")
"""Kinds that act on the routes their ``message``/``from``/``to`` select."""


@dataclass(frozen=True)
class RouteFault:
    """One routing fault primitive; see :data:`ROUTE_FAULT_KINDS`."""

    kind: str
    message: str | None = None
    source: str | None = None
    target: str | None = None
    delay: float = 0.0
    signal: str | None = None
    add: float = 1.0
    byte: int = 0
    mask: int = 0xFF
    arbitration_id: int = 0

    def applies(self, route: Route) -> bool:
        """Whether this primitive acts on ``route`` (unset selectors match every route)."""
        return (
            self.kind in _PER_ROUTE
            and self.message in (None, route.message)
            and self.source in (None, route.source)
            and self.target in (None, route.target)
        )


@dataclass(frozen=True)
class GatewaySetup:
    """What a gateway ECU file says beyond an ordinary ECU: its table and routing faults."""

    routing: RoutingTable
    faults: Mapping[str, tuple[RouteFault, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Seeded fault name -> its routing primitives."""

    @property
    def channels(self) -> list[str]:
        """Every channel the table and the faults name."""
        names = self.routing.channels
        for primitives in self.faults.values():
            for fault in primitives:
                for name in (fault.source, fault.target):
                    if name is not None and name not in names:
                        names.append(name)
        return names


# -- reading tables ------------------------------------------------------------------


def gateway_config(definition: EcuDefinition) -> GatewaySetup:
    """The routing table and routing faults of a gateway ECU file, validated."""
    source = str(definition.path)
    if not definition.gateway:
        bad = next(f for f in definition.faults.values() if f.routing)
        raise ConfigError(
            source, f"faults.{bad.name}.routing", "routing faults need a [gateway] routing table"
        )
    table = Table(definition.gateway, source, "gateway")
    profile = table.optional_str("profile")
    if profile is not None:
        inline = [key for key in ("routes", "blocked", "snapshot") if key in table.data]
        if inline:
            raise table.error(inline[0], "give the routing table inline or as profile =, not both")
        path = (definition.path.parent / profile).resolve()
        if not path.is_file():
            raise table.error("profile", f"routing table (gateway DUT profile) not found: {path}")
        routing = load_routing(path, definition.db)
    else:
        routing = parse_routing(table, definition.db, definition.path, definition.name)
    table.finish()
    snapshot = routing.snapshot
    if (
        snapshot is not None
        and definition.node not in definition.db.message(snapshot.message).senders
    ):
        raise ConfigError(
            str(routing.path),
            "snapshot.message",
            f"{snapshot.message} is not sent by {definition.node} (the gateway's node)",
        )
    faults: dict[str, tuple[RouteFault, ...]] = {}
    for fault in definition.faults.values():
        primitives = tuple(
            _route_fault(
                Table(raw, source, f"faults.{fault.name}.routing[{i}]"), routing, definition.db
            )
            for i, raw in enumerate(fault.routing)
        )
        if primitives:
            faults[fault.name] = primitives
    return GatewaySetup(routing, MappingProxyType(faults))


def _route_fault(table: Table, routing: RoutingTable, db: SignalDatabase) -> RouteFault:
    kind = table.required_str("kind")
    if kind not in ROUTE_FAULT_KINDS:
        raise table.error(
            "kind",
            f"unknown routing fault {kind!r}{suggest(kind, list(ROUTE_FAULT_KINDS))}; "
            f"known: {', '.join(ROUTE_FAULT_KINDS)}",
        )
    message = table.optional_str("message")
    source = table.optional_str("from")
    target = table.optional_str("to")
    channels = routing.channels
    for key, channel in (("from", source), ("to", target)):
        if channel is not None and channel not in channels:
            raise table.error(
                key,
                f"the routing table names no channel {channel!r}{suggest(channel, channels)}; "
                f"channels: {', '.join(channels)}",
            )
    fault = RouteFault(kind, message, source, target)
    if kind in _PER_ROUTE:
        routes = [route for route in routing.routes if fault.applies(route)]
        if not routes:
            known = ", ".join(str(r) for r in routing.routes)
            hint = suggest(message or "", sorted({r.message for r in routing.routes}))
            raise table.error(
                "message" if message else "kind",
                f"no route of {routing.path.name} matches{hint}; routes: {known}",
            )
        fault = _per_route_parameters(table, fault, routes, db)
    elif message is not None:
        raise table.error("message", f"{kind} acts on no single route: leave message out")
    elif kind == "forward_unrouted" and (source is None or target is None):
        raise table.error("from" if source is None else "to", "forward_unrouted needs from and to")
    elif kind == "freeze_snapshot" and routing.snapshot is None:
        raise table.error("kind", f"{routing.path.name} has no [snapshot] to freeze")
    table.finish()
    return fault


def _per_route_parameters(
    table: Table, fault: RouteFault, routes: Sequence[Route], db: SignalDatabase
) -> RouteFault:
    kind = fault.kind
    if kind == "delay":
        delay = table.number("delay_ms", 0.0)
        if delay <= 0:
            raise table.error("delay_ms", "give the extra latency in ms (> 0)")
        return _with(fault, delay=delay / 1000)
    if kind == "corrupt_signal":
        signal = table.required_str("signal")
        for route in routes:
            names = sorted(s.name for s in db.message(route.message).signals)
            if signal not in names:
                raise table.error(
                    "signal", f"{route.message} has no signal {signal!r}{suggest(signal, names)}"
                )
        add = table.number("add", 1.0, minimum=-math.inf)
        if add == 0:
            raise table.error("add", "must not be 0 (that corrupts nothing)")
        return _with(fault, signal=signal, add=add)
    if kind == "corrupt_byte":
        byte = table.optional_int("byte", minimum=0) or 0
        mask = table.optional_int("mask") or 0xFF
        if mask > 0xFF:
            raise table.error("mask", f"expected a byte mask 1..0xFF, got 0x{mask:X}")
        return _with(fault, byte=byte, mask=mask)
    if kind == "wrong_id":
        arbitration_id = table.optional_int("id", minimum=0)
        if arbitration_id is None:
            raise table.error("id", "missing (expected the arbitration ID frames go out on)")
        for route in routes:
            limit = 0x1FFFFFFF if route.is_extended_id else 0x7FF
            if arbitration_id > limit or arbitration_id == route.arbitration_id:
                raise table.error(
                    "id",
                    f"0x{arbitration_id:X} is no wrong ID for {route} "
                    f"(ID 0x{route.arbitration_id:X}, max 0x{limit:X})",
                )
        return _with(fault, arbitration_id=arbitration_id)
    return fault


def _with(fault: RouteFault, **changes: Any) -> RouteFault:
    return RouteFault(**{**fault.__dict__, **changes})


def check_attachment(
    setup: GatewaySetup, joined: Sequence[str], home: str, source: str, key: str
) -> None:
    """The channels the table routes over are channels the ECU joins, and the snapshot goes
    where the ECU sends its own messages; ConfigErrors name the bench file's key."""
    for channel in setup.channels:
        if channel not in joined:
            raise ConfigError(
                source,
                f"{key}.channels",
                f"the routing table ({setup.routing.path.name}) routes over {channel!r}, which "
                f"the ECU does not join{suggest(channel, list(joined))}; it joins: "
                f"{', '.join(joined)}",
            )
    snapshot = setup.routing.snapshot
    if snapshot is not None and snapshot.target != home:
        raise ConfigError(
            source,
            f"{key}.channel",
            f"the gateway sends {snapshot.message} on {snapshot.target!r} (its routing table), "
            f"so its own channel must be {snapshot.target!r}, not {home!r}",
        )


# -- the simulation ------------------------------------------------------------------


class Gateway:
    """Forwards frames between ``channels`` (bench channel name -> the ECU's channel there)
    as the ECU's routing table says, with its seeded routing faults; fills the snapshot.

    A :class:`~harness.sim.ecu.Service` of its simulated ECU: it runs while the ECU is
    powered, and reads the ECU's active faults on every frame, so ``fault_on`` acts at once.
    """

    def __init__(
        self,
        ecu: SimulatedEcu,
        channels: Mapping[str, Channel],
        setup: GatewaySetup | None = None,
    ) -> None:
        self.ecu = ecu
        self.setup = setup or gateway_config(ecu.definition)
        missing = [name for name in self.setup.channels if name not in channels]
        if missing:
            raise ConfigError(
                str(ecu.definition.path),
                "gateway",
                f"routes over {', '.join(map(repr, missing))}, which the gateway is not "
                f"attached to; attached: {', '.join(channels) or 'none'}",
            )
        self.channels = dict(channels)
        self.routes: dict[tuple[str, int, bool], tuple[Route, ...]] = {}
        for route in self.setup.routing.routes:
            key = (route.source, route.arbitration_id, route.is_extended_id)
            self.routes[key] = (*self.routes.get(key, ()), route)
        snapshot = self.setup.routing.snapshot
        self._sources = snapshot.sources() if snapshot is not None else {}
        self.forwarded = 0
        """Frames sent on (including leaked and corrupted ones)."""
        self.dropped = 0
        self._listeners: list[tuple[Channel, Callable[[Frame], None]]] = []
        self._scheduler: Scheduler | None = None
        self._faults: tuple[frozenset[str], tuple[RouteFault, ...]] = (frozenset(), ())

    def start(self) -> None:
        if self._scheduler is not None:
            return
        self._scheduler = Scheduler(f"gateway {self.ecu.name}")
        for name, channel in self.channels.items():
            listener = functools.partial(self._on_frame, name)
            channel.subscribe(listener)
            self._listeners.append((channel, listener))

    def stop(self) -> None:
        for channel, listener in self._listeners:
            channel.unsubscribe(listener)
        self._listeners.clear()
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None

    def active_faults(self) -> tuple[RouteFault, ...]:
        """The routing primitives of the ECU's faults switched on now (cached per set)."""
        names = frozenset(self.ecu.active_faults)
        key, primitives = self._faults
        if names != key:
            primitives = tuple(p for n in sorted(names) for p in self.setup.faults.get(n, ()))
            self._faults = (names, primitives)
        return primitives

    # -- receive threads ---------------------------------------------------------------

    def _on_frame(self, source: str, frame: Frame) -> None:
        if frame.is_error or frame.is_remote:
            return
        faults = self.active_faults()
        routes = self.routes.get((source, frame.arbitration_id, frame.is_extended_id), ())
        for route in routes:
            self._forward(route, frame, faults)
        for fault in faults:
            if (
                fault.kind == "forward_unrouted"
                and fault.source == source
                and fault.target is not None
                and not any(route.target == fault.target for route in routes)
            ):
                self._send(fault.target, frame.arbitration_id, frame.data, frame)
        snapshot = self.setup.routing.snapshot
        if snapshot is not None and source == snapshot.source and frame.name in self._sources:
            self._update_snapshot(snapshot, frame, faults)

    def _forward(self, route: Route, frame: Frame, faults: tuple[RouteFault, ...]) -> None:
        data = frame.data
        arbitration_id = frame.arbitration_id
        delay = 0.0
        for fault in faults:
            if not fault.applies(route):
                continue
            if fault.kind == "drop":
                self.dropped += 1
                return
            if fault.kind == "delay":
                delay += fault.delay
            elif fault.kind == "corrupt_signal":
                data = self._corrupt_signal(route, data, fault)
            elif fault.kind == "corrupt_byte" and fault.byte < len(data):
                buffer = bytearray(data)
                buffer[fault.byte] ^= fault.mask
                data = bytes(buffer)
            elif fault.kind == "wrong_id":
                arbitration_id = fault.arbitration_id
        scheduler = self._scheduler
        if delay > 0 and scheduler is not None:
            scheduler.call_later(
                delay, lambda: self._send(route.target, arbitration_id, data, frame)
            )
        else:
            self._send(route.target, arbitration_id, data, frame)

    def _send(self, target: str, arbitration_id: int, data: bytes, frame: Frame) -> None:
        try:
            self.channels[target].send_raw(
                arbitration_id, data, is_extended_id=frame.is_extended_id, is_fd=frame.is_fd
            )
        except HarnessError as exc:  # the bench is closing, or the target cannot carry it
            log.warning(
                "gateway %s: cannot forward %s to %s: %s", self.ecu.name, frame, target, exc
            )
        else:
            self.forwarded += 1

    def _corrupt_signal(self, route: Route, data: bytes, fault: RouteFault) -> bytes:
        """``data`` with one signal changed, counter kept and checksum made right again."""
        db = self.ecu.definition.db
        definition = db.message(route.message)
        try:
            values = {k: _plain(v) for k, v in db.decode(definition, data).items()}
        except (DecodeError, ValueError, TypeError, KeyError):
            return data  # undecodable: forwarded as it came
        assert fault.signal is not None, "validated on loading"
        signal = definition.get_signal_by_name(fault.signal)
        value = float(values[fault.signal]) + fault.add
        if signal.maximum is not None and value > signal.maximum:
            value -= 2 * fault.add
        values[fault.signal] = value
        try:
            buffer = bytearray(db.encode(route.message, values)[1])
        except HarnessError:
            return data
        protection = db.protection(route.message)
        counter = int(values[protection.counter]) if protection.counter else 0
        protect(buffer, definition, protection, counter)
        return bytes(buffer)

    def _update_snapshot(
        self, snapshot: SnapshotRoute, frame: Frame, faults: tuple[RouteFault, ...]
    ) -> None:
        if not frame.signals or any(f.kind == "freeze_snapshot" for f in faults):
            return
        residual = self.ecu.residual
        sim = residual.messages.get(snapshot.message) if residual is not None else None
        if sim is None or frame.name is None:
            return
        changes = {
            target: _plain(frame.signals[signal])
            for signal, target in self._sources[frame.name].items()
            if signal in frame.signals
        }
        current = sim.values
        if all(current.get(name) == value for name, value in changes.items()):
            return
        try:
            sim.update(changes)
        except HarnessError as exc:  # a source value the snapshot signal cannot hold
            log.warning("gateway %s: snapshot not updated from %s: %s", self.ecu.name, frame, exc)


def _plain(value: Any) -> Any:
    """A decoded value as a number (value-table entries by their raw value)."""
    return value.value if isinstance(value, NamedSignalValue) else value


def attach_gateway(ecu: SimulatedEcu, channels: Mapping[str, Channel]) -> Gateway:
    """The ``gateway`` row of :data:`harness.sim.ecu.SERVICES`: routing over every channel
    the ECU joins, while it is powered."""
    gateway = Gateway(ecu, channels)
    ecu.attach(gateway)
    return gateway

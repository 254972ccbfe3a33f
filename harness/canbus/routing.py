"""The routing table of a gateway: which messages it forwards between which bench
channels, within what latency, which it must keep on their side, and which signals it
copies into a snapshot message. One TOML table (the gateway's DUT profile) serves both
the tester (``[gateway] profile`` in a bench file: testsuites/gateway) and the simulated
gateway (harness.sim.gateway):

- ``[[routes]]``: ``message`` (DBC name), ``from`` and ``to`` (the gateway's ports: bench
  channel names, or names a bench maps with ``[gateway] ports``) and
  ``max_latency_ms``: every frame of the message heard on ``from`` goes out, unchanged,
  on ``to`` within that time;
- ``[[blocked]]``: ``message``, ``from``, ``to``: a message that must stay on its side;
- ``[snapshot]``: signal routing. ``message`` (sent by the gateway itself on ``to``),
  ``from``, and ``[snapshot.signals]`` ``SnapshotSignal = "Message.Signal"``: the
  snapshot carries the latest value of each source signal heard on ``from``.

>>> routing = load_routing("fixtures/dut/gateway.toml", db)     # doctest: +SKIP
>>> [str(route) for route in routing.routes]                     # doctest: +SKIP
['ABS_WheelSpeeds:body->chassis', ...]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from harness.canbus.database import SignalDatabase
from harness.datafile import Table, read_toml, suggest
from harness.exceptions import ConfigError, UnknownNameError

if TYPE_CHECKING:
    from cantools.database.can import Message

    from harness.canbus.config import CanChannelConfig

Databases = SignalDatabase | Mapping[str, SignalDatabase]
"""One database for every channel (a gateway's ECU file), or one per bench channel."""


@dataclass(frozen=True)
class Route:
    """Frames of ``message`` heard on ``source`` go out on ``target`` within ``max_latency``."""

    message: str
    source: str
    target: str
    max_latency: float
    """Seconds."""
    arbitration_id: int
    is_extended_id: bool

    def __str__(self) -> str:
        return f"{self.message}:{self.source}->{self.target}"


@dataclass(frozen=True)
class Blocked:
    """Frames of ``message`` heard on ``source`` must never reach ``target``."""

    message: str
    source: str
    target: str
    arbitration_id: int
    is_extended_id: bool

    def __str__(self) -> str:
        return f"{self.message}:{self.source}-/->{self.target}"


@dataclass(frozen=True)
class SnapshotRoute:
    """Signal routing: ``message`` (sent by the gateway on ``target``) carries the latest
    values of source signals heard on ``source``."""

    message: str
    source: str
    target: str
    signals: Mapping[str, tuple[str, str]]
    """Snapshot signal -> (source message, source signal)."""

    def __str__(self) -> str:
        return f"{self.message}:{self.source}->{self.target}"

    def sources(self) -> dict[str, dict[str, str]]:
        """Source message -> {source signal: snapshot signal}."""
        found: dict[str, dict[str, str]] = {}
        for snapshot_signal, (message, signal) in self.signals.items():
            found.setdefault(message, {})[signal] = snapshot_signal
        return found


Entry = TypeVar("Entry", Route, Blocked, SnapshotRoute)


@dataclass(frozen=True)
class RoutingTable:
    """A gateway's routing table, validated against the database(s) of its channels."""

    path: Path
    name: str
    routes: tuple[Route, ...]
    blocked: tuple[Blocked, ...] = ()
    snapshot: SnapshotRoute | None = None

    def on_channels(self, ports: Mapping[str, str]) -> RoutingTable:
        """The same table with its port names replaced by the bench channels ``ports``
        maps them to (names not in ``ports`` stay)."""

        def moved(entry: Entry) -> Entry:
            source, target = (ports.get(n, n) for n in (entry.source, entry.target))
            return replace(entry, source=source, target=target)

        return replace(
            self,
            routes=tuple(moved(route) for route in self.routes),
            blocked=tuple(moved(entry) for entry in self.blocked),
            snapshot=moved(self.snapshot) if self.snapshot is not None else None,
        )

    @property
    def channels(self) -> list[str]:
        """Every channel the table names, in the order it names them."""
        names: list[str] = []
        for entry in (*self.routes, *self.blocked, self.snapshot):
            if entry is not None:
                for name in (entry.source, entry.target):
                    if name not in names:
                        names.append(name)
        return names


def load_routing(path: str | Path, databases: Databases) -> RoutingTable:
    """Read a routing table (a gateway's DUT profile); mistakes are ConfigErrors naming the
    file and key. ``databases`` resolves message names: one database, or one per channel
    (then channel names are checked against it too)."""
    path = Path(path)
    doc = Table(read_toml(path, "routing table"), str(path), "")
    head = doc.table("profile")
    name = head.optional_str("name") or path.stem
    head.finish()
    routing = parse_routing(doc, databases, path, name)
    doc.finish()
    return routing


def parse_routing(doc: Table, databases: Databases, path: Path, name: str) -> RoutingTable:
    """The ``routes``, ``blocked`` and ``snapshot`` keys of ``doc`` (which the caller
    finishes: it may hold keys of its own)."""
    routes = tuple(_route(table, databases) for table in doc.tables("routes"))
    if not routes:
        raise doc.error("routes", "a routing table needs at least one [[routes]] entry")
    seen: set[tuple[str, str, str]] = set()
    for index, route in enumerate(routes):
        key = (route.message, route.source, route.target)
        if key in seen:
            raise doc.error(f"routes[{index}]", f"route {route} is given twice")
        seen.add(key)
    blocked = tuple(_blocked(table, databases) for table in doc.tables("blocked"))
    for index, entry in enumerate(blocked):
        if (entry.message, entry.source, entry.target) in seen:
            raise doc.error(
                f"blocked[{index}]",
                f"{entry} is also routed ({entry.source!r} to {entry.target!r}): "
                "a message is routed or blocked, not both",
            )
    snapshot_table = doc.table("snapshot")
    snapshot = _snapshot(snapshot_table, databases) if snapshot_table.data else None
    return RoutingTable(path, name, routes, blocked, snapshot)


def _channel_db(table: Table, key: str, channel: str, databases: Databases) -> SignalDatabase:
    if isinstance(databases, SignalDatabase):
        return databases
    db = databases.get(channel)
    if db is None:
        known = ", ".join(databases) or "none"
        raise table.error(
            key,
            f"no bench CAN channel {channel!r} with a database{suggest(channel, list(databases))}"
            f"; channels: {known} (a port of the gateway: map it to a bench channel with the "
            "bench's [gateway] ports)",
        )
    return db


def _message(table: Table, key: str, db: SignalDatabase, name: str) -> Message:
    try:
        return db.message(name)
    except UnknownNameError as exc:
        raise table.error(key, str(exc)) from None


def _endpoints(table: Table, databases: Databases) -> tuple[str, str, Message]:
    """``message``, ``from`` and ``to`` of an entry, the message known on both channels."""
    name = table.required_str("message")
    source = table.required_str("from")
    target = table.required_str("to")
    if source == target:
        raise table.error("to", f"must be another channel than from ({source!r})")
    definition = _message(table, "message", _channel_db(table, "from", source, databases), name)
    there = _message(table, "message", _channel_db(table, "to", target, databases), name)
    if (there.frame_id, there.is_extended_frame) != (
        definition.frame_id,
        definition.is_extended_frame,
    ):
        raise table.error(
            "message",
            f"{name} has ID 0x{definition.frame_id:X} on {source!r} "
            f"but 0x{there.frame_id:X} on {target!r}: a route keeps the ID",
        )
    return source, target, definition


def _route(table: Table, databases: Databases) -> Route:
    source, target, definition = _endpoints(table, databases)
    if "max_latency_ms" not in table.data:
        unseen = [key for key in table.data if key not in ("message", "from", "to")]
        typo = suggest("max_latency_ms", unseen).replace("did you mean", "misspelled as")
        raise table.error("max_latency_ms", f"missing (the route's maximum latency in ms){typo}")
    latency = table.number("max_latency_ms", 0.0)
    if latency <= 0:
        raise table.error("max_latency_ms", "the route's maximum latency must be > 0 ms")
    table.finish()
    return Route(
        definition.name,
        source,
        target,
        latency / 1000,
        definition.frame_id,
        definition.is_extended_frame,
    )


def _blocked(table: Table, databases: Databases) -> Blocked:
    source, target, definition = _endpoints(table, databases)
    table.finish()
    return Blocked(
        definition.name, source, target, definition.frame_id, definition.is_extended_frame
    )


def _snapshot(table: Table, databases: Databases) -> SnapshotRoute:
    name = table.required_str("message")
    source = table.required_str("from")
    target = table.required_str("to")
    snapshot = _message(table, "message", _channel_db(table, "to", target, databases), name)
    source_db = _channel_db(table, "from", source, databases)
    own = sorted(s.name for s in snapshot.signals)
    signals_table = table.table("signals")
    signals: dict[str, tuple[str, str]] = {}
    for signal in list(signals_table.data):
        text = signals_table.required_str(signal)
        if signal not in own:
            raise signals_table.error(
                signal, f"{name} has no signal {signal!r}{suggest(signal, own)}"
            )
        message, dot, source_signal = text.partition(".")
        if not dot:
            raise signals_table.error(signal, f'expected "Message.Signal", got {text!r}')
        definition = _message(signals_table, signal, source_db, message)
        names = sorted(s.name for s in definition.signals)
        if source_signal not in names:
            raise signals_table.error(
                signal, f"{message} has no signal {source_signal!r}{suggest(source_signal, names)}"
            )
        signals[signal] = (definition.name, source_signal)
    signals_table.finish()
    if not signals:
        raise table.error("signals", "map at least one snapshot signal to a source signal")
    table.finish()
    return SnapshotRoute(name, source, target, MappingProxyType(signals))


@dataclass(frozen=True)
class GatewayConfig:
    """The tester's side of a gateway DUT: where its routing table (DUT profile) is."""

    profile: Path
    """The routing table (fixtures/dut/*.toml), resolved against the bench file."""
    ports: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The gateway's port names as its routing table gives them -> bench CAN channels. A
    name the table uses that is not here is taken as a bench channel name."""


def parse_gateway(
    table: Table, path: Path, channels: Mapping[str, CanChannelConfig]
) -> GatewayConfig | None:
    """``[gateway] profile = "..."``: the routing table the gateway suite tests against
    (checked against the bench's channels and databases when the bench opens), and
    ``ports = { body = "can0" }`` where the table's names are not the bench's."""
    if not table.data:
        return None
    profile = (path.parent / table.required_str("profile")).resolve()
    if not profile.is_file():
        raise table.error("profile", f"routing table (gateway DUT profile) not found: {profile}")
    ports_table = table.table("ports")
    ports: dict[str, str] = {}
    for port in list(ports_table.data):
        channel = ports_table.required_str(port)
        config = channels.get(channel)
        if config is None or config.dbc is None:
            with_dbc = [name for name, c in channels.items() if c.dbc is not None]
            raise ports_table.error(
                port,
                f"no bench CAN channel {channel!r} with a dbc{suggest(channel, with_dbc)}; "
                f"channels with one: {', '.join(with_dbc) or 'none'}",
            )
        if channel in ports.values():
            raise ports_table.error(port, f"channel {channel!r} is given to two ports")
        ports[port] = channel
    ports_table.finish()
    table.finish()
    return GatewayConfig(profile, MappingProxyType(ports))


def check_routing(
    gateway: GatewayConfig, channels: Mapping[str, CanChannelConfig], source: str
) -> RoutingTable:
    """The routing table ``gateway`` names, checked against the bench's ``channels`` and
    their databases (``source``: the bench file, for errors)."""
    loaded: dict[tuple[Path, bool], SignalDatabase] = {}
    databases: dict[str, SignalDatabase] = {}
    for name, channel in channels.items():
        if channel.dbc is not None:
            key = (channel.dbc, channel.strict_dbc)
            if key not in loaded:
                loaded[key] = SignalDatabase.load(channel.dbc, strict=channel.strict_dbc)
            databases[name] = loaded[key]
    named = _names_in(gateway.profile)
    for port in gateway.ports:
        if port not in named:
            raise ConfigError(
                source,
                f"gateway.ports.{port}",
                f"the routing table {gateway.profile.name} names no port {port!r}"
                f"{suggest(port, named)}; it names {', '.join(named) or 'none'}",
            )
    # The table's names: its ports as the bench maps them, else bench channel names.
    by_name = {**databases, **{port: databases[c] for port, c in gateway.ports.items()}}
    return load_routing(gateway.profile, by_name).on_channels(gateway.ports)


def _names_in(path: Path) -> list[str]:
    """The ``from``/``to`` names a routing table file uses, read before it is checked (so
    that a mistyped port of the bench file is reported there, not as a missing channel)."""
    doc = read_toml(path, "routing table")
    entries = [*doc.get("routes", []), *doc.get("blocked", []), doc.get("snapshot", {})]
    names: list[str] = []
    for entry in entries:
        for key in ("from", "to"):
            value = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(value, str) and value not in names:
                names.append(value)
    return names

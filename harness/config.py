"""Bench files: TOML in, frozen dataclasses out.

A bench file says what is on a bench: its CAN channels, the device under test
(DUT), and the sections later layers read (serial devices, power, diagnostics,
simulation). Every error names the file, the key path and what was expected;
an unknown key is rejected with a "did you mean" suggestion, because a typo in
a bench file must not silently fall back to a default.

>>> bench = load_bench("fixtures/benches/virtual.toml")  # doctest: +SKIP
>>> bench.can["body"].interface                          # doctest: +SKIP
'virtual'

Overrides (``--bench-set`` or ``HARNESS_BENCH_SET``) change single keys
without editing the file, e.g. ``can.body.channel=can1``, so CI can point a
shared bench file at its own interface.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.datafile import Table, apply_override, read_toml, suggest

BENCH_ENV = "HARNESS_BENCH"
"""Environment variable naming the bench file when no option does."""

OVERRIDES_ENV = "HARNESS_BENCH_SET"
"""Environment variable with whitespace-separated ``key.path=value`` overrides."""

DEFAULT_BENCH = Path("fixtures") / "benches" / "virtual.toml"
"""The virtual bench, relative to the project root, used when nothing else is named."""

DEFAULT_HISTORY = 100_000
"""Frames a channel keeps for expectations and evidence."""


@dataclass(frozen=True)
class CanChannelConfig:
    """One CAN channel: which python-can interface, and which database decodes it."""

    name: str
    interface: str
    channel: str
    bitrate: int | None = None
    fd: bool = False
    data_bitrate: int | None = None
    dbc: Path | None = None
    dut_node: str | None = None
    strict_dbc: bool = True
    history: int = DEFAULT_HISTORY
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Extra keyword arguments for ``can.Bus`` (e.g. ``app_name`` for Vector)."""


@dataclass(frozen=True)
class SimulatedEcuConfig:
    """A simulated ECU the bench brings up (virtual benches, residual-bus simulation)."""

    name: str
    file: Path
    """The ECU file (fixtures/ecus/*.toml), relative to the bench file."""
    channel: str
    """The bench CAN channel it joins: where its own messages go."""
    faults: tuple[str, ...] = ()
    """Seeded faults switched on from the start."""
    enabled: bool = True
    period_ms: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Cycle-time overrides by message name, over the ECU file and the database."""
    channels: tuple[str, ...] = ()
    """Every bench CAN channel it is attached to (a gateway joins several); always holds
    ``channel``. Empty when constructed by hand means just ``channel``."""

    def __post_init__(self) -> None:
        if not self.channels:
            object.__setattr__(self, "channels", (self.channel,))


@dataclass(frozen=True)
class GatewayConfig:
    """The tester's side of a gateway DUT: where its routing table (DUT profile) is."""

    profile: Path
    """The routing table (fixtures/dut/*.toml), resolved against the bench file."""
    ports: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The gateway's port names as its routing table gives them -> bench CAN channels. A
    name the table uses that is not here is taken as a bench channel name."""


@dataclass(frozen=True)
class DutConfig:
    """The device under test as the lab identifies it."""

    name: str
    part_number: str | None = None
    identity: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Free-form identity (supplier, hardware version, serial number...)."""


@dataclass(frozen=True)
class BenchConfig:
    """Everything a bench file says, validated."""

    path: Path
    name: str
    description: str
    dut: DutConfig
    can: Mapping[str, CanChannelConfig]
    serial: Mapping[str, Mapping[str, Any]]
    power: Mapping[str, Any]
    diagnostics: Mapping[str, Any]
    simulation: Mapping[str, SimulatedEcuConfig]
    """Simulated ECUs by name (``[simulation.ecus.NAME]``)."""
    gateway: GatewayConfig | None = None
    """``[gateway]``: the routing table of a gateway under test (testsuites/gateway)."""

    def has(self, kind: str, name: str | None = None) -> bool:
        """Whether the bench has a resource of ``kind`` ("can", "serial", "power",
        "diagnostics", "simulation"), optionally of that name."""
        section = getattr(self, kind, None)
        if not isinstance(section, Mapping) or not section:
            return False
        return name is None or name in section


def resolve_bench_path(path: str | Path | None = None, root: Path | None = None) -> Path:
    """The bench file to use: the one given, else ``$HARNESS_BENCH``, else the virtual bench
    under ``root`` (the project root; default the working directory)."""
    chosen = path or os.environ.get(BENCH_ENV)
    if chosen:
        return Path(chosen)
    return (root or Path.cwd()) / DEFAULT_BENCH


def overrides_from_env() -> list[str]:
    """``key.path=value`` overrides listed in ``$HARNESS_BENCH_SET``."""
    return shlex.split(os.environ.get(OVERRIDES_ENV, ""))


def load_bench(path: str | Path, overrides: Iterable[str] = ()) -> BenchConfig:
    """Read and validate a bench file; ``overrides`` are ``key.path=value`` strings."""
    path = Path(path)
    raw = read_toml(path, "bench file")
    for override in overrides:
        apply_override(raw, override, str(path))
    config = _parse_bench(Table(raw, str(path), ""), path)
    _check_devices(config)
    return config


def _check_devices(config: BenchConfig) -> None:
    """``[serial.*]`` and ``[power]`` are validated by the devices layer, on loading."""
    if config.serial or config.power:
        from harness.devices.config import parse_devices  # noqa: PLC0415 - it imports this module

        parse_devices(config)


def _parse_bench(doc: Table, path: Path) -> BenchConfig:
    bench = doc.table("bench")
    name = bench.optional_str("name") or path.stem
    description = bench.optional_str("description", "") or ""
    bench.finish()

    dut_table = doc.table("dut")
    dut = DutConfig(
        name=dut_table.optional_str("name") or "DUT",
        part_number=dut_table.optional_str("part_number"),
        identity=dut_table.free_form("identity"),
    )
    dut_table.finish()

    can_table = doc.table("can")
    channels = {
        channel_name: _parse_channel(can_table.table(channel_name), channel_name, path)
        for channel_name in list(can_table.data)
    }
    can_table.finish()

    serial = doc.table("serial")
    serial_devices = {device: serial.free_form(device) for device in list(serial.data)}
    serial.finish()

    simulation = doc.table("simulation")
    ecus_table = simulation.table("ecus")
    ecus = {
        ecu: _parse_simulated_ecu(ecus_table.table(ecu), ecu, path, channels)
        for ecu in list(ecus_table.data)
    }
    ecus_table.finish()
    simulation.finish()

    config = BenchConfig(
        path=path,
        name=name,
        description=description,
        dut=dut,
        can=MappingProxyType(channels),
        serial=MappingProxyType(serial_devices),
        power=doc.free_form("power"),
        diagnostics=doc.free_form("diagnostics"),
        simulation=MappingProxyType({k: v for k, v in ecus.items() if v.enabled}),
        gateway=_parse_gateway(doc.table("gateway"), path, channels),
    )
    doc.finish()
    return config


def _parse_channel(table: Table, name: str, path: Path) -> CanChannelConfig:
    dbc_text = table.optional_str("dbc")
    dbc = (path.parent / dbc_text).resolve() if dbc_text else None
    if dbc is not None and not dbc.is_file():
        raise table.error("dbc", f"database file not found: {dbc}")
    fd = table.boolean("fd", False)
    data_bitrate = table.optional_int("data_bitrate")
    if data_bitrate is not None and not fd:
        raise table.error("data_bitrate", "set only for CAN FD channels (add fd = true)")
    dut_node = table.optional_str("dut_node")
    if dut_node is not None and dbc is None:
        raise table.error("dut_node", "needs a database (set dbc) to name a node in")
    channel = CanChannelConfig(
        name=name,
        interface=table.required_str("interface"),
        channel=table.required_str("channel"),
        bitrate=table.optional_int("bitrate"),
        fd=fd,
        data_bitrate=data_bitrate,
        dbc=dbc,
        dut_node=dut_node,
        strict_dbc=table.boolean("strict_dbc", True),
        history=table.optional_int("history", minimum=16) or DEFAULT_HISTORY,
        options=table.free_form("options"),
    )
    table.finish()
    return channel


def _parse_simulated_ecu(
    table: Table, name: str, path: Path, channels: Mapping[str, CanChannelConfig]
) -> SimulatedEcuConfig:
    file = (path.parent / table.required_str("file")).resolve()
    if not file.is_file():
        raise table.error("file", f"ECU file not found: {file}")
    joined = _joined_channels(table, channels)
    channel = table.optional_str("channel") or (
        joined[0] if joined else next(iter(channels)) if len(channels) == 1 else ""
    )
    if channel not in channels:
        known = ", ".join(channels) or "none"
        raise table.error(
            "channel",
            f"name the bench CAN channel it joins{suggest(channel, list(channels))}; "
            f"channels: {known}",
        )
    if joined and channel not in joined:
        raise table.error(
            "channel",
            f"{channel!r} (where its own messages go) must be one of channels = {joined}",
        )
    periods = table.table("period_ms")
    period_ms = {
        message: periods.number(message, 0.0, minimum=0.1) for message in list(periods.data)
    }
    periods.finish()
    ecu = SimulatedEcuConfig(
        name=name,
        file=file,
        channel=channel,
        faults=tuple(table.str_list("faults")),
        enabled=table.boolean("enabled", True),
        period_ms=MappingProxyType(period_ms),
        channels=tuple(joined) or (channel,),
    )
    table.finish()
    return ecu


def _joined_channels(table: Table, channels: Mapping[str, CanChannelConfig]) -> list[str]:
    """``channels = [...]``: the bench channels an ECU attached to several (a gateway) joins."""
    joined = table.str_list("channels")
    if "channels" in table.data and not joined:
        raise table.error("channels", "name at least one bench CAN channel, or leave it out")
    for index, name in enumerate(joined):
        if name not in channels:
            known = ", ".join(channels) or "none"
            raise table.error(
                f"channels[{index}]",
                f"no bench CAN channel {name!r}{suggest(name, list(channels))}; channels: {known}",
            )
        if name in joined[:index]:
            raise table.error(f"channels[{index}]", f"{name!r} is named twice")
    return joined


def _parse_gateway(
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

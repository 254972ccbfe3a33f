"""Bench files: TOML in, typed frozen sections out, parsed once.

A bench file says what is on a bench: its CAN channels, the device under test
(DUT), serial devices, power, diagnostics, simulated ECUs and a gateway's routing
table. Each section is read by its domain's parser (:data:`SECTIONS`), so the rest
of the harness works on typed values and never looks at the TOML again. Every error
names the file, the key path and what was expected; an unknown key is rejected with a
"did you mean" suggestion, because a typo in a bench file must not silently fall back
to a default.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.canbus.config import CanChannelConfig, parse_can_channel
from harness.canbus.routing import GatewayConfig, RoutingTable, check_routing, parse_gateway
from harness.datafile import Table, apply_override, read_toml, suggest
from harness.devices.config import PowerConfig, SerialDeviceConfig, parse_power, parse_serial_device
from harness.diag.config import DiagConfig, parse_diagnostics, parse_frame_format
from harness.exceptions import ConfigError
from harness.sim.device import fault_table
from harness.sim.doip import ROUTINGS
from harness.sim.multicast import carried

BENCH_ENV = "HARNESS_BENCH"
"""Environment variable naming the bench file when no option does."""

OVERRIDES_ENV = "HARNESS_BENCH_SET"
"""Environment variable with whitespace-separated ``key.path=value`` overrides."""

DEFAULT_BENCH = Path("fixtures") / "benches" / "virtual.toml"
"""The virtual bench, relative to the project root, used when nothing else is named."""


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
    isotp: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """``isotp = { can_fd = true, frame_size = 64 }``: the frame format of its UDS server's
    ISO-TP on this bench, over its ECU file's ``[diagnostics]``."""
    doip: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """``doip = { routing = "local" }``: its DoIP entity's routing on this bench, over its
    ECU file's ``[doip]`` (``"local"``: a DoIP-native ECU, the server on board)."""

    def __post_init__(self) -> None:
        if not self.channels:
            object.__setattr__(self, "channels", (self.channel,))


@dataclass(frozen=True)
class DutConfig:
    """The device under test as the lab identifies it."""

    name: str
    part_number: str | None = None
    identity: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Free-form identity (supplier, hardware version, serial number...)."""


@dataclass(frozen=True)
class BenchConfig:
    """Everything a bench file says, validated once, in typed sections."""

    path: Path
    name: str
    description: str
    dut: DutConfig
    can: Mapping[str, CanChannelConfig]
    serial: Mapping[str, SerialDeviceConfig] = field(default_factory=lambda: MappingProxyType({}))
    """``[serial.NAME]``: consoles, modems, power supplies."""
    power: PowerConfig | None = None
    """``[power]``: the supply that powers the DUT."""
    diagnostics: DiagConfig | None = None
    """``[diagnostics]``: how the tester reaches the DUT (transport, addressing, profile)."""
    simulation: Mapping[str, SimulatedEcuConfig] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Simulated ECUs by name (``[simulation.ecus.NAME]``), the enabled ones."""
    gateway: GatewayConfig | None = None
    """``[gateway]``: the routing table of a gateway under test (testsuites/gateway)."""
    written: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """The file's tables as written (overrides applied), for showing a user what the
    file says; the typed sections above are what the harness reads."""

    def has(self, kind: str, name: str | None = None) -> bool:
        """Whether the bench has a resource of ``kind`` ("can", "serial", "power",
        "diagnostics", "simulation", "gateway"), optionally of that name."""
        section = getattr(self, kind, None)
        if isinstance(section, Mapping):
            return bool(section) and (name is None or name in section)
        return section is not None and name is None

    def of_kind(self, kind: str) -> list[SerialDeviceConfig]:
        """The serial devices of ``kind`` ("console", "modem", "power")."""
        return [device for device in self.serial.values() if device.kind == kind]


TESTABLE_SECTIONS = ("can", "serial", "power", "diagnostics")
"""The sections that give a test something to talk to; a bench naming none of them
would let every suite skip its way to a green run."""


def require_something_to_test(config: BenchConfig) -> BenchConfig:
    """``config`` itself; a :class:`ConfigError` when it names nothing to test."""
    if not any(config.has(kind) for kind in TESTABLE_SECTIONS):
        raise ConfigError(
            str(config.path),
            "",
            "names nothing to test (no CAN channel, serial device, power supply or "
            "diagnostics: add a [can.NAME], [serial.NAME], [power] or [diagnostics] table)",
        )
    return config


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
    overridden: dict[str, str] = {}
    for override in overrides:
        apply_override(raw, override, str(path))
        overridden[override.partition("=")[0].strip()] = f"override {override!r} of {path}"
    doc = Table(raw, str(path), "")
    parsed: dict[str, Any] = {}
    try:
        for name, parse in SECTIONS.items():
            parsed[name] = parse(doc.table(name), _Context(path, parsed))
        doc.finish()
    except ConfigError as exc:
        source = _override_of(exc.key, overridden)
        if source is None:
            raise
        raise ConfigError(source, exc.key, exc.problem) from exc
    bench, description = parsed.pop("bench")
    return BenchConfig(
        path=path, name=bench, description=description, written=MappingProxyType(raw), **parsed
    )


def _override_of(key: str, overridden: Mapping[str, str]) -> str | None:
    """The override that set ``key`` or a table holding it (the last wins), if any."""
    parts = key.split(".")
    for depth in range(len(parts), 0, -1):
        source = overridden.get(".".join(parts[:depth]))
        if source is not None:
            return source
    return None


@dataclass(frozen=True)
class _Context:
    """What a section parser may read besides its table: the bench file and the sections
    parsed before it."""

    path: Path
    parsed: Mapping[str, Any]

    @property
    def channels(self) -> Mapping[str, CanChannelConfig]:
        channels: Mapping[str, CanChannelConfig] = self.parsed["can"]
        return channels

    def resolve(self, text: str) -> Path:
        """A path of the bench file, relative to it."""
        return (self.path.parent / text).resolve()


def _bench(table: Table, context: _Context) -> tuple[str, str]:
    name = table.optional_str("name") or context.path.stem
    description = table.optional_str("description", "") or ""
    table.finish()
    return name, description


def _dut(table: Table, context: _Context) -> DutConfig:
    dut = DutConfig(
        name=table.optional_str("name") or "DUT",
        part_number=table.optional_str("part_number"),
        identity=table.free_form("identity"),
    )
    table.finish()
    return dut


def _can(table: Table, context: _Context) -> Mapping[str, CanChannelConfig]:
    channels = {
        name: parse_can_channel(table.table(name), name, context.path) for name in list(table.data)
    }
    table.finish()
    return MappingProxyType(channels)


def _serial(table: Table, context: _Context) -> Mapping[str, SerialDeviceConfig]:
    devices = {}
    for name in list(table.data):
        device_table = table.table(name)
        device = parse_serial_device(device_table, name, context.path)
        _check_built_into(device_table, device, context.channels)
        _check_device_faults(device_table, device)
        devices[name] = device
    table.finish()
    return MappingProxyType(devices)


def _check_built_into(
    table: Table, device: SerialDeviceConfig, channels: Mapping[str, CanChannelConfig]
) -> None:
    if device.can is not None and device.can not in channels:
        raise table.error(
            "can",
            f"no [can.{device.can}] in this bench{suggest(device.can, list(channels))}"
            f"; CAN channels: {', '.join(channels) or 'none'}",
        )


def _check_device_faults(table: Table, device: SerialDeviceConfig) -> None:
    """``faults = [...]`` of a simulated device: names from its simulation file."""
    if not device.faults:
        return
    if device.simulation is None:
        raise table.error("faults", "only for simulated devices (set simulation)")
    known = fault_table(device.kind, device.simulation)
    for fault in device.faults:
        if fault not in known:
            raise table.error(
                "faults",
                f"{device.simulation.name} has no fault {fault!r}{suggest(fault, list(known))}; "
                f"faults: {', '.join(known) or 'none'}",
            )


def _power(table: Table, context: _Context) -> PowerConfig | None:
    if not table.data:
        return None
    serial: Mapping[str, SerialDeviceConfig] = context.parsed["serial"]
    return parse_power(table, serial)


def _diagnostics(table: Table, context: _Context) -> DiagConfig | None:
    if not table.data:
        return None
    config = parse_diagnostics(table, context.path.parent, list(context.channels))
    if (
        config.transport == "isotp"
        and config.isotp.can_fd
        and not context.channels[config.channel].fd
    ):
        raise table.error(
            "can_fd", f"channel {config.channel!r} is classic CAN (set fd = true on it)"
        )
    return config


def _simulation(table: Table, context: _Context) -> Mapping[str, SimulatedEcuConfig]:
    ecus_table = table.table("ecus")
    ecus = {
        ecu: _parse_simulated_ecu(ecus_table.table(ecu), ecu, context.path, context.channels)
        for ecu in list(ecus_table.data)
    }
    ecus_table.finish()
    table.finish()
    return MappingProxyType({name: ecu for name, ecu in ecus.items() if ecu.enabled})


def _gateway(table: Table, context: _Context) -> GatewayConfig | None:
    return parse_gateway(table, context.path, context.channels)


SECTIONS: dict[str, Callable[[Table, _Context], Any]] = {
    "bench": _bench,
    "dut": _dut,
    "can": _can,
    "serial": _serial,
    "power": _power,
    "diagnostics": _diagnostics,
    "simulation": _simulation,
    "gateway": _gateway,
}
"""The top-level tables of a bench file, each with its parser, in the order they are read
(a section may refer to the ones before it: devices and diagnostics name CAN channels).
The parsers of the domain sections live with their domain (``canbus``, ``devices``,
``diag``); a new section is a parser there, a field of :class:`BenchConfig` and a row
here."""


def bench_routing(config: BenchConfig) -> RoutingTable | None:
    """The routing table the bench's ``[gateway]`` names, checked against the bench's
    channels and their databases; None when the bench has no gateway under test."""
    if config.gateway is None:
        return None
    return check_routing(config.gateway, config.can, str(config.path))


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
    isotp = _sim_isotp(table, channels[channel])
    doip = _sim_doip(table)
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
        isotp=isotp,
        doip=doip,
    )
    table.finish()
    return ecu


def _sim_doip(table: Table) -> Mapping[str, Any]:
    """A simulated ECU's ``doip`` overrides: where its entity routes diagnostic messages."""
    doip = table.table("doip")
    if not doip.data:
        return MappingProxyType({})
    routing = doip.required_str("routing")
    if routing not in ROUTINGS:
        raise doip.error(
            "routing", f"expected one of {', '.join(ROUTINGS)}{suggest(routing, list(ROUTINGS))}"
        )
    doip.finish()
    return MappingProxyType({"routing": routing})


def _sim_isotp(table: Table, channel: CanChannelConfig) -> Mapping[str, Any]:
    """A simulated ECU's ``isotp`` frame format, checked against the channel it answers on."""
    isotp = table.table("isotp")
    if not isotp.data:
        return MappingProxyType({})
    can_fd, frame_size = parse_frame_format(isotp)
    isotp.finish()
    if can_fd and not channel.fd:
        raise isotp.error(
            "can_fd", f"channel {channel.name!r} is classic CAN (set fd = true on it)"
        )
    return MappingProxyType({"can_fd": can_fd, "frame_size": frame_size})


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


def over_multicast(config: BenchConfig) -> BenchConfig:
    """The same bench with its virtual channels carried between processes."""
    channels = {name: carried(cfg) for name, cfg in config.can.items()}
    return replace(config, can=MappingProxyType(channels))

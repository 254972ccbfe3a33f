"""The Bench: opens everything a bench file names, and closes it all again.

Opening is all-or-nothing: if the third channel fails to open, the first two
are closed before the error propagates, so a failed start leaks no bus or thread.

>>> with Bench.open("fixtures/benches/virtual.toml") as bench:   # doctest: +SKIP
...     bench.can["body"].send("BCM_Request", DoorUnlock=1)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from harness.bench.devices import Devices, open_devices
from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase
from harness.closing import Closing
from harness.config import BenchConfig, SimulatedEcuConfig, bench_routing, load_bench
from harness.datafile import suggest
from harness.exceptions import ConfigError, ResourceError
from harness.sim.ecu import (
    EcuDefinition,
    SimulatedEcu,
    attach_services,
    load_ecu,
    with_doip,
    with_isotp,
    with_periods,
)

if TYPE_CHECKING:
    from harness.sim.doip import DoipEntity

SEPARATE_BUS_INTERFACES = ("virtual", "udp_multicast", "socketcan")
"""Interfaces where a second opening of a channel hears the first, so a simulated ECU can
have a bus of its own and the harness sees its frames as received. Elsewhere it shares
the harness's channel (its frames are then recorded as sent)."""

SIM_HISTORY = 10_000


T = TypeVar("T")


def lookup(resources: Mapping[str, T], name: str, kind: str, bench: str) -> T:
    """A bench resource by name; a ResourceError with suggestions and the list otherwise."""
    try:
        return resources[name]
    except KeyError:
        hint = suggest(name, list(resources))
        known = ", ".join(resources) or "none"
        raise ResourceError(
            f"bench {bench!r} has no {kind} {name!r}{hint}; it has: {known}"
        ) from None


class Channels(Mapping[str, Channel]):
    """A bench's CAN channels by name: ``can["body"]`` or ``can.body``."""

    def __init__(self, channels: Mapping[str, Channel], bench: str) -> None:
        self._channels = MappingProxyType(dict(channels))
        self._bench = bench

    def __getitem__(self, name: str) -> Channel:
        return lookup(self._channels, name, "CAN channel", self._bench)

    def __getattr__(self, name: str) -> Channel:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)


class Bench(Closing):
    """An open bench: its configuration and live resources."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self._stack = ExitStack()
        self.can = Channels({}, config.name)
        self.databases: dict[tuple[Path, bool], SignalDatabase] = {}
        self.sims: dict[str, SimulatedEcu] = {}
        self.doip: dict[str, DoipEntity] = {}
        """The simulated ECUs' DoIP entities (ECU files with ``[doip]``), by ECU name."""
        self.sim_channels: dict[str, Mapping[str, Channel]] = {}
        """Each simulated ECU's channel on every bench channel it joins (a gateway joins
        several): the channel it hears and sends on there."""
        self.devices = Devices(config)
        """Serial devices, the power supply and their simulations (harness.devices)."""

    @classmethod
    def open(cls, path: str | Path | BenchConfig, overrides: Iterable[str] = ()) -> Bench:
        """Load (if given a path) and open a bench; on any failure nothing stays open."""
        config = path if isinstance(path, BenchConfig) else load_bench(path, overrides)
        bench = cls(config)
        try:
            bench._open_channels()
            bench._start_simulation()
            bench.devices = open_devices(config, bench.sims, bench._stack)
            _check_gateway(config)
        except BaseException:
            bench.close()
            raise
        return bench

    @property
    def name(self) -> str:
        return self.config.name

    def database(self, path: Path, strict: bool = True, j1939: bool = False) -> SignalDatabase:
        """Load each database once per bench, however many channels share it (a channel
        that reads it as J1939 gets its own copy)."""
        key = (path, j1939)
        if key not in self.databases:
            self.databases[key] = SignalDatabase.load(path, strict=strict, j1939=j1939)
        return self.databases[key]

    def _open_channels(self) -> None:
        channels: dict[str, Channel] = {}
        for name, cfg in self.config.can.items():
            db = self.database(cfg.dbc, cfg.strict_dbc, cfg.j1939) if cfg.dbc else None
            if db is not None:
                db.declare(cfg.protection, cfg.cycle_ms, str(self.config.path), f"can.{name}")
            if db is not None and cfg.dut_node is not None and cfg.dut_node not in db.nodes:
                raise ConfigError(
                    str(self.config.path),
                    f"can.{name}.dut_node",
                    f"{cfg.dut_node!r} is not a node of {db.name}"
                    f"{suggest(cfg.dut_node, db.nodes)}; nodes: {', '.join(db.nodes) or 'none'}",
                )
            channels[name] = self._stack.enter_context(Channel.open(cfg, db))
        self.can = Channels(channels, self.config.name)

    def sim(self, name: str) -> SimulatedEcu:
        """A simulated ECU by name (its ``[simulation.ecus.NAME]`` key)."""
        return lookup(self.sims, name, "simulated ECU", self.name)

    def _start_simulation(self) -> None:
        for name, sim in self.config.simulation.items():
            self.sims[name] = self._start_ecu(name, sim)

    def _start_ecu(self, name: str, sim: SimulatedEcuConfig) -> SimulatedEcu:
        key = f"simulation.ecus.{name}"
        definition = with_periods(load_ecu(sim.file), sim.period_ms, str(self.config.path), key)
        definition = with_doip(with_isotp(definition, sim.isotp), sim.doip)
        for fault in sim.faults:
            if fault not in definition.faults:
                hint = suggest(fault, list(definition.faults))
                raise ConfigError(
                    str(self.config.path),
                    f"{key}.faults",
                    f"{sim.file.name} has no fault {fault!r}{hint}",
                )
        if definition.gateway:
            from harness.sim.gateway import check_attachment, gateway_config  # noqa: PLC0415

            check_attachment(
                gateway_config(definition), sim.channels, sim.channel, str(self.config.path), key
            )
        channels = {
            joined: self._sim_channel(name, sim, joined, definition) for joined in sim.channels
        }
        self.sim_channels[name] = MappingProxyType(channels)
        ecu = SimulatedEcu(definition, channels[sim.channel])
        self._stack.callback(ecu.close)
        attach_services(ecu, channels)
        if definition.doip:  # not a service: the entity needs a bus of its own
            self._attach_doip(name, sim, ecu, definition)
        for fault in sim.faults:
            ecu.fault_on(fault)
        ecu.power_on()
        return ecu

    def _attach_doip(
        self, name: str, sim: SimulatedEcuConfig, ecu: SimulatedEcu, definition: EcuDefinition
    ) -> None:
        """The ECU's DoIP entity, routing to its UDS server on a bus of its own (so the
        server hears its requests, and the bench channel records them)."""
        from harness.sim.doip import attach_entity  # noqa: PLC0415 - only ECUs with [doip]

        cfg = replace(self.config.can[sim.channel], name=f"sim:{name}:doip", history=SIM_HISTORY)
        channel: Channel = self._stack.enter_context(Channel.open(cfg, definition.db))
        entity = attach_entity(ecu, channel)
        if entity is not None:
            self._stack.callback(entity.close)
            self.doip[name] = entity

    def _sim_channel(
        self, name: str, sim: SimulatedEcuConfig, joined: str, definition: EcuDefinition
    ) -> Channel:
        """The simulated ECU's own bus on bench channel ``joined`` where the interface allows
        one, else the harness's channel (then its frames are recorded as sent)."""
        cfg = self.config.can[joined]
        if cfg.interface not in SEPARATE_BUS_INTERFACES:
            return self.can[joined]
        label = f"sim:{name}" if joined == sim.channel else f"sim:{name}:{joined}"
        sim_cfg = replace(cfg, name=label, history=SIM_HISTORY)
        channel: Channel = self._stack.enter_context(Channel.open(sim_cfg, definition.db))
        return channel

    def close(self) -> None:
        """Close every resource, most recently opened first. Safe to call twice."""
        self._stack.close()


def _check_gateway(config: BenchConfig) -> None:
    """A bench's ``[gateway]`` routing table must fit its channels and their databases
    (checked on opening: it loads the databases)."""
    bench_routing(config)

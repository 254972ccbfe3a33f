"""Diagnostics of an open bench: the UDS and OBD-II testers for its DUT, outside pytest
as the ``uds`` and ``obd`` fixtures use them, and what the diagnostic suites read from a
simulated DUT (its UDS server's timers).

>>> with Bench.open("fixtures/benches/virtual.toml") as bench:   # doctest: +SKIP
...     with open_uds(bench) as uds:
...         print(uds.read_did("VIN"))
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from harness.datafile import suggest
from harness.diag.client import UdsClient, uds_over
from harness.diag.config import DiagConfig
from harness.diag.conformance import DutTiming
from harness.diag.obd import ObdClient
from harness.diag.transport import TRANSPORTS
from harness.diag.transport.on_can import obd_on_channel
from harness.exceptions import ResourceError

if TYPE_CHECKING:
    from harness.bench.assembly import Bench
    from harness.sim.uds.server import UdsServer


def bench_diag_config(bench: Bench) -> DiagConfig:
    """An open bench's diagnostics configuration, with the ports of the simulated DoIP
    entity ``[diagnostics.doip] simulation`` names; a ResourceError when it has none."""
    config = bench.config.diagnostics
    if config is None:
        raise ResourceError(f"bench {bench.name!r} ({bench.config.path}) has no [diagnostics]")
    return with_simulated_entity(bench, config)


def with_simulated_entity(bench: Bench, config: DiagConfig) -> DiagConfig:
    """``config`` with host and ports of the simulated entity its DoIP table names."""
    doip = config.doip
    if doip is None or doip.simulation is None:
        return config
    entity = bench.doip.get(doip.simulation)
    if entity is None:
        known = ", ".join(bench.doip) or "none"
        raise ResourceError(
            f"{config.source}: [diagnostics.doip] simulation = {doip.simulation!r}: the bench "
            f"simulates no DoIP entity of that name{suggest(doip.simulation, list(bench.doip))}; "
            f"entities: {known}"
        )
    host, port = entity.address
    _, udp_port = entity.udp_address
    return replace(config, doip=replace(doip, host=host, port=port, udp_port=udp_port))


@contextmanager
def open_uds(bench: Bench, config: DiagConfig | None = None) -> Iterator[UdsClient]:
    """A UDS tester for the bench's DUT, outside pytest (the ``uds`` fixture does the same).

    >>> with Bench.open("fixtures/benches/virtual.toml") as bench:   # doctest: +SKIP
    ...     with open_uds(bench) as uds:
    ...         print(uds.read_did("VIN"))
    """
    config = with_simulated_entity(bench, config) if config else bench_diag_config(bench)
    transport = TRANSPORTS.get(config.transport)
    with transport.open(config, bench.can) as link, uds_over(link, config) as client:
        yield client


@contextmanager
def open_obd(bench: Bench, config: DiagConfig | None = None) -> Iterator[ObdClient]:
    """An OBD-II tester on the bench's diagnostic channel (``[diagnostics]``): SAE J1979
    over ISO 15765-4, whatever transport UDS takes.

    >>> with open_obd(bench) as obd:          # doctest: +SKIP
    ...     print(obd.read("speed"))
    """
    config = config or bench_diag_config(bench)
    if not config.channel:
        raise ResourceError(
            f"{config.source}: OBD-II runs on a CAN channel (ISO 15765-4); "
            "the bench's [diagnostics] have none (DoIP only)"
        )
    with obd_on_channel(bench.can[config.channel], config) as client:
        yield client


def simulated_server(bench: Bench) -> UdsServer | None:
    """The UDS server of the simulated ECU playing the DUT, None on a bench without one."""
    from harness.sim.uds.server import UdsServer  # noqa: PLC0415 - udsoncan only if used

    config = bench.config.diagnostics
    if config is None or config.channel not in bench.config.can:
        return None
    dut_node = bench.config.can[config.channel].dut_node
    for ecu in bench.sims.values():
        if dut_node is not None and ecu.definition.node == dut_node:
            for service in ecu.services:
                if isinstance(service, UdsServer):
                    return service
    return None


def dut_timing(bench: Bench) -> DutTiming:
    """S3, security delay and attempt limit: the simulated DUT's when the bench simulates
    it, else the standard's S3 and conservative defaults."""
    server = simulated_server(bench)
    if server is None:
        return DutTiming()
    security = server.config.security
    if security is None:
        return DutTiming(s3=server.config.s3, known=True)
    return DutTiming(server.config.s3, security.lockout, security.attempts, known=True)

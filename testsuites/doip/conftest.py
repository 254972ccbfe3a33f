"""DoIP conformance suite (ISO 13400-2): the DoIP entity the bench's ``[diagnostics.doip]``
names, whatever ``[diagnostics] transport`` the UDS tests use.

What the bench must say: ``[diagnostics.doip]`` (host and ports, or ``simulation``
naming a simulated ECU whose entity it is; ``tester_address``, ``target_address``).
Without it every test skips. Tests that need to power-cycle the entity (announcements)
or know its configuration (unreachable addresses) run on simulated entities only.

Fixtures:

``doip``
    the :class:`~harness.diag.config.DoipConfig`, with the simulated entity's ports;
``entity_sim``
    the simulated :class:`~harness.sim.doip.DoipEntity` (skips on a real entity);
``connect``
    opens :class:`DoipSocket` connections to the entity, closed after the test;
``activated``
    one connection with routing activated for the tester address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness.bench import Bench
from harness.bench.diagnostics import with_simulated_entity
from harness.diag.config import DoipConfig
from harness.pytest_plugin.support import import_beside
from harness.sim.doip import DoipEntity

import_beside(__file__, "doip_support")
from doip_support import DoipSocket  # noqa: E402


@pytest.fixture
def doip(bench: Bench) -> DoipConfig:
    config = bench.config.diagnostics
    if config is None or config.doip is None:
        pytest.skip("the bench has no [diagnostics.doip]: no DoIP entity to test")
    resolved = with_simulated_entity(bench, config).doip
    assert resolved is not None
    return resolved


@pytest.fixture
def entity_sim(bench: Bench, doip: DoipConfig) -> DoipEntity:
    if doip.simulation is None:
        pytest.skip("not tested on a real entity: needs the simulated entity's power and setup")
    return bench.doip[doip.simulation]


@pytest.fixture
def connect(doip: DoipConfig) -> Iterator[Callable[[], DoipSocket]]:
    opened: list[DoipSocket] = []

    def open_one() -> DoipSocket:
        connection = DoipSocket((doip.host, doip.port))
        opened.append(connection)
        return connection

    yield open_one
    for connection in opened:
        connection.close()


@pytest.fixture
def activated(connect: Callable[[], DoipSocket], doip: DoipConfig) -> DoipSocket:
    connection = connect()
    code, _ = connection.activate(doip.tester_address, doip.activation_type)
    assert code == 0x10, f"routing activation refused: 0x{code:02X}"
    return connection

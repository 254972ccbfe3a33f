"""Telematics conformance suite: the TCU's cellular modem over serial, and what the TCU
reports about it on CAN.

What the bench must say (nothing here is hard-coded to one bench):

- a serial device of kind ``modem`` (``[serial.NAME] kind = "modem"``); without one every
  test skips;
- for the CAN half, that device's ``can`` and ``node`` keys: the bench CAN channel and
  the DBC node of the ECU the modem is built into. That node's *status message* is the
  message it sends carrying ``RegistrationState`` and ``SignalQuality`` (``TCU_Status``
  in dbc/demo_vehicle.dbc); every other cyclic message it sends is *telemetry*.

Fixtures:

``online``
    the ``modem`` fixture once it is registered (home or roaming), with numeric
    ``+CME ERROR`` codes on;
``network_restored``
    ``online``, registered again when the test ends (for tests that deregister it);
``tcu``
    a :class:`TcuOnCan`: the channel, the node, its status and telemetry messages;
``modem_simulation``
    the modem's simulation (virtual benches only; skips on real hardware).

Tests that change the network state (``AT+COPS=2``) restore it before they end, so
the tests stay independent in any order.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.bench import Bench, Channels
from harness.devices.modem import Modem
from harness.pytest_plugin.support import import_beside
from harness.sim.modem import ModemSimulation

import_beside(__file__, "telematics_support")
from telematics_support import (  # noqa: E402
    REGISTRATION_TIMEOUT,
    STATUS_SIGNALS,
    TcuOnCan,
    wait_responsive,
)


@pytest.fixture
def online(modem: Modem) -> Modem:
    """The modem, registered (home or roaming), with numeric error codes."""
    wait_responsive(modem)
    modem.enable_error_codes()
    modem.wait_registered(REGISTRATION_TIMEOUT)
    return modem


@pytest.fixture
def modem_simulation(bench: Bench, modem: Modem) -> ModemSimulation:
    """The simulation behind the modem; skips on a bench with a real modem."""
    simulation = bench.devices.simulation_of(modem)
    if not isinstance(simulation, ModemSimulation):
        pytest.skip(f"bench {bench.name!r}: the modem is not simulated (the test sets its signal)")
    return simulation


@pytest.fixture
def tcu(bench: Bench, can: Channels, modem: Modem) -> TcuOnCan:
    """The ECU the modem is built into, on CAN; skips when the bench does not name it."""
    device = next(d for d in bench.devices.config.of_kind("modem") if d.name == modem.name)
    if device.can is None or device.node is None:
        pytest.skip(
            f"bench {bench.name!r} ({bench.config.path}): [serial.{device.name}] names no "
            "can/node (the CAN channel and DBC node of the ECU the modem is built into)"
        )
    channel = can[device.can]
    db = channel.db
    if db is None:
        pytest.skip(f"CAN channel {device.can!r} has no DBC")
    sent = [m for m in db.messages if device.node in m.senders]
    status = [m for m in sent if set(STATUS_SIGNALS) <= {s.name for s in m.signals}]
    if not status:
        pytest.skip(
            f"{db.name}: node {device.node!r} sends no message with {' and '.join(STATUS_SIGNALS)}"
        )
    telemetry = tuple(m for m in sent if m is not status[0] and m.cycle_time)
    return TcuOnCan(channel, device.node, status[0], telemetry)


@pytest.fixture
def network_restored(online: Modem) -> Iterator[Modem]:
    """The registered modem, for a test that takes it off the network (``AT+COPS=2``, TS
    27.007 7.3): automatic registration (``AT+COPS=0``) again when the test ends, and
    the teardown waits until it is registered."""
    yield online
    wait_responsive(online)
    online.command("AT+COPS=0")
    online.wait_registered(REGISTRATION_TIMEOUT)

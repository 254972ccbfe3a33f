"""CAN timing conformance suite: parametrised by what the DUT sends per its DBC.

At collection time the bench file names the CAN channels whose ``dut_node`` is set;
the DBC of each is loaded and the messages that node sends become the parameters:

``dut_channel``
    the name of each bench channel with a ``dut_node``;
``cyclic_message``
    each message the DUT sends that is not event-triggered (``GenMsgSendType``); one
    whose cycle time nothing declares (``GenMsgCycleTime``, or ``cycle_ms`` in the
    bench's ``[can.NAME]``) is reported "not tested: no cycle time declared";
``protected_message``
    each message the DUT sends: one whose counter and checksum nothing declares
    (DBC attributes, see harness.canbus.protection) is reported "not verified";
``input_message``
    each message other nodes send to the DUT (not event-triggered; "not tested" without
    a cycle time, as above) (a signal names the DUT node as a
    receiver): the inputs the DUT's verdicts depend on.

A bench without such a channel (or a DUT without such messages) gives an empty
parameter set, which pytest reports as a skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cantools.database.can import Message

from harness.bench import Channels
from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase
from harness.config import BenchConfig
from harness.exceptions import HarnessError
from harness.pytest_plugin.hooks import get_bench_config
from harness.pytest_plugin.support import bench_errors_at_collection


@dataclass(frozen=True)
class DutMessage:
    """One message the DUT sends on one bench channel, per the channel's DBC."""

    channel: str
    name: str
    cycle_time: float | None
    """The declared cycle time in seconds, None when nothing declares one."""
    event: bool = False
    """Declared event-triggered (``GenMsgSendType``): no cycle to check."""

    def __str__(self) -> str:
        return f"{self.channel}/{self.name}"


def dut_messages(bench: BenchConfig, *, received: bool = False) -> list[tuple[DutMessage, Message]]:
    """Every message a channel's ``dut_node`` sends per the channel's DBC, in DBC order;
    with ``received``, every message other nodes send it instead."""
    found: list[tuple[DutMessage, Message]] = []
    databases: dict[Path, SignalDatabase] = {}
    for name, channel in bench.can.items():
        if channel.dut_node is None or channel.dbc is None:
            continue
        db = databases.get(channel.dbc)
        if db is None:
            db = SignalDatabase.load(channel.dbc, strict=channel.strict_dbc)
            databases[channel.dbc] = db
        db.declare(channel.protection, channel.cycle_ms, str(bench.path), f"can.{name}")
        for message in db.messages:
            sent = channel.dut_node in message.senders
            heard = any(channel.dut_node in s.receivers for s in message.signals)
            if (heard and not sent) if received else sent:
                cycle = message.cycle_time / 1000 if message.cycle_time else None
                event = str(message.send_type or "").lower().startswith("event")
                found.append((DutMessage(name, message.name, cycle, event), message))
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = {"dut_channel", "cyclic_message", "protected_message", "input_message"} & set(
        metafunc.fixturenames
    )
    if not wanted:
        return
    with bench_errors_at_collection():
        bench = get_bench_config(metafunc.config)
        messages = dut_messages(bench)
        inputs = dut_messages(bench, received=True)
    if "dut_channel" in wanted:
        channels = [n for n, c in bench.can.items() if c.dut_node is not None and c.dbc]
        metafunc.parametrize("dut_channel", channels, indirect=True)
    if "cyclic_message" in wanted:
        cyclic = [m for m, _ in messages if not m.event]
        metafunc.parametrize("cyclic_message", cyclic, ids=str, indirect=True)
    if "protected_message" in wanted:
        sent = [m for m, _ in messages]
        metafunc.parametrize("protected_message", sent, ids=str, indirect=True)
    if "input_message" in wanted:
        cyclic_inputs = [m for m, _ in inputs if not m.event]
        metafunc.parametrize("input_message", cyclic_inputs, ids=str, indirect=True)


def _cyclic_on(can: Channels, param: DutMessage) -> tuple[Channel, Message]:
    if param.cycle_time is None:
        pytest.skip(
            f"not tested: no cycle time declared for {param.name} (GenMsgCycleTime in the "
            f"database, or cycle_ms in the bench's [can.{param.channel}])"
        )
    return _message_on(can, param)


def _message_on(can: Channels, param: DutMessage) -> tuple[Channel, Message]:
    channel = can[param.channel]
    if channel.db is None:
        raise HarnessError(f"channel {channel.name!r} has no database")
    return channel, channel.db.message(param.name)


@pytest.fixture
def dut_channel(request: pytest.FixtureRequest, can: Channels) -> Channel:
    """An open bench channel whose ``dut_node`` is set (one test per such channel)."""
    channel: Channel = can[request.param]
    return channel


@pytest.fixture
def cyclic_message(request: pytest.FixtureRequest, can: Channels) -> tuple[Channel, Message]:
    """A cyclic message the DUT sends: its open channel and its DBC definition."""
    return _cyclic_on(can, request.param)


@pytest.fixture
def protected_message(request: pytest.FixtureRequest, can: Channels) -> tuple[Channel, Message]:
    """A message the DUT sends (its counter and checksum as declared, if any): its
    channel and DBC definition."""
    return _message_on(can, request.param)


@pytest.fixture
def input_message(request: pytest.FixtureRequest, can: Channels) -> tuple[Channel, Message]:
    """A cyclic message the DUT receives: its open channel and its DBC definition."""
    return _cyclic_on(can, request.param)

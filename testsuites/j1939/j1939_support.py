"""What the J1939 suite's tests share: finding the DUT on the bench, the standard's
times, the TP frames of a transfer."""

from __future__ import annotations

from dataclasses import dataclass

from harness.bench import Bench
from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase
from harness.canbus.frame import Frame
from harness.canbus.saej1939.addressing import pgn_of
from harness.config import BenchConfig
from harness.exceptions import ConfigError

TESTER_ADDRESS = 0xF9
"""Off-board diagnostic-service tool #1 (J1939 address table)."""
PROBE_ADDRESS = 0xFA
"""A second tool address for raw TP probes: no node answers the DUT's replies there."""
WAIT = 10.0
MARGIN = 0.3
"""Seconds of slack on the standard's upper time limits (a shared machine schedules late)."""


@dataclass(frozen=True)
class DutMessage:
    """A message the DUT sends on a J1939 channel, per its database."""

    channel: str
    name: str
    pgn: int
    cycle_time: float | None
    event: bool

    def __str__(self) -> str:
        return f"{self.channel}/{self.name}"


@dataclass(frozen=True)
class J1939Dut:
    """The DUT as the suite sees it."""

    channel: Channel
    address: int
    messages: tuple[DutMessage, ...]
    sim: str | None
    """The name of the simulated ECU playing it, None on a real DUT."""


def _j1939_channels(config: BenchConfig) -> list[tuple[str, SignalDatabase, str]]:
    found = []
    for name, channel in config.can.items():
        if channel.dut_node is None or channel.dbc is None:
            continue
        db = SignalDatabase.load(channel.dbc, strict=channel.strict_dbc, j1939=channel.j1939)
        if db.is_j1939:
            db.declare(channel.protection, channel.cycle_ms, str(config.path), f"can.{name}")
            found.append((name, db, channel.dut_node))
    return found


def dut_messages(config: BenchConfig) -> list[DutMessage]:
    """Every message the DUT sends on the bench's J1939 channels (not event-triggered)."""
    messages = []
    for channel, db, node in _j1939_channels(config):
        for message in db.messages:
            if node not in message.senders or not db.is_j1939_message(message):
                continue
            event = str(message.send_type or "").lower().startswith("event")
            cycle = message.cycle_time / 1000 if message.cycle_time else None
            if not event:
                messages.append(
                    DutMessage(channel, message.name, pgn_of(message.frame_id), cycle, event)
                )
    return messages


def find_dut(bench: Bench) -> J1939Dut | None:
    """The DUT on the first J1939 channel with a ``dut_node``; its address from its DBC."""
    for channel_name, db, node in _j1939_channels(bench.config):
        sent = [m for m in db.messages if node in m.senders and db.is_j1939_message(m)]
        addresses = {m.frame_id & 0xFF for m in sent}
        if len(addresses) != 1:
            raise ConfigError(
                str(db.path or bench.config.path),
                node,
                f"the DUT's J1939 messages carry {len(addresses)} source addresses "
                f"({', '.join(f'0x{a:02X}' for a in sorted(addresses)) or 'none'}): one expected",
            )
        sims = [
            n
            for n, s in bench.sims.items()
            if s.definition.node == node and bench.config.simulation[n].channel == channel_name
        ]
        messages = tuple(
            DutMessage(
                channel_name,
                m.name,
                pgn_of(m.frame_id),
                m.cycle_time / 1000 if m.cycle_time else None,
                str(m.send_type or "").lower().startswith("event"),
            )
            for m in sent
        )
        return J1939Dut(bench.can[channel_name], addresses.pop(), messages, (sims or [None])[0])
    return None


def tp_frames(frames: list[Frame], source: int) -> list[Frame]:
    """The TP.CM and TP.DT frames ``source`` sent, in order."""
    return [f for f in frames if f.pgn in (0xEC00, 0xEB00) and f.source_address == source]

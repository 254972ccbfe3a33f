"""Two channels on one in-process virtual bus: the test plays the tester, a thread the ECU."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase

MINI_DBC = Path(__file__).resolve().parents[1] / "data" / "mini.dbc"


@pytest.fixture(scope="session")
def mini_db() -> SignalDatabase:
    return SignalDatabase.load(MINI_DBC)


@pytest.fixture
def tester(mini_db: SignalDatabase, virtual_channel_name: str) -> Iterator[Channel]:
    with Channel(
        "tester", can.Bus(interface="virtual", channel=virtual_channel_name), mini_db
    ) as ch:
        yield ch


@pytest.fixture
def ecu(mini_db: SignalDatabase, virtual_channel_name: str, tester: Channel) -> Iterator[Channel]:
    with Channel("ecu", can.Bus(interface="virtual", channel=virtual_channel_name), mini_db) as ch:
        yield ch

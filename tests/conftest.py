"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"
VIRTUAL_BENCH = ROOT / "fixtures" / "benches" / "virtual.toml"


@pytest.fixture
def corpus() -> Path:
    """The shared corpus of real-world DBCs and traces (read in place, never copied)."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


MINI_DBC = ROOT / "tests" / "data" / "mini.dbc"


@pytest.fixture(autouse=True)
def _no_leaked_virtual_buses() -> Iterator[None]:
    """Every test closes the virtual buses it opens (python-can keeps them process-wide)."""
    from can.interfaces import virtual

    before = set(virtual.channels)
    yield
    leaked = set(virtual.channels) - before
    assert not leaked, f"virtual CAN channels left open: {sorted(leaked)}"


@pytest.fixture
def virtual_channel_name(request: pytest.FixtureRequest) -> str:
    """A virtual bus name unique to this test, so tests never hear each other."""
    return f"test-{request.node.nodeid}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def mini_db() -> SignalDatabase:
    """A small database made for these tests (tests/data/mini.dbc)."""
    return SignalDatabase.load(MINI_DBC)


@pytest.fixture
def tester(mini_db: SignalDatabase, virtual_channel_name: str) -> Iterator[Channel]:
    """The test's side of a virtual bus shared with ``ecu``."""
    bus = can.Bus(interface="virtual", channel=virtual_channel_name)
    with Channel("tester", bus, mini_db) as channel:
        yield channel


@pytest.fixture
def ecu(mini_db: SignalDatabase, virtual_channel_name: str, tester: Channel) -> Iterator[Channel]:
    """The ECU's side of the bus: tests drive it from a thread or a simulation."""
    bus = can.Bus(interface="virtual", channel=virtual_channel_name)
    with Channel("ecu", bus, mini_db) as channel:
        yield channel

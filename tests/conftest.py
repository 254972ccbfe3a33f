"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import can
import pytest
from hypothesis import settings

from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase

pytest_plugins = ["pytester", "uds_rig"]

settings.register_profile("harness", deadline=None)
settings.load_profile("harness")
"""No per-example deadline: a time limit inside a test fails on a loaded machine, not on a bug."""

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"
VIRTUAL_BENCH = ROOT / "fixtures" / "benches" / "virtual.toml"


CORPUS_KINDS = {"corpus_dbc": ("dbc", "*.dbc"), "corpus_trace": ("traces", "*")}
"""Test arguments filled with the shared corpus' files (paths relative to their folder)."""


def corpus_files(folder: str, pattern: str) -> list[str]:
    """Files of one corpus folder, licenses left out; empty when the corpus is absent."""
    base = CORPUS / folder
    if not base.is_dir():
        return []
    return sorted(
        p.relative_to(base).as_posix()
        for p in base.rglob(pattern)
        if p.is_file() and not p.name.upper().startswith("LICENSE")
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test once per corpus file when it takes ``corpus_dbc`` or ``corpus_trace``."""
    for argument, (folder, pattern) in CORPUS_KINDS.items():
        if argument in metafunc.fixturenames:
            files: list[object] = list(corpus_files(folder, pattern))
            if not files:
                reason = f"shared corpus not found at {CORPUS / folder}"
                files = [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
            metafunc.parametrize(argument, files)


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
    assert not leaked, f"virtual CAN channels left open: {sorted(map(str, leaked))}"


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

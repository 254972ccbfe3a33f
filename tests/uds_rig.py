"""A tester and a simulated BCM's UDS server on a private virtual bus, built from the
project's own data files (fixtures/ecus/bcm.toml, fixtures/dut/bcm.toml).

A pytest plugin of the harness's own tests (``tests/conftest.py`` loads it), so the
tester's tests (tests/diag) and the server's (tests/sim/uds) share one rig."""

from __future__ import annotations

import dataclasses
import gc
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import can
import pytest

from harness.canbus.channel import Channel
from harness.diag.client import UdsClient
from harness.diag.config import DiagConfig, IsoTpConfig, SecurityConfig
from harness.diag.seedkey import load_seed_key
from harness.diag.transport.on_can import ChannelStack, IsoTpLink, uds_on_channel
from harness.sim.ecu import EcuDefinition, load_ecu
from harness.sim.uds.config import ServerConfig, parse_server
from harness.sim.uds.server import UdsServer

ROOT = Path(__file__).resolve().parents[1]
BCM_FILE = ROOT / "fixtures" / "ecus" / "bcm.toml"
PROFILE_FILE = ROOT / "fixtures" / "dut" / "bcm.toml"
VIRTUAL_BENCH = ROOT / "fixtures" / "benches" / "virtual.toml"
MASK = 0x5A3CC3A5
"""The xor_constant parameter both fixtures/benches/virtual.toml and the BCM use."""


@pytest.fixture(scope="session")
def bcm_definition() -> EcuDefinition:
    return load_ecu(BCM_FILE)


@pytest.fixture(scope="session")
def bcm_server_config(bcm_definition: EcuDefinition) -> ServerConfig:
    return parse_server(bcm_definition.diagnostics, bcm_definition.path, bcm_definition.db)


def tester_config(server: ServerConfig, **changes: Any) -> DiagConfig:
    """A tester matching the server: same addressing and profile, the plugin's key."""
    seed_key = load_seed_key("harness.diag.seedkey:xor_constant", {"mask": MASK}, "test", "k")
    config = DiagConfig(
        source="test",
        channel="tester",
        address=server.address,
        isotp=IsoTpConfig(padding=0xCC, block_size=0),
        p2=1.0,
        p2_star=5.0,
        profile=server.profile,
        security=SecurityConfig(seed_key),
    )
    return dataclasses.replace(config, **changes)


@dataclass
class Rig:
    """Tester and ECU channels on one virtual bus, the server, a client, seeded faults."""

    tester: Channel
    ecu: Channel
    server: UdsServer
    uds: UdsClient
    faults: set[str] = field(default_factory=set)
    transmit: list[bool] = field(default_factory=list)
    """What CommunicationControl asked the ECU's normal messages to do, in order."""

    @property
    def stack(self) -> ChannelStack:
        """The tester's ISO-TP stack."""
        link = self.uds.link
        assert isinstance(link, IsoTpLink)
        return link.stack

    def exchange(self, payload: bytes) -> bytes | None:
        """Raw request, raw response (None: silence within P2 of the tester)."""
        return self.uds.request(payload)

    def nrc(self, payload: bytes) -> int | None:
        """The NRC the ECU answers ``payload`` with, or None for a positive answer."""
        response = self.exchange(payload)
        assert response is not None, f"no answer to {payload.hex(' ')}"
        if response[0] == 0x7F:
            assert response[1] == payload[0], response.hex(" ")
            return response[2]
        return None


RigFactory = Callable[..., Rig]


@pytest.fixture(scope="module")
def link(bcm_definition: EcuDefinition) -> Iterator[tuple[Channel, Channel]]:
    """A tester channel and an ECU channel on a private virtual bus, shared by a module's tests
    (closing a channel waits for its Notifier; once per module is enough). Each test starts
    its own server and client on them and looks only at frames after its own marks."""
    name = f"diag-{uuid.uuid4().hex[:12]}"
    db = bcm_definition.db
    with (
        Channel("tester", can.Bus(interface="virtual", channel=name), db) as tester,
        Channel("ecu", can.Bus(interface="virtual", channel=name), db) as ecu,
    ):
        yield tester, ecu


@pytest.fixture
def make_rig(
    link: tuple[Channel, Channel], bcm_server_config: ServerConfig
) -> Iterator[RigFactory]:
    """``make_rig(server=dict(s3=0.2), tester=dict(p2=0.2))`` builds a rig (once per test)."""
    tester_channel, ecu_channel = link
    with ExitStack() as stack:

        def make(server: dict[str, Any] | None = None, tester: dict[str, Any] | None = None) -> Rig:
            faults: set[str] = set()
            transmit: list[bool] = []
            config = dataclasses.replace(bcm_server_config, **(server or {}))
            uds_server = UdsServer(
                config, ecu_channel, name="bcm", faults=lambda: faults, on_transmit=transmit.append
            )
            uds_server.start()
            stack.callback(uds_server.stop)
            client_config = tester_config(config, **(tester or {}))
            client = stack.enter_context(uds_on_channel(tester_channel, client_config))
            return Rig(tester_channel, ecu_channel, uds_server, client, faults, transmit)

        yield make


@pytest.fixture
def rig(make_rig: RigFactory) -> Rig:
    return make_rig()


@pytest.fixture
def steady_gc() -> Iterator[None]:
    """For assertions on response times: a full collection of the test process's objects
    (100k-frame histories, hypothesis) pauses every thread for tens of ms, which measures
    the test process, not the server. Objects that exist now are frozen out of the collector."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture
def bcm_bench(tmp_path: Path) -> Path:
    """A bench with the simulated BCM alone (the DUT) and the virtual bench's diagnostics:
    opens and closes in a fraction of the whole virtual bench's time."""
    dbc = ROOT / "dbc" / "demo_vehicle.dbc"
    path = tmp_path / "bcm-bench.toml"
    path.write_text(
        f'[bench]\nname = "bcm-only"\n'
        f'[can.body]\ninterface = "virtual"\nchannel = "bcm-{uuid.uuid4().hex[:12]}"\n'
        f'dbc = "{dbc}"\ndut_node = "BCM"\n'
        f'[simulation.ecus.bcm]\nfile = "{BCM_FILE}"\n'
        f'[diagnostics]\nprofile = "{PROFILE_FILE}"\n'
        f'[diagnostics.security]\nseed_key = "harness.diag.seedkey:xor_constant"\n'
        f"params = {{ mask = {MASK:#x} }}\n"
    )
    return path

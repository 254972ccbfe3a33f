"""The simulated DoIP entity driven by an independent client (doipclient, udsoncan over its
connector, raw sockets for malformed input), and the harness's DoIP tester against
entities that misbehave."""

from __future__ import annotations

import dataclasses
import re
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

import pytest
import udsoncan
from clitools import harness_script
from conftest import VIRTUAL_BENCH
from doipclient import DoIPClient
from doipclient.connectors import DoIPClientUDSConnector
from udsoncan.client import Client

from harness.bench.assembly import Bench
from harness.bench.diagnostics import open_uds
from harness.config import load_bench
from harness.diag.config import DoipConfig
from harness.diag.transport.on_ip import connect
from harness.exceptions import ConfigError, DiagnosticError, HarnessError
from harness.sim.doip import DoipEntity

if TYPE_CHECKING:
    from udsoncan.typing import ClientConfig

VIN = "WDEMX000000000001"
BCM = 0x0010


@pytest.fixture
def bench() -> Iterator[Bench]:
    with Bench.open(VIRTUAL_BENCH) as opened:
        yield opened


@pytest.fixture
def entity(bench: Bench) -> DoipEntity:
    return bench.doip["bcm"]


def client(entity: DoipEntity, **kwargs: object) -> DoIPClient:
    host, port = entity.address
    return DoIPClient(host, BCM, tcp_port=port, udp_port=entity.udp_address[1], **kwargs)


def raw(entity: DoipEntity) -> socket.socket:
    return socket.create_connection(entity.address, timeout=5)


def header(payload_type: int, length: int, version: int = 2) -> bytes:
    return struct.pack("!BBHL", version, version ^ 0xFF, payload_type, length)


def read_message(sock: socket.socket) -> tuple[int, bytes]:
    head = recv_exact(sock, 8)
    _, _, payload_type, length = struct.unpack("!BBHL", head)
    return payload_type, recv_exact(sock, length)


def recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"closed after {data.hex(' ')}"
        data += chunk
    return data


def activate(sock: socket.socket, source: int = 0x0E00) -> bytes:
    sock.sendall(header(0x0005, 7) + struct.pack("!HBL", source, 0, 0))
    payload_type, payload = read_message(sock)
    assert payload_type == 0x0006
    return payload


def test_vehicle_identification_plain_by_vin_and_by_eid(entity: DoipEntity) -> None:
    with client(entity, activation_type=None) as doip:
        for found in (
            doip.request_vehicle_identification(),
            doip.request_vehicle_identification(vin=VIN),
            doip.request_vehicle_identification(eid=bytes.fromhex("020000000010")),
        ):
            assert found.vin == VIN
            assert found.logical_address == BCM
            assert found.eid == bytes.fromhex("020000000010")


def test_routing_activation_then_uds_reads_the_vin_over_the_can_side(entity: DoipEntity) -> None:
    config = cast("ClientConfig", dict(udsoncan.configs.default_client_config))
    config["data_identifiers"] = {0xF190: udsoncan.AsciiCodec(17)}
    # the first message through a fresh edge node opens its ISO-TP route: give it the
    # server's P2* (5 s), not udsoncan's default 1 s, which a loaded CI worker overran
    config["p2_timeout"] = 5.0
    with client(entity) as doip, Client(DoIPClientUDSConnector(doip), config=config) as uds:
        response = uds.read_data_by_identifier(0xF190)
        assert response.service_data.values[0xF190] == VIN


def test_entity_status_and_power_mode(entity: DoipEntity) -> None:
    with client(entity) as doip:
        status = doip.request_entity_status()
        assert (status.max_concurrent_sockets, status.currently_open_sockets) == (2, 1)
        assert status.max_data_size == 8192
        assert doip.request_diagnostic_power_mode().diagnostic_power_mode == 0x01


def test_three_announcements_after_power_on(bench: Bench, entity: DoipEntity) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        entity.announce_to(*sock.getsockname())
        bench.sim("bcm").power_off()
        bench.sim("bcm").power_on()
        for _ in range(3):
            _, found = DoIPClient.await_vehicle_announcement(sock=sock, timeout=5)
            assert (found.vin, found.logical_address) == (VIN, BCM)
        sock.settimeout(1.5)
        with pytest.raises(TimeoutError):
            sock.recvfrom(1024)


@pytest.mark.parametrize(
    ("data", "code", "closes"),
    [
        (header(0x0005, 7, version=0x07)[:1] + b"\x00" + header(0x0005, 7)[2:], 0x00, True),
        (header(0x1234, 0), 0x01, False),
        (header(0x8001, 9000) + bytes(9000), 0x02, False),
        (header(0x0005, 3) + b"\x0e\x00\x00", 0x04, True),
    ],
    ids=["garbage-header", "unknown-type", "too-large", "invalid-length"],
)
def test_generic_header_nacks_and_the_entity_keeps_serving(
    entity: DoipEntity, data: bytes, code: int, closes: bool
) -> None:
    with raw(entity) as sock:
        sock.sendall(data)
        assert read_message(sock) == (0x0000, bytes([code]))
        if closes:
            assert sock.recv(1) == b""
        else:
            assert activate(sock)[4] == 0x10
    with client(entity) as doip:  # a fresh tester is served
        assert doip.request_entity_status().max_data_size == 8192


@pytest.mark.parametrize(
    ("target", "size", "code"),
    [(0x0099, 3, 0x03), (0x0011, 3, 0x06), (BCM, 5000, 0x04)],
    ids=["unknown-target", "unreachable", "too-large"],
)
def test_diagnostic_message_nacks(entity: DoipEntity, target: int, size: int, code: int) -> None:
    with raw(entity) as sock:
        activate(sock)
        user = b"\x22\xf1\x90"[:size] + bytes(max(0, size - 3))
        sock.sendall(header(0x8001, 4 + len(user)) + struct.pack("!HH", 0x0E00, target) + user)
        payload_type, payload = read_message(sock)
        assert payload_type == 0x8003
        assert payload[:5] == struct.pack("!HHB", target, 0x0E00, code)


def test_routing_activation_denials(entity: DoipEntity) -> None:
    with raw(entity) as sock:
        assert activate(sock, source=0x0700)[4] == 0x00  # not a tester address
    with raw(entity) as sock:
        sock.sendall(header(0x0005, 7) + struct.pack("!HBL", 0x0E00, 0x42, 0))
        assert read_message(sock)[1][4] == 0x06  # activation type unsupported


def test_a_length_larger_than_the_data_then_a_drop_leaves_the_entity_serving(
    entity: DoipEntity,
) -> None:
    with raw(entity) as sock:
        activate(sock)
        sock.sendall(header(0x8001, 100) + b"\x0e\x00\x00\x10\x22")
    with client(entity) as doip:
        assert doip.request_entity_status().currently_open_sockets >= 1


def fake_entity(reply: bytes) -> tuple[DoipConfig, threading.Thread]:
    """A TCP peer that answers the routing activation request with ``reply`` and closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with server:
            peer, _ = server.accept()
            with peer:
                recv_exact(peer, 8 + 7)
                peer.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return DoipConfig(port=server.getsockname()[1]), thread


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        (b"\x12\x34\x00\x06\x00\x00\x00\x09", "garbage DoIP header 12 34 00 06"),
        (header(0x0006, 100) + b"\x0e\x00\x00", "after 3 of 100 payload bytes"),
        (header(0x0006, 9)[:4], "after 4 of 8 header bytes: 02 fd 00 06"),
        (header(0x0000, 1) + b"\x01", "generic header NACK 0x01 (unknown payload type)"),
    ],
    ids=["garbage-header", "length-too-large", "dropped-mid-header", "generic-nack"],
)
def test_the_tester_names_what_a_broken_entity_sent(reply: bytes, named: str) -> None:
    config, thread = fake_entity(reply)
    with pytest.raises(HarnessError, match=re.escape(named)):
        connect(config)
    thread.join(5)


def test_the_tester_over_doip_reports_a_refused_routing_activation(bench: Bench) -> None:
    config = bench.config.diagnostics
    assert config is not None
    assert config.doip is not None
    refused = dataclasses.replace(config, transport="doip")
    refused = dataclasses.replace(
        refused, doip=dataclasses.replace(config.doip, tester_address=0x0700)
    )
    with (
        pytest.raises(DiagnosticError, match=r"refused: 0x00 \(denied: unknown source"),
        open_uds(bench, refused),
    ):
        pass


def test_the_tester_reports_a_missing_ack(bench: Bench) -> None:
    bench.sim("bcm").fault_on("doip_ack_missing")
    config = bench.config.diagnostics
    assert config is not None
    with (
        open_uds(bench, dataclasses.replace(config, transport="doip")) as uds,
        pytest.raises(DiagnosticError, match="did not acknowledge"),
    ):
        uds.read_did("VIN")


def test_harness_simulate_serves_the_entity_to_another_process() -> None:
    process = subprocess.Popen(
        [str(harness_script()), "simulate", "--bench", str(VIRTUAL_BENCH), "--duration", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        head: list[str] = []
        while not head or not (head[-1].startswith("ready") or head[-1] == ""):
            head.append(process.stdout.readline())  # ends when the process does
        found = [
            re.fullmatch(r"doip (\w+) ([\d.]+):(\d+) 0x([0-9A-F]{4})\n", line) for line in head
        ]
        entities = [m.groups() for m in found if m]
        assert entities == [("bcm", "127.0.0.1", entities[0][2], "0010")], "".join(head)
        _, host, port, address = entities[0]
        config = cast("ClientConfig", dict(udsoncan.configs.default_client_config))
        config["data_identifiers"] = {0xF190: udsoncan.AsciiCodec(17)}
        with (
            DoIPClient(host, int(address, 16), tcp_port=int(port)) as doip,
            Client(DoIPClientUDSConnector(doip), config=config) as uds,
        ):
            assert uds.read_data_by_identifier(0xF190).service_data.values[0xF190] == VIN
    finally:
        process.kill()
        process.communicate(timeout=30)


@pytest.fixture
def native_bench() -> Iterator[Bench]:
    """The virtual bench with the BCM a DoIP-native ECU: its entity serves UDS itself."""
    routing = 'simulation.ecus.bcm.doip={ routing = "local" }'
    with Bench.open(VIRTUAL_BENCH, [routing]) as opened:
        yield opened


def test_a_doip_native_ecu_answers_without_the_can_hop(native_bench: Bench) -> None:
    """``routing = "local"``: doipclient reads the VIN and downloads a block larger than
    classic ISO-TP carries; nothing of either exchange goes on the CAN side."""
    entity = native_bench.doip["bcm"]
    assert entity.config.routing == "local"
    channel = native_bench.can["body"]
    since = channel.mark()
    config = cast("ClientConfig", dict(udsoncan.configs.default_client_config))
    config["data_identifiers"] = {0xF190: udsoncan.AsciiCodec(17)}
    with client(entity) as doip, Client(DoIPClientUDSConnector(doip), config=config) as uds:
        assert uds.read_data_by_identifier(0xF190).service_data.values[0xF190] == VIN
        doip.send_diagnostic(bytes([0x22]) + bytes(5000))  # 5001 bytes: > 4095, < 8192 - 4
        answer = doip.receive_diagnostic(timeout=5)
    assert answer is not None
    assert answer[:2] == bytes([0x7F, 0x22]), answer[:8].hex(" ")  # refused by the server
    diagnostic = [f for f in channel.history.since(since.seq) if f.arbitration_id in (0x7E0, 0x7E8)]
    assert not diagnostic, f"diagnostic frames on CAN: {diagnostic[:3]}"


def test_routing_names_its_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        load_bench(VIRTUAL_BENCH, ['simulation.ecus.bcm.doip={ routing = "locl" }'])
    assert caught.value.key == "simulation.ecus.bcm.doip.routing"
    assert "did you mean 'local'" in caught.value.problem

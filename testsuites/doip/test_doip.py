"""DoIP entity conformance (ISO 13400-2): routing activation, generic header handling,
diagnostic message ACK/NACK, alive check, TCP inactivity timers, vehicle announcement
and identification, entity status and diagnostic power mode."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

import pytest
from doip_support import (
    A_PROCESSING_TIME,
    DIAGNOSTIC_ACK,
    DIAGNOSTIC_MESSAGE,
    DIAGNOSTIC_NACK,
    GENERIC_NACK,
    AliveResponder,
    DoipSocket,
    header,
    message,
)
from doipclient import DoIPClient

from harness.bench import Bench
from harness.diag.config import DoipConfig
from harness.sim.doip import DoipEntity

MARGIN = 1.0
"""Seconds of slack on the entity's timers (a shared machine schedules late)."""
UNKNOWN_TARGET = 0x0DFE
"""A logical address no entity of the demo vehicle has (VM-specific range)."""
ISOTP_MAX = 4095
TESTER_PRESENT = bytes([0x3E, 0x00])


def udp_client(doip: DoipConfig) -> DoIPClient:
    return DoIPClient(
        doip.host,
        doip.target_address,
        tcp_port=doip.port,
        udp_port=doip.udp_port,
        activation_type=None,
        client_logical_address=doip.tester_address,
    )


def nack_code(connection: DoipSocket) -> int:
    payload = connection.read_type(GENERIC_NACK)
    assert len(payload) == 1, f"generic NACK payload {payload.hex(' ')}"
    return payload[0]


# -- routing activation ---------------------------------------------------------------------


@pytest.mark.requirement("DOIP-001", clause="ISO 13400-2 routing activation (code 0x10)")
def test_routing_activation_accepted(connect: Callable[[], DoipSocket], doip: DoipConfig) -> None:
    connection = connect()
    code, _ = connection.activate(doip.tester_address, doip.activation_type)
    assert code == 0x10


@pytest.mark.requirement("DOIP-002", clause="ISO 13400-2 routing activation (code 0x00)")
def test_routing_activation_unknown_source_address(connect: Callable[[], DoipSocket]) -> None:
    connection = connect()
    code, _ = connection.activate(source=0x0001)  # an ECU address, not a tester's
    assert code == 0x00, f"unknown source address answered 0x{code:02X}"
    assert connection.closed_within(A_PROCESSING_TIME), "socket left open after the denial"


@pytest.mark.requirement("DOIP-003", clause="ISO 13400-2 routing activation (code 0x06)")
def test_routing_activation_unsupported_type(
    connect: Callable[[], DoipSocket], doip: DoipConfig
) -> None:
    code, _ = connect().activate(doip.tester_address, activation_type=0x42)  # reserved type
    assert code == 0x06, f"reserved activation type answered 0x{code:02X}"


@pytest.mark.requirement(
    "DOIP-004", clause="ISO 13400-2 routing activation (code 0x03), alive check"
)
def test_second_tester_with_a_registered_address_is_denied(
    connect: Callable[[], DoipSocket], activated: DoipSocket, doip: DoipConfig
) -> None:
    first = AliveResponder(activated)
    code, _ = connect().activate(doip.tester_address, doip.activation_type)
    assert first.answered.is_set(), "the entity did not alive-check the registered socket"
    assert code == 0x03, f"a second socket with a registered, alive address got 0x{code:02X}"


@pytest.mark.requirement("DOIP-005", clause="ISO 13400-2 alive check (silent socket released)")
def test_second_tester_replaces_a_silent_one(
    connect: Callable[[], DoipSocket], activated: DoipSocket, doip: DoipConfig
) -> None:
    code, _ = connect().activate(doip.tester_address, doip.activation_type)  # first stays mute
    assert code == 0x10, f"the silent registered socket was kept: 0x{code:02X}"
    assert activated.closed_within(A_PROCESSING_TIME), "the silent socket was not closed"


# -- generic header handling ----------------------------------------------------------------


@pytest.mark.requirement("DOIP-010", clause="ISO 13400-2 generic header NACK 0x00")
def test_wrong_protocol_version_nack_and_close(connect: Callable[[], DoipSocket]) -> None:
    connection = connect()
    connection.send(header(0x0005, 7, version=0x7A) + bytes(7))
    assert nack_code(connection) == 0x00
    assert connection.closed_within(A_PROCESSING_TIME), "socket left open after NACK 0x00"


@pytest.mark.requirement("DOIP-011", clause="ISO 13400-2 generic header NACK 0x01")
def test_unknown_payload_type_nack_and_keeps_serving(activated: DoipSocket) -> None:
    activated.send(message(0x7777, b"\x01\x02"))
    assert nack_code(activated) == 0x01
    source = activated.source
    assert source is not None
    activated.diagnostic(source, UNKNOWN_TARGET, TESTER_PRESENT)
    activated.read_type(DIAGNOSTIC_NACK)  # still served after the discarded message


@pytest.mark.requirement("DOIP-012", clause="ISO 13400-2 generic header NACK 0x02, max data size")
def test_message_larger_than_max_data_size_nack(activated: DoipSocket, doip: DoipConfig) -> None:
    with udp_client(doip) as client:
        limit = client.request_entity_status().max_data_size
    if limit is None:
        pytest.skip("not tested: the entity status gives no max data size")
    size = limit + 1
    activated.send(header(DIAGNOSTIC_MESSAGE, size) + bytes(size))
    assert nack_code(activated) == 0x02


@pytest.mark.requirement("DOIP-013", clause="ISO 13400-2 generic header NACK 0x04")
def test_invalid_payload_length_nack_and_close(connect: Callable[[], DoipSocket]) -> None:
    connection = connect()
    connection.send(header(0x0005, 2) + b"\x0e\x00")  # routing activation needs 7 or 11
    assert nack_code(connection) == 0x04
    assert connection.closed_within(A_PROCESSING_TIME), "socket left open after NACK 0x04"


# -- diagnostic messages --------------------------------------------------------------------


@pytest.mark.requirement("DOIP-020", clause="ISO 13400-2 diagnostic message positive ACK")
def test_diagnostic_message_acknowledged_then_answered(
    activated: DoipSocket, doip: DoipConfig
) -> None:
    activated.diagnostic(doip.tester_address, doip.target_address, TESTER_PRESENT)
    ack = activated.read_type(DIAGNOSTIC_ACK)
    assert struct.unpack_from("!HHB", ack) == (doip.target_address, doip.tester_address, 0x00)
    response = activated.read_type(DIAGNOSTIC_MESSAGE, timeout=A_PROCESSING_TIME + MARGIN)
    assert response[4:] == bytes([0x7E, 0x00])


@pytest.mark.requirement("DOIP-021", clause="ISO 13400-2 diagnostic message NACK 0x03")
def test_unknown_target_address_nack(activated: DoipSocket, doip: DoipConfig) -> None:
    activated.diagnostic(doip.tester_address, UNKNOWN_TARGET, TESTER_PRESENT)
    nack = activated.read_type(DIAGNOSTIC_NACK)
    assert nack[4] == 0x03, f"unknown target address NACKed 0x{nack[4]:02X}"


@pytest.mark.requirement("DOIP-022", clause="ISO 13400-2 diagnostic message NACK 0x02")
def test_invalid_source_address_nack(activated: DoipSocket, doip: DoipConfig) -> None:
    activated.diagnostic(doip.tester_address + 1, doip.target_address, TESTER_PRESENT)
    nack = activated.read_type(DIAGNOSTIC_NACK)
    assert nack[4] == 0x02, f"unregistered source address NACKed 0x{nack[4]:02X}"


@pytest.mark.requirement("DOIP-023", clause="ISO 13400-2 diagnostic message NACK 0x04")
def test_diagnostic_message_too_large_for_the_target(
    activated: DoipSocket, doip: DoipConfig, entity_sim: DoipEntity
) -> None:
    if entity_sim.config.routing == "local":
        pytest.skip("not tested: a DoIP-native target has no ISO-TP limit behind the entity")
    if entity_sim.config.max_data_size < ISOTP_MAX + 5:
        pytest.skip("not tested: the entity's max data size is below the ISO-TP limit")
    activated.diagnostic(doip.tester_address, doip.target_address, bytes(ISOTP_MAX + 1))
    nack = activated.read_type(DIAGNOSTIC_NACK)
    assert nack[4] == 0x04, f"a message the CAN target cannot take NACKed 0x{nack[4]:02X}"


@pytest.mark.requirement("DOIP-024", clause="ISO 13400-2 diagnostic message NACK 0x06")
def test_unreachable_target_nack(
    activated: DoipSocket, doip: DoipConfig, entity_sim: DoipEntity
) -> None:
    if not entity_sim.config.unreachable:
        pytest.skip("not tested: the entity declares no unreachable target")
    activated.diagnostic(doip.tester_address, entity_sim.config.unreachable[0], TESTER_PRESENT)
    nack = activated.read_type(DIAGNOSTIC_NACK)
    assert nack[4] == 0x06, f"an unreachable target NACKed 0x{nack[4]:02X}"


# -- inactivity timers ----------------------------------------------------------------------


@pytest.mark.requirement("DOIP-030", clause="ISO 13400-2 T_TCP_Initial_Inactivity")
def test_initial_inactivity_closes_a_socket_without_routing_activation(
    connect: Callable[[], DoipSocket], entity_sim: DoipEntity
) -> None:
    timer = entity_sim.config.initial_inactivity
    assert connect().closed_within(timer + MARGIN), f"still open {timer + MARGIN:g} s on"


@pytest.mark.requirement("DOIP-031", clause="ISO 13400-2 T_TCP_General_Inactivity")
def test_general_inactivity_closes_an_idle_socket(
    activated: DoipSocket, entity_sim: DoipEntity
) -> None:
    timer = entity_sim.config.general_inactivity
    if timer > 30:
        pytest.skip(f"not tested: T_TCP_General_Inactivity is {timer:g} s")
    assert activated.closed_within(timer + MARGIN), f"still open {timer + MARGIN:g} s on"


# -- vehicle identification, announcements, status ------------------------------------------


@pytest.mark.requirement("DOIP-040", clause="ISO 13400-2 vehicle identification (plain, VIN, EID)")
def test_vehicle_identification(doip: DoipConfig) -> None:
    with udp_client(doip) as client:
        found = client.request_vehicle_identification()
        assert len(found.vin) == 17
        assert client.request_vehicle_identification(vin=found.vin).eid == found.eid
        assert client.request_vehicle_identification(eid=found.eid).vin == found.vin


@pytest.mark.requirement(
    "DOIP-041", clause="ISO 13400-2 vehicle announcement (A_DoIP_Announce_Num)"
)
def test_three_announcements_after_power_on(bench: Bench, entity_sim: DoipEntity) -> None:
    config = entity_sim.config
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        entity_sim.announce_to(*sock.getsockname())
        ecu = next(e for e in bench.sims.values() if entity_sim in e.services)
        ecu.power_off()
        ecu.power_on()
        wait = config.announce_max_delay + config.announce_interval + MARGIN
        count = 0
        try:
            while True:
                DoIPClient.await_vehicle_announcement(sock=sock, timeout=wait)
                count += 1
        except TimeoutError:
            pass
        entity_sim.listeners.remove(sock.getsockname())
    assert count == config.announce_count == 3, f"{count} announcements after power-on"


@pytest.mark.requirement("DOIP-050", clause="ISO 13400-2 entity status, diagnostic power mode")
def test_entity_status_and_power_mode(activated: DoipSocket, doip: DoipConfig) -> None:
    with udp_client(doip) as client:
        status = client.request_entity_status()
        assert status.max_concurrent_sockets >= 1
        assert 1 <= status.currently_open_sockets <= status.max_concurrent_sockets
        assert client.request_diagnostic_power_mode().diagnostic_power_mode == 0x01

"""A simulated DoIP entity (ISO 13400-2): the edge node of a simulated ECU.

An ECU file's ``[doip]`` table gives its ECU one. It listens on 127.0.0.1 only, on
ephemeral ports unless the file names them: TCP for routing activation, alive check and
diagnostic messages, UDP for vehicle identification (plain, by VIN, by EID), entity
status and diagnostic power mode; at each power-on it announces itself (three vehicle
announcements 500 ms apart after a random delay of up to 500 ms) to the UDP addresses
that :meth:`DoipEntity.announce_to` registered. Diagnostic messages for the ECU's
logical address are routed over ISO-TP on the virtual CAN to the ECU's own UDS server,
so one server answers on both transports; with ``routing = "local"`` the entity is a
DoIP-native ECU instead, handing them to that server directly (no CAN hop).

doipclient's message classes encode and decode the payloads; the framing, the header
checks and the state machine (sockets, timers, routing) are the entity's and written
here because no Python DoIP server library covers an edge node.

.. code-block:: toml

    [doip]
    logical_address = 0x0010
    vin = "WDEMO000000000001"
    eid = "02:00:00:00:00:10"
    gid = "02:00:00:00:00:00"
    max_sockets = 2
    max_data_size = 8192             # bytes of one DoIP message payload it accepts
    testers = [0x0E00, 0x0FFF]       # source addresses it routes for (inclusive range)
    activation_types = [0x00, 0x01]
    unreachable = [0x0011]           # known logical addresses whose node is unreachable
    initial_inactivity_ms = 2000     # T_TCP_Initial_Inactivity
    general_inactivity_ms = 300000   # T_TCP_General_Inactivity
    alive_check_ms = 500             # T_TCP_Alive_Check
    announce_count = 3
    announce_interval_ms = 500
    announce_max_delay_ms = 500
    routing = "can"                  # "can": an edge node (ISO-TP to the server) | "local":
                                     # the server on board, a DoIP-native ECU
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doipclient.messages import (
    AliveCheckRequest,
    DiagnosticMessage,
    DiagnosticMessageNegativeAcknowledgement,
    DiagnosticMessagePositiveAcknowledgement,
    DiagnosticPowerModeResponse,
    EntityStatusResponse,
    GenericDoIPNegativeAcknowledge,
    RoutingActivationResponse,
    VehicleIdentificationResponse,
    payload_message_to_type,
)

from harness.datafile import Table, suggest
from harness.diag.config import DiagConfig, IsoTpConfig
from harness.diag.transport.on_can import isotp_link
from harness.exceptions import ConfigError, HarnessError

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.sim.ecu import SimulatedEcu
    from harness.sim.uds.config import ServerConfig
    from harness.sim.uds.server import UdsServer

log = logging.getLogger(__name__)

VERSION = 0x02
HEADER = struct.Struct("!BBHL")
ISOTP_MAX = 4095
"""Largest UDS message the CAN side carries (classic ISO-TP)."""
ROUTINGS = ("can", "local")
"""Where diagnostic messages go: over ISO-TP on CAN (an edge node) or to the ECU's own
server (a DoIP-native ECU)."""

# Generic header NACK codes (ISO 13400-2 table 19)
INCORRECT_PATTERN, UNKNOWN_TYPE, TOO_LARGE, OUT_OF_MEMORY, INVALID_LENGTH = range(5)
# Diagnostic message NACK codes (table 29)
INVALID_SOURCE, UNKNOWN_TARGET, DIAG_TOO_LARGE, TARGET_UNREACHABLE = 0x02, 0x03, 0x04, 0x06

TCP_TYPES = {0x0005: (7, 11), 0x0008: (2, 2), 0x8001: (5, None)}
"""Payload types the entity takes on TCP -> (shortest, longest) payload length."""
UDP_TYPES = {0x0001: (0, 0), 0x0002: (6, 6), 0x0003: (17, 17), 0x4001: (0, 0), 0x4003: (0, 0)}


@dataclass(frozen=True)
class EntityConfig:
    """An ECU file's ``[doip]``, validated."""

    source: str
    logical_address: int
    vin: str
    eid: bytes
    gid: bytes
    port: int = 0
    udp_port: int = 0
    max_sockets: int = 2
    max_data_size: int = 8192
    testers: tuple[int, int] = (0x0E00, 0x0FFF)
    activation_types: tuple[int, ...] = (0x00, 0x01)
    unreachable: tuple[int, ...] = ()
    initial_inactivity: float = 2.0
    general_inactivity: float = 300.0
    alive_check: float = 0.5
    announce_count: int = 3
    announce_interval: float = 0.5
    announce_max_delay: float = 0.5
    can_timeout: float = 2.0
    """How long the entity waits for the ECU's answer on CAN before giving up on it."""
    routing: str = "can"
    """One of :data:`ROUTINGS`."""


def parse_entity(data: Mapping[str, Any], source: Path) -> EntityConfig:
    table = Table(data, str(source), "doip")
    address = _int_list(table, "logical_address", [0x0010])[0]
    vin = table.required_str("vin")
    if len(vin) != 17:
        raise table.error("vin", f"a VIN has 17 characters, got {len(vin)}")
    eid = _mac(table, "eid")
    gid = _mac(table, "gid")
    routing = table.optional_str("routing") or "can"
    if routing not in ROUTINGS:
        raise table.error(
            "routing", f"expected one of {', '.join(ROUTINGS)}{suggest(routing, list(ROUTINGS))}"
        )
    testers = _int_list(table, "testers", [0x0E00, 0x0FFF])
    if len(testers) != 2 or testers[0] > testers[1]:
        raise table.error("testers", f"expected [lowest, highest] source address, got {testers}")
    config = EntityConfig(
        str(source),
        address,
        vin,
        eid,
        gid,
        port=table.optional_int("port", minimum=0) or 0,
        udp_port=table.optional_int("udp_port", minimum=0) or 0,
        max_sockets=table.optional_int("max_sockets") or 2,
        max_data_size=table.optional_int("max_data_size", minimum=5) or 8192,
        testers=(testers[0], testers[1]),
        activation_types=tuple(_int_list(table, "activation_types", [0x00, 0x01])),
        unreachable=tuple(_int_list(table, "unreachable", [])),
        initial_inactivity=table.number("initial_inactivity_ms", 2000.0) / 1000,
        general_inactivity=table.number("general_inactivity_ms", 300000.0) / 1000,
        alive_check=table.number("alive_check_ms", 500.0) / 1000,
        announce_count=table.optional_int("announce_count", minimum=0) or 3,
        announce_interval=table.number("announce_interval_ms", 500.0) / 1000,
        announce_max_delay=table.number("announce_max_delay_ms", 500.0) / 1000,
        can_timeout=table.number("can_timeout_ms", 2000.0) / 1000,
        routing=routing,
    )
    table.finish()
    return config


def _int_list(table: Table, key: str, default: list[int]) -> list[int]:
    table.accept(key)
    value = table.data.get(key, default)
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0xFFFF for v in values):
        raise table.error(key, f"expected logical addresses 0..0xFFFF, got {value!r}")
    return values


def _mac(table: Table, key: str) -> bytes:
    text = table.required_str(key)
    try:
        value = bytes.fromhex(text.replace(":", ""))
    except ValueError:
        value = b""
    if len(value) != 6:
        raise table.error(key, f"expected 6 bytes like 02:00:00:00:00:10, got {text!r}")
    return value


def frame(payload_type: int, payload: bytes) -> bytes:
    """One DoIP message: the generic header and ``payload``."""
    return HEADER.pack(VERSION, VERSION ^ 0xFF, payload_type, len(payload)) + payload


def message(doip_message: Any) -> bytes:
    return frame(payload_message_to_type[type(doip_message)], doip_message.pack())


def nack(code: int) -> bytes:
    return message(GenericDoIPNegativeAcknowledge(code))


class ClosedError(Exception):
    """The tester closed the socket or a timer closed it."""


class Connection:
    """One tester's TCP socket: its registered source address and its alive-check state."""

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        self.source_address: int | None = None
        self.alive = threading.Event()
        self._send_lock = threading.Lock()
        self.closed = False

    def send(self, data: bytes) -> None:
        with self._send_lock:
            if not self.closed:
                try:
                    self.sock.sendall(data)
                except OSError as exc:
                    log.debug("DoIP %s: send failed: %s", self.peer, exc)

    def recv_exact(self, count: int, timeout: float) -> bytes:
        data = bytearray()
        self.sock.settimeout(timeout)
        while len(data) < count:
            try:
                chunk = self.sock.recv(min(65536, count - len(data)))
            except TimeoutError as exc:
                raise ClosedError("inactivity timer expired") from exc
            except OSError as exc:
                raise ClosedError(str(exc)) from exc
            if not chunk:
                raise ClosedError("closed by the tester")
            data += chunk
        return bytes(data)

    def close(self) -> None:
        with self._send_lock:
            self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class DoipEntity:
    """The DoIP entity of one simulated ECU (a :class:`~harness.sim.ecu.Service`).

    The sockets are bound when it is made (so the ports are known before power-on
    and stay the same across power cycles); it serves only while the ECU is powered.
    """

    def __init__(
        self,
        config: EntityConfig,
        channel: Channel,
        server: ServerConfig,
        faults: Callable[[], frozenset[str]] = frozenset,
        *,
        local: UdsServer | None = None,
    ) -> None:
        self.config = config
        self.faults = faults
        self._local = local
        """The ECU's own server, for ``routing = "local"``: requests go to it, not to CAN."""
        self._tcp = socket.create_server(("127.0.0.1", config.port))
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", config.udp_port))
        self.listeners: list[tuple[str, int]] = []
        self.announcements_sent = 0
        self._connections: list[Connection] = []
        self._lock = threading.Lock()
        self._can_lock = threading.Lock()
        self._running = threading.Event()
        self._powered_off = threading.Event()
        self._closed = False
        self._diag = DiagConfig(
            source=config.source,
            channel=channel.name,
            address=server.address,
            isotp=IsoTpConfig(padding=server.isotp.padding, block_size=0),
        )
        self._channel = channel
        self._link_cm: Any = None
        self._uds: Any = None
        self._link_closed = threading.Event()
        self._routed_to: tuple[Connection, int] | None = None
        threading.Thread(target=self._accept_loop, name="doip tcp", daemon=True).start()
        threading.Thread(target=self._udp_loop, name="doip udp", daemon=True).start()

    @property
    def address(self) -> tuple[str, int]:
        """(host, TCP port) testers connect to."""
        host, port = self._tcp.getsockname()[:2]
        return str(host), int(port)

    @property
    def udp_address(self) -> tuple[str, int]:
        host, port = self._udp.getsockname()[:2]
        return str(host), int(port)

    def announce_to(self, host: str, port: int) -> None:
        """Send the vehicle announcements of every later power-on to ``host:port`` too."""
        self.listeners.append((host, port))

    # -- service ------------------------------------------------------------------

    def start(self) -> None:
        if self._closed or self._running.is_set():
            return
        self._running.set()
        self._powered_off = threading.Event()
        threading.Thread(
            target=self._announce, args=(self._powered_off,), name="doip announce", daemon=True
        ).start()

    def stop(self) -> None:
        if not self._running.is_set():
            return
        self._running.clear()
        self._powered_off.set()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._close_link()

    def _open_link(self) -> Any:
        """The ISO-TP tester on the CAN side, opened while a DoIP tester is routed: a stack
        listening on the ECU's response ID all the time would answer the first frames of
        every other tester's responses with flow controls of its own."""
        if self._uds is None:
            self._link_cm = isotp_link(self._channel, self._diag)
            link = self._link_cm.__enter__()
            self._uds = link.connection(f"doip gateway {link.name}")
            self._uds.open()
            self._link_closed = threading.Event()
            threading.Thread(
                target=self._relay_loop,
                args=(self._uds, self._link_closed),
                name="doip relay",
                daemon=True,
            ).start()
        return self._uds

    def _close_link(self) -> None:
        with self._can_lock:
            if self._uds is None:
                return
            self._link_closed.set()
            self._uds.close()
            self._link_cm.__exit__(None, None, None)
            self._uds = self._link_cm = None
            self._routed_to = None

    def close(self) -> None:
        self.stop()
        self._closed = True
        for sock in (self._tcp, self._udp):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    # -- UDP ----------------------------------------------------------------------

    def _identification(self) -> bytes:
        c = self.config
        return message(VehicleIdentificationResponse(c.vin, c.logical_address, c.eid, c.gid, 0, 0))

    def _announce(self, stopped: threading.Event) -> None:
        """Vehicle announcements of one power-on (ISO 13400-2 7.3.2), until power-off."""
        count = self.config.announce_count - (
            1 if "announcement_count_wrong" in self.faults() else 0
        )
        if stopped.wait(random.uniform(0, self.config.announce_max_delay)):
            return
        for i in range(count):
            if stopped.is_set():
                return
            for listener in list(self.listeners):
                with contextlib.suppress(OSError):
                    self._udp.sendto(self._identification(), listener)
            self.announcements_sent += 1
            if i < count - 1:
                stopped.wait(self.config.announce_interval)

    def _udp_loop(self) -> None:
        while True:
            try:
                data, peer = self._udp.recvfrom(65536)
            except OSError:
                return  # closed
            if not self._running.is_set():
                continue
            reply = self._on_datagram(data)
            if reply is not None:
                with contextlib.suppress(OSError):
                    self._udp.sendto(reply, peer)

    def _on_datagram(self, data: bytes) -> bytes | None:
        if len(data) < HEADER.size:
            return nack(INCORRECT_PATTERN)
        version, inverse, payload_type, length = HEADER.unpack_from(data)
        if inverse != version ^ 0xFF or version not in (VERSION, 0xFF):
            return nack(INCORRECT_PATTERN)
        if payload_type not in UDP_TYPES:
            return nack(UNKNOWN_TYPE)
        if length > self.config.max_data_size:
            return nack(TOO_LARGE)
        low, high = UDP_TYPES[payload_type]
        payload = data[HEADER.size :]
        if length != len(payload) or not low <= length <= high:
            return nack(INVALID_LENGTH)
        c = self.config
        if payload_type == 0x0001:
            return self._identification()
        if payload_type == 0x0002:
            return self._identification() if payload == c.eid else None
        if payload_type == 0x0003:
            return self._identification() if payload == c.vin.encode("ascii") else None
        if payload_type == 0x4001:
            with self._lock:
                open_sockets = len(self._connections)
            return message(EntityStatusResponse(0, c.max_sockets, open_sockets, c.max_data_size))
        return message(DiagnosticPowerModeResponse(0x01))  # 0x4003: ready

    # -- TCP ----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, peer = self._tcp.accept()
            except OSError:
                return  # closed
            if not self._running.is_set():
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            connection = Connection(sock, f"{peer[0]}:{peer[1]}")
            with self._lock:
                self._connections.append(connection)
            threading.Thread(
                target=self._serve, args=(connection,), name="doip conn", daemon=True
            ).start()

    def _serve(self, connection: Connection) -> None:
        try:
            while True:
                activated = connection.source_address is not None
                timer = (
                    self.config.general_inactivity if activated else self.config.initial_inactivity
                )
                header = connection.recv_exact(HEADER.size, timer)
                if not self._on_message(connection, header):
                    break
        except ClosedError as why:
            log.debug("DoIP %s: %s", connection.peer, why)
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
                routed = any(c.source_address is not None for c in self._connections)
            connection.close()
            if not routed:
                self._close_link()

    def _on_message(self, connection: Connection, header: bytes) -> bool:
        """Handle one message; False closes the socket (as ISO 13400-2 says for that case)."""
        version, inverse, payload_type, length = HEADER.unpack(header)
        timer = self.config.general_inactivity
        if inverse != version ^ 0xFF or version != VERSION:
            connection.send(nack(INCORRECT_PATTERN))
            return False
        if payload_type not in TCP_TYPES:
            connection.send(nack(UNKNOWN_TYPE))
            self._discard(connection, length, timer)
            return True
        if length > self.config.max_data_size:
            connection.send(nack(TOO_LARGE))
            self._discard(connection, length, timer)
            return True
        low, high = TCP_TYPES[payload_type]
        if length < low or (high is not None and length > high):
            connection.send(nack(INVALID_LENGTH))
            return False
        payload = connection.recv_exact(length, timer)
        if payload_type == 0x0005:
            return self._routing_activation(connection, payload)
        if payload_type == 0x0008:
            connection.alive.set()
            return True
        return self._diagnostic(connection, payload)

    @staticmethod
    def _discard(connection: Connection, length: int, timer: float) -> None:
        while length > 0:
            length -= len(connection.recv_exact(min(length, 65536), timer))

    def _routing_activation(self, connection: Connection, payload: bytes) -> bool:
        source, activation_type = struct.unpack_from("!HB", payload)
        if "routing_activation_ignored" in self.faults():
            return True
        code = self._activation_code(connection, source, activation_type)
        if code == 0x10:
            connection.source_address = source
        response = RoutingActivationResponse(source, self.config.logical_address, code)
        connection.send(message(response))
        return code == 0x10

    def _activation_code(self, connection: Connection, source: int, activation_type: int) -> int:
        c = self.config
        if not c.testers[0] <= source <= c.testers[1]:
            return 0x00
        if activation_type not in c.activation_types:
            return 0x06
        if connection.source_address is not None:
            return 0x10 if connection.source_address == source else 0x02
        with self._lock:
            others = [o for o in self._connections if o is not connection and o.source_address]
        same = [o for o in others if o.source_address == source]
        if same:
            return 0x03 if self._alive(same) else 0x10
        if len(others) >= c.max_sockets:
            return 0x01 if self._alive(others) else 0x10
        return 0x10

    def _alive(self, connections: list[Connection]) -> bool:
        """Alive check (ISO 13400-2 7.4): True if every one answers in time; those that do
        not are closed."""
        for other in connections:
            other.alive.clear()
            other.send(message(AliveCheckRequest()))
        alive = True
        for other in connections:
            if not other.alive.wait(self.config.alive_check):
                alive = False
                other.close()
        return alive

    def _diagnostic(self, connection: Connection, payload: bytes) -> bool:
        source, target = struct.unpack_from("!HH", payload)
        data = payload[4:]
        c = self.config
        faults = self.faults()

        def refuse(code: int) -> None:
            reply = DiagnosticMessageNegativeAcknowledgement(target, source, code, data[:4])
            connection.send(message(reply))

        if connection.source_address is None or source != connection.source_address:
            refuse(INVALID_SOURCE)
            return False
        if target in c.unreachable:
            refuse(TARGET_UNREACHABLE)
            return True
        if target != c.logical_address:
            refuse(INVALID_SOURCE if "wrong_nack_code" in faults else UNKNOWN_TARGET)
            return True
        if len(data) > (c.max_data_size - 4 if self._local is not None else ISOTP_MAX):
            refuse(DIAG_TOO_LARGE)
            return True
        if "ack_missing" not in faults:
            ack = DiagnosticMessagePositiveAcknowledgement(target, source, 0x00, data[:4])
            connection.send(message(ack))
        if self._local is not None:
            return self._serve_locally(self._local, connection, source, data)
        with self._can_lock:
            if not self._running.is_set():
                return False
            self._routed_to = (connection, source)
            try:
                self._open_link().send(data)
            except (HarnessError, OSError, ValueError) as exc:
                log.debug("DoIP routing to CAN failed: %s", exc)
        return True

    def _serve_locally(
        self, server: UdsServer, connection: Connection, tester: int, data: bytes
    ) -> bool:
        """A DoIP-native ECU: the request goes to its server, each response straight back."""

        def reply(response: bytes) -> None:
            answer = DiagnosticMessage(self.config.logical_address, tester, response)
            connection.send(message(answer))  # a tester gone meanwhile: dropped, logged

        if not self._running.is_set():
            return False
        server.submit(data, reply)
        return True

    def _relay_loop(self, uds: Any, closed: threading.Event) -> None:
        """CAN answers of the ECU back to the tester whose request went out last."""
        while not closed.is_set():
            try:
                response = uds.wait_frame(timeout=0.5, exception=False)
            except Exception as exc:  # noqa: BLE001 - a stopped stack ends the relay
                log.debug("DoIP relay: %s", exc)
                return
            routed = self._routed_to
            if response is None or routed is None:
                continue
            connection, tester = routed
            reply = DiagnosticMessage(self.config.logical_address, tester, bytes(response))
            connection.send(message(reply))


def attach_entity(ecu: SimulatedEcu, channel: Channel) -> DoipEntity | None:
    """Give a simulated ECU the DoIP entity its ECU file's ``[doip]`` describes, routing to
    its UDS server over ``channel`` (the entity's own bus on the ECU's CAN)."""
    from harness.sim.uds.config import parse_server  # noqa: PLC0415 - udsoncan only if used

    definition = ecu.definition
    if not definition.doip:
        return None
    if not definition.diagnostics:
        raise ConfigError(
            str(definition.path), "doip", "a DoIP entity routes to the [diagnostics] server"
        )
    from harness.sim.uds.server import UdsServer  # noqa: PLC0415

    config = parse_entity(definition.doip, definition.path)
    server = parse_server(definition.diagnostics, definition.path, definition.db)
    local = None
    if config.routing == "local":
        local = next((s for s in ecu.services if isinstance(s, UdsServer)), None)
        if local is None:
            raise ConfigError(str(definition.path), "doip.routing", "no UDS server to host")
    entity = DoipEntity(config, channel, server, lambda: ecu.doip_faults, local=local)
    ecu.attach(entity)
    return entity

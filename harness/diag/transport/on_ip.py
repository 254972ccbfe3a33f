"""The ``doip`` diagnostic transport: UDS over DoIP (ISO 13400-2) on TCP, with doipclient.

doipclient's :class:`~doipclient.DoIPClient` does the protocol (routing activation,
vehicle identification, alive check answers, diagnostic message ACK/NACK) and its
:class:`~doipclient.connectors.DoIPClientUDSConnector` hands udsoncan the UDS payloads.
What this module adds is strict reading of the TCP stream: doipclient skips a header
whose inverse version byte does not match, waits out a length larger than what
arrives, and treats a connection closed mid-message as a timeout. A tester must say
what the entity did instead, so :class:`StrictDoipClient` reads each message whole and
raises a :class:`~harness.exceptions.DiagnosticError` naming the bytes that arrived.
"""

from __future__ import annotations

import logging
import ssl
import struct
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from doipclient import DoIPClient
from doipclient.connectors import DoIPClientUDSConnector
from doipclient.constants import A_PROCESSING_TIME
from doipclient.messages import (
    AliveCheckRequest,
    AliveCheckResponse,
    DiagnosticMessageNegativeAcknowledgement,
    GenericDoIPNegativeAcknowledge,
    ReservedMessage,
    RoutingActivationResponse,
    payload_type_to_message,
)

from harness import clock
from harness.diag.names import nrc_name, response_service_name, service_name
from harness.diag.transport.on_can import is_security_key
from harness.exceptions import DiagnosticError

if TYPE_CHECKING:
    from udsoncan.connections import BaseConnection

    from harness.canbus.channel import Channel
    from harness.diag.config import DiagConfig, DoipConfig
    from harness.diag.transport import Link

log = logging.getLogger(__name__)

HEADER = struct.Struct("!BBHL")
"""Generic DoIP header (ISO 13400-2 table 16): version, inverse version, type, length."""
VERSIONS = (0x01, 0x02, 0x03, 0x04, 0xFF)
"""Protocol versions a header may carry (0xFF only in vehicle identification requests)."""
MAX_PAYLOAD = 16 * 1024 * 1024
"""Longer payloads than this are not a real DoIP message but a broken length field."""
PROTOCOL_VERSION = 0x02
ERRORS_KEPT = 100
MESSAGES_KEPT = 2000
"""DoIP messages a tester keeps for the evidence of a failed test (the newest)."""
DIAGNOSTIC_MESSAGE = 0x8001

PAYLOAD_NAMES = {
    0x0000: "generic header NACK",
    0x0001: "vehicle identification request",
    0x0004: "vehicle announcement / identification response",
    0x0005: "routing activation request",
    0x0006: "routing activation response",
    0x0007: "alive check request",
    0x0008: "alive check response",
    0x4001: "entity status request",
    0x4002: "entity status response",
    0x4003: "diagnostic power mode request",
    0x4004: "diagnostic power mode response",
    0x8001: "diagnostic message",
    0x8002: "diagnostic message ACK",
    0x8003: "diagnostic message NACK",
}
"""Payload types (ISO 13400-2 table 17) as the evidence names them."""

GENERIC_NACKS = {
    0x00: "incorrect pattern format",
    0x01: "unknown payload type",
    0x02: "message too large",
    0x03: "out of memory",
    0x04: "invalid payload length",
}
DIAGNOSTIC_NACKS = {
    0x02: "invalid source address",
    0x03: "unknown target address",
    0x04: "diagnostic message too large",
    0x05: "out of memory",
    0x06: "target unreachable",
    0x07: "unknown network",
    0x08: "transport protocol error",
}
ROUTING_CODES = {
    0x00: "denied: unknown source address",
    0x01: "denied: all sockets registered and active",
    0x02: "denied: source address differs from the one registered on this socket",
    0x03: "denied: source address already registered on another socket",
    0x04: "denied: missing authentication",
    0x05: "denied: rejected confirmation",
    0x06: "denied: unsupported routing activation type",
    0x07: "denied: requires TLS",
    0x10: "successfully activated",
    0x11: "activated, confirmation required",
}


def check_header(header: bytes) -> tuple[int, int, int]:
    """(version, payload type, payload length) of an 8-byte header; a DiagnosticError
    naming the bytes when it is no DoIP header."""
    version, inverse, payload_type, length = HEADER.unpack(header)
    if inverse != version ^ 0xFF or version not in VERSIONS:
        raise DiagnosticError(f"garbage DoIP header {header.hex(' ')} (version/inverse wrong)")
    if length > MAX_PAYLOAD:
        raise DiagnosticError(
            f"DoIP header {header.hex(' ')} announces {length} payload bytes (at most "
            f"{MAX_PAYLOAD} expected)"
        )
    return version, payload_type, length


@dataclass(frozen=True)
class DoipRecord:
    """One DoIP message on the tester's TCP connection, as the evidence shows it."""

    time: float
    """:func:`harness.clock.now` when it was sent or read whole."""
    sent: bool
    payload_type: int
    payload: bytes
    """SecurityAccess keys zeroed."""

    def describe(self, since: float) -> str:
        """``+0.0012s doip tx diagnostic message 0x0E00->0x0010: ReadDataByIdentifier 22 f1 90``."""
        name = PAYLOAD_NAMES.get(self.payload_type, f"payload type 0x{self.payload_type:04X}")
        head = f"+{self.time - since:.4f}s doip {'tx' if self.sent else 'rx'} {name}"
        if self.payload_type == DIAGNOSTIC_MESSAGE and len(self.payload) > 4:
            source, target = struct.unpack_from("!HH", self.payload)
            uds = self.payload[4:]
            shown = uds[:16].hex(" ") + (" ..." if len(uds) > 16 else "")
            return f"{head} 0x{source:04X}->0x{target:04X}: {uds_name(uds)} {shown}"
        return f"{head}: {self.payload[:16].hex(' ')}" if self.payload else head


def uds_name(uds: bytes) -> str:
    """The service a UDS payload requests or answers."""
    if uds[0] == 0x7F and len(uds) >= 3:
        return f"{service_name(uds[1])} negative 0x{uds[2]:02X} {nrc_name(uds[2])}"
    if uds[0] & 0x40 and uds[0] != 0x7F:
        return f"{response_service_name(uds[0])} positive"
    return service_name(uds[0])


def recorded(payload_type: int, payload: bytes) -> bytes:
    """``payload`` as kept: a diagnostic message carrying a SecurityAccess key has the
    key bytes zeroed (the service and level stay readable)."""
    if payload_type == DIAGNOSTIC_MESSAGE and is_security_key(payload[4:]):
        return payload[:6] + bytes(len(payload) - 6)
    return payload


class StrictDoipClient(DoIPClient):  # type: ignore[misc]  # doipclient is Any to mypy
    """doipclient's client, reading its TCP stream strictly (see the module docstring);
    NACKs become DiagnosticErrors naming the code. Every TCP message it sends or reads
    is kept in ``messages`` (the newest :data:`MESSAGES_KEPT`) for the test evidence."""

    def __init__(self, *args: Any, errors: deque[Exception], **kwargs: Any) -> None:
        self._rx = bytearray()
        self.messages: deque[DoipRecord] = deque(maxlen=MESSAGES_KEPT)
        self.errors = errors
        self._peer = f"{args[0]}:{kwargs.get('tcp_port')}"
        super().__init__(*args, **kwargs)

    def read_doip(
        self,
        timeout: float = A_PROCESSING_TIME,
        transport: Any = DoIPClient.TransportType.TRANSPORT_TCP,
    ) -> Any:
        if transport != DoIPClient.TransportType.TRANSPORT_TCP:
            return super().read_doip(timeout=timeout, transport=transport)
        deadline = clock.now() + timeout
        while True:
            message = self._next_message(deadline)
            if isinstance(message, AliveCheckRequest):
                self.send_doip_message(AliveCheckResponse(self._client_logical_address))
                continue
            if isinstance(message, GenericDoIPNegativeAcknowledge):
                raise self._failed(
                    f"the DoIP entity {self._peer} answered with a generic header NACK "
                    f"0x{message.nack_code:02X} "
                    f"({GENERIC_NACKS.get(message.nack_code, 'reserved')})"
                )
            if isinstance(message, DiagnosticMessageNegativeAcknowledgement):
                raise self._failed(
                    f"the DoIP entity {self._peer} refused the diagnostic message: NACK "
                    f"0x{message.nack_code:02X} "
                    f"({DIAGNOSTIC_NACKS.get(message.nack_code, 'reserved')})"
                )
            return message

    def send_doip(
        self,
        payload_type: int,
        payload_data: bytes,
        transport: Any = DoIPClient.TransportType.TRANSPORT_TCP,
        disable_retry: bool = False,
    ) -> None:
        if transport == DoIPClient.TransportType.TRANSPORT_TCP:
            kept = recorded(payload_type, bytes(payload_data))
            self.messages.append(DoipRecord(clock.now(), True, payload_type, kept))
        super().send_doip(
            payload_type, payload_data, transport=transport, disable_retry=disable_retry
        )

    def send_diagnostic_to_address(
        self, address: int, diagnostic_payload: bytes, timeout: float = A_PROCESSING_TIME
    ) -> None:
        """Send a UDS payload and wait for the entity's positive ACK (ISO 13400-2 7.8)."""
        try:
            super().send_diagnostic_to_address(address, diagnostic_payload, timeout)
        except TimeoutError as exc:
            raise self._failed(
                f"the DoIP entity {self._peer} did not acknowledge the diagnostic message "
                f"to 0x{address:04X} within {timeout:g} s"
            ) from exc

    def _failed(self, text: str) -> DiagnosticError:
        error = DiagnosticError(text)
        self.errors.append(error)
        return error

    def _next_message(self, deadline: float) -> Any:
        header = self._take(8, deadline, None)
        try:
            _, payload_type, length = check_header(header)
        except DiagnosticError as exc:
            self.errors.append(exc)
            raise
        payload = self._take(length, deadline, header)
        kept = recorded(payload_type, payload)
        self.messages.append(DoipRecord(clock.now(), False, payload_type, kept))
        cls = payload_type_to_message.get(payload_type)
        if cls is None:
            return ReservedMessage.unpack(payload_type, payload, length)
        try:
            return cls.unpack(payload, length)
        except (struct.error, IndexError, ValueError) as exc:
            raise self._failed(
                f"malformed DoIP message {header.hex(' ')} {payload.hex(' ')}: {exc}"
            ) from exc

    def _take(self, count: int, deadline: float, header: bytes | None) -> bytes:
        """``count`` bytes of the stream; a TimeoutError when nothing arrives, a
        DiagnosticError when a message stops half-way (the peer closed or went quiet)."""
        while len(self._rx) < count:
            remaining = deadline - clock.now()
            started = header is not None or self._rx
            if remaining <= 0:
                if started:
                    raise self._failed(self._partial(count, header, "no more arrived in time"))
                raise TimeoutError(f"no DoIP message from {self._peer}")
            self._tcp_sock.settimeout(remaining)
            try:
                data = self._tcp_sock.recv(65536)
            except TimeoutError:
                continue
            except (OSError, ssl.SSLError) as exc:
                why = f"the connection broke: {exc}"
                raise self._failed(self._partial(count, header, why)) from exc
            if not data:
                self._tcp_close_detected = True
                raise self._failed(self._partial(count, header, "the entity closed the connection"))
            self._rx += data
        taken = bytes(self._rx[:count])
        del self._rx[:count]
        return taken

    def _partial(self, count: int, header: bytes | None, why: str) -> str:
        got = bytes(self._rx)
        if header is None:
            if not got:
                return f"DoIP entity {self._peer}: {why} (no message had started)"
            return (
                f"DoIP entity {self._peer}: {why} after {len(got)} of 8 header bytes: "
                f"{got.hex(' ')}"
            )
        return (
            f"DoIP entity {self._peer}: {why} after {len(got)} of {count} payload bytes the "
            f"header {header.hex(' ')} announced: {got[:32].hex(' ')}"
        )


@dataclass
class DoipLink:
    """The :class:`~harness.diag.transport.Link` of UDS over DoIP to one entity."""

    client: StrictDoipClient
    doip: DoipConfig
    errors_seen: deque[Exception] = field(default_factory=lambda: deque(maxlen=ERRORS_KEPT))
    protocol: str = "DoIP"
    channel: Channel | None = None

    @property
    def name(self) -> str:
        d = self.doip
        return f"doip {d.host}:{d.port} 0x{d.tester_address:04X}->0x{d.target_address:04X}"

    def connection(self, name: str) -> BaseConnection:
        connection: BaseConnection = DoIPClientUDSConnector(self.client, name)
        return connection

    def functional_connection(self, name: str) -> BaseConnection | None:
        return None  # functional logical addresses are VM-specific: none configured

    def errors(self) -> list[Exception]:
        return list(self.errors_seen)

    def messages(self) -> list[DoipRecord]:
        """The DoIP messages of this link so far, oldest first (keys zeroed)."""
        return list(self.client.messages)


def connect(doip: DoipConfig, errors: deque[Exception] | None = None) -> StrictDoipClient:
    """A connected, routing-activated client for ``doip``; a DiagnosticError saying why not
    (nobody listening, wrong VIN/EID, activation refused)."""
    errors = errors if errors is not None else deque(maxlen=ERRORS_KEPT)
    where = f"DoIP entity {doip.host}:{doip.port}"
    try:
        client = StrictDoipClient(
            doip.host,
            doip.target_address,
            tcp_port=doip.port,
            udp_port=doip.udp_port,
            activation_type=None,
            protocol_version=PROTOCOL_VERSION,
            client_logical_address=doip.tester_address,
            use_secure=doip.tls,
            errors=errors,
        )
    except OSError as exc:
        raise DiagnosticError(f"{where}: cannot connect: {exc}") from exc
    try:
        if doip.vin is not None or doip.eid is not None:
            _identify(client, doip, where)
        response = client.request_activation(doip.activation_type, disable_retry=True)
    except TimeoutError as exc:
        client.close()
        raise DiagnosticError(f"{where}: no routing activation response: {exc}") from exc
    except BaseException:
        client.close()
        raise
    assert isinstance(response, RoutingActivationResponse)
    code = response.response_code
    if code not in (0x10, 0x11):
        client.close()
        raise DiagnosticError(
            f"{where}: routing activation (type 0x{doip.activation_type:02X}, tester "
            f"0x{doip.tester_address:04X}) refused: 0x{code:02X} "
            f"({ROUTING_CODES.get(code, 'reserved')})"
        )
    return client


def _identify(client: StrictDoipClient, doip: DoipConfig, where: str) -> None:
    try:
        found = client.request_vehicle_identification(vin=doip.vin, eid=doip.eid)
    except TimeoutError as exc:
        by = f"VIN {doip.vin}" if doip.vin else f"EID {doip.eid.hex(':') if doip.eid else ''}"
        raise DiagnosticError(f"{where}: no vehicle identification response for {by}") from exc
    if found.logical_address != doip.target_address:
        log.info(
            "%s: the entity is 0x%04X, the DUT 0x%04X (routed through it)",
            where,
            found.logical_address,
            doip.target_address,
        )


@contextmanager
def doip_link(doip: DoipConfig) -> Iterator[DoipLink]:
    """UDS over DoIP to the entity ``doip`` names, closed on exit."""
    errors: deque[Exception] = deque(maxlen=ERRORS_KEPT)
    client = connect(doip, errors)
    try:
        yield DoipLink(client, doip, errors)
    finally:
        try:
            client.close()
        except OSError as exc:
            log.debug("closing %s: %s", doip.host, exc)


class DoipTransport:
    """``transport = "doip"``: ISO 13400-2 to the entity of ``[diagnostics.doip]``."""

    def open(
        self, config: DiagConfig, channels: Mapping[str, Channel]
    ) -> AbstractContextManager[Link]:
        if config.doip is None:
            raise DiagnosticError(f"{config.source}: transport doip without [diagnostics.doip]")
        return doip_link(config.doip)


DOIP = DoipTransport()

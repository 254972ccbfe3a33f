"""The ``isotp`` diagnostic transport: can-isotp's notifier-based stack on a harness
channel, sharing the channel's bus and Notifier, sending through the channel so every
frame lands in its history (and trace); the UDS tester over it (:func:`uds_on_channel`)
and the OBD-II tester (:func:`obd_on_channel`, ISO 15765-4).

Two stacks listening for the same response ID on one channel would both answer the
ECU's first frame with a flow control; :func:`shared_stack` hands out one stack per
(channel, address) instead, so a UDS client and an OBD-II client can be open together.

The simulated ECUs' servers run the same stack (:mod:`harness.sim.uds.stack` adds their
seeded ISO-TP faults to it), so tester and server segment and pace alike.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import can
import isotp
from udsoncan.connections import PythonIsoTpConnection

from harness.diag.client import UdsClient, uds_over
from harness.diag.config import AddressConfig
from harness.diag.obd import ObdClient
from harness.diag.seedkey import redact_logger
from harness.exceptions import DiagnosticError, HarnessError

if TYPE_CHECKING:
    from udsoncan.connections import BaseConnection

    from harness.canbus.channel import Channel
    from harness.diag.config import DiagConfig, IsoTpConfig
    from harness.diag.transport import Link

log = logging.getLogger(__name__)

ISOTP_LOGGER = "harness.diag.isotp"
ERRORS_KEPT = 100


class ChannelStack(isotp.NotifierBasedCanStack):
    """A can-isotp transport layer on a :class:`~harness.canbus.channel.Channel`.

    Receives through the channel's Notifier (no second reader on the bus), sends
    with :meth:`Channel.send_raw` (recorded as ``tx`` in the history). ISO-TP errors
    (timeouts, wrong sequence numbers, unexpected frames) are kept in ``errors``
    instead of being logged as warnings; the exchange that suffered them fails on
    its own timeout.
    """

    def __init__(
        self,
        channel: Channel,
        address: isotp.Address,
        transport: IsoTpConfig,
        *,
        listen: bool = False,
    ) -> None:
        self.channel = channel
        self.settings = transport
        """The ISO-TP settings the stack was made with."""
        self.errors: deque[Exception] = deque(maxlen=ERRORS_KEPT)
        redact_logger(logging.getLogger(ISOTP_LOGGER))
        super().__init__(
            channel.bus,
            channel.notifier,
            address=address,
            params=transport.params(listen=listen, logger=ISOTP_LOGGER),
            error_handler=self._on_error,
        )
        self.txfn = self._transmit
        self._prefix = address.get_rx_prefix_size()  # extended/mixed: one address byte first
        self._secret = False

    def send(
        self,
        data: Any,
        target_address_type: Any = None,
        send_timeout: float | None = None,
    ) -> None:
        """Queue a payload; a SecurityAccess key is recorded with its bytes zeroed (the
        UDS client has one request in flight at a time, so the flag is per payload)."""
        self._secret = (
            is_security_key(bytes(data)) if isinstance(data, bytes | bytearray) else False
        )
        super().send(data, target_address_type, send_timeout)

    def _transmit(self, msg: isotp.CanMessage) -> None:
        data = bytes(msg.data)
        try:
            self.channel.send_raw(
                msg.arbitration_id,
                data,
                is_extended_id=msg.is_extended_id,
                is_fd=msg.is_fd,
                bitrate_switch=msg.bitrate_switch,
                recorded=redacted(data, self._prefix) if self._secret else None,
            )
        except HarnessError as exc:  # a closed channel or a bus error: the exchange times out
            log.debug("ISO-TP on %s: %s", self.channel.name, exc)

    def _on_error(self, error: Exception) -> None:
        self.errors.append(error)
        log.debug("ISO-TP on %s: %s: %s", self.channel.name, type(error).__name__, error)

    def send_functional(self, payload: bytes) -> None:
        """Send one single frame to the functional address (requests to all ECUs)."""
        try:
            self.send(payload, target_address_type=isotp.TargetAddressType.Functional)
        except ValueError as exc:
            raise DiagnosticError(
                f"functional request {payload.hex(' ')} does not fit one single frame "
                f"(ISO 15765-2 allows functional requests only as single frames): {exc}"
            ) from exc

    def stop(self) -> None:
        """Stop at once: wake the relay thread instead of letting it finish its read timeout."""
        self.events.stop_requested.set()
        reader = self.buffered_reader
        if reader is not None:
            reader.on_message_received(can.Message(is_error_frame=True))
        super().stop()


@dataclass
class _Lease:
    stack: ChannelStack
    address: AddressConfig
    settings: IsoTpConfig
    users: int = 0


_stacks: weakref.WeakKeyDictionary[Channel, dict[tuple[object, ...], _Lease]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def _rx_key(address: AddressConfig) -> tuple[object, ...]:
    """What decides which frames a tester stack takes: mode, response ID, addresses."""
    return (
        address.mode,
        address.response_id,
        address.tester_address,
        address.ecu_address,
        address.address_extension,
    )


@contextmanager
def shared_stack(
    channel: Channel, address: AddressConfig, transport: IsoTpConfig
) -> Iterator[ChannelStack]:
    """A started tester-side stack for ``address`` on ``channel``, shared with other users
    of the same address; stopped when the last user is done."""
    key = _rx_key(address)
    with _lock:
        leases = _stacks.setdefault(channel, {})
        lease = leases.get(key)
        if lease is None:
            stack = ChannelStack(channel, address.tester(), transport)
            stack.start()
            lease = leases[key] = _Lease(stack, address, transport)
        elif lease.address != address or lease.settings != transport:
            raise DiagnosticError(
                f"channel {channel.name!r}: an ISO-TP stack for {address.describe()} is already "
                f"open with other settings ({lease.address.describe()}, {lease.settings}); "
                "two stacks answering the same ECU would send two flow controls"
            )
        lease.users += 1
    try:
        yield lease.stack
    finally:
        with _lock:
            lease.users -= 1
            last = lease.users == 0
            if last:
                del leases[key]
        if last:
            lease.stack.stop()


KEY_HEADER = {0: 3, 1: 4, 2: 1}
"""PCI type (single, first, consecutive frame) -> bytes after the address prefix that
stay readable: PCI and length, and for SF/FF the service ID and sub-function."""


def is_security_key(payload: bytes) -> bool:
    """A SecurityAccess sendKey request (0x27 with an even, non-zero sub-function)."""
    return len(payload) >= 2 and payload[0] == 0x27 and payload[1] % 2 == 0 and payload[1] != 0


def redacted(frame: bytes, prefix: int) -> bytes | None:
    """A frame of a key payload with the key bytes zeroed, as recordings keep it; None for
    frames that carry none (flow control)."""
    kept = KEY_HEADER.get(frame[prefix] >> 4) if len(frame) > prefix else None
    if kept is None:
        return None
    cut = prefix + kept
    return frame[:cut] + bytes(max(0, len(frame) - cut))


class SharedIsoTpConnection(PythonIsoTpConnection):
    """udsoncan's connection over a can-isotp stack that :func:`shared_stack` starts and
    stops (a UDS and an OBD-II client may share it), so opening and closing it only
    marks it usable."""

    def __init__(self, stack: ChannelStack, name: str) -> None:
        super().__init__(stack, name)
        self.stack = stack
        redact_logger(self.logger)
        redact_logger(self.subconn.logger)

    def open(self) -> Self:
        self.subconn.opened = True
        return self

    def close(self) -> None:
        self.subconn.opened = False

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()  # not udsoncan's: that would stop the stack other clients share


class FunctionalConnection(SharedIsoTpConnection):
    """The same stack, sending every request to the functional address as one single frame;
    answers arrive on the physical response ID."""

    def specific_send(self, payload: bytes, timeout: float | None = None) -> None:
        self.stack.send_functional(payload)


@dataclass(frozen=True)
class IsoTpLink:
    """The :class:`~harness.diag.transport.Link` of ISO-TP on a bench CAN channel."""

    channel: Channel
    stack: ChannelStack
    address: AddressConfig
    protocol: str = "ISO-TP"

    @property
    def name(self) -> str:
        return f"{self.channel.name}:{self.address.describe()}"

    def connection(self, name: str) -> BaseConnection:
        return SharedIsoTpConnection(self.stack, name)

    def functional_connection(self, name: str) -> BaseConnection | None:
        return FunctionalConnection(self.stack, name)

    def errors(self) -> list[Exception]:
        return list(self.stack.errors)


@contextmanager
def isotp_link(channel: Channel, config: DiagConfig) -> Iterator[IsoTpLink]:
    """ISO-TP to the DUT on ``channel``, by the addressing and settings of ``config``."""
    with shared_stack(channel, config.address, config.isotp) as stack:
        yield IsoTpLink(channel, stack, config.address)


class IsoTpTransport:
    """``transport = "isotp"``: ISO 15765-2 on the bench channel ``[diagnostics] channel``."""

    def open(
        self, config: DiagConfig, channels: Mapping[str, Channel]
    ) -> AbstractContextManager[Link]:
        return isotp_link(channels[config.channel], config)


ISOTP = IsoTpTransport()


@contextmanager
def uds_on_channel(channel: Channel, config: DiagConfig) -> Iterator[UdsClient]:
    """A UDS tester over ISO-TP on any channel (with its functional twin at ``.functional``)."""
    with isotp_link(channel, config) as link, uds_over(link, config) as client:
        yield client


@contextmanager
def obd_on_channel(channel: Channel, config: DiagConfig) -> Iterator[ObdClient]:
    """An OBD-II tester on ``channel`` (ISO 15765-4): one ISO-TP stack per response ID,
    requests on the functional ID."""
    with ExitStack() as stack:
        connections: dict[int, BaseConnection] = {}
        for response_id in config.obd_response_ids:
            address = AddressConfig(
                mode="normal",
                request_id=response_id - 8,
                response_id=response_id,
                functional_id=config.address.functional_id or 0x7DF,
            )
            isotp_stack = stack.enter_context(shared_stack(channel, address, config.isotp))
            name = f"{channel.name}:OBD 0x{response_id:X}"
            connections[response_id] = stack.enter_context(
                SharedIsoTpConnection(isotp_stack, name).open()
            )
        first = connections[min(connections)]
        assert isinstance(first, SharedIsoTpConnection)
        functional = FunctionalConnection(first.stack, f"{channel.name}:OBD functional").open()
        yield ObdClient(connections, functional=functional, window=config.obd_window)

"""ISO-TP on a harness channel: can-isotp's notifier-based stack, sharing the channel's bus
and Notifier, sending through the channel so every frame lands in its history (and trace).

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import can
import isotp

from harness.diag.seedkey import redact_logger
from harness.exceptions import DiagnosticError, HarnessError

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.diag.config import AddressConfig, TransportConfig

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
        transport: TransportConfig,
        *,
        listen: bool = False,
    ) -> None:
        self.channel = channel
        self.transport = transport
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
    transport: TransportConfig
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
    channel: Channel, address: AddressConfig, transport: TransportConfig
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
        elif lease.address != address or lease.transport != transport:
            raise DiagnosticError(
                f"channel {channel.name!r}: an ISO-TP stack for {address.describe()} is already "
                f"open with other settings ({lease.address.describe()}, {lease.transport}); "
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

"""RequestDownload (0x34), TransferData (0x36) and RequestTransferExit (0x37): one image
into the ECU file's download memory, with block sequence counter checks. The three share
the transfer in progress, :attr:`UdsServer.transfer
<harness.sim.uds.server.UdsServer.transfer>`, which a session change drops."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from udsoncan import MemoryLocation

from harness.sim.uds.services.base import NrcError, Service

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer

_PROGRAMMING = ("programming",)


@dataclass
class Transfer:
    """A download in progress."""

    address: int
    size: int
    data: bytearray
    counter: int = 0
    """The last block sequence counter accepted (0: none yet)."""


class RequestDownload(Service):
    """Uncompressed, unencrypted data (dataFormatIdentifier 0x00) inside the download
    memory, at its security level; one transfer at a time (0x22)."""

    sid = 0x34
    name = "RequestDownload"
    sessions = _PROGRAMMING

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) < 5:
            raise NrcError(0x13)
        address_length = payload[2] & 0x0F
        size_length = payload[2] >> 4
        if not (1 <= address_length <= 4 and 1 <= size_length <= 4):
            raise NrcError(0x31)
        if len(payload) != 3 + address_length + size_length:
            raise NrcError(0x13)
        if payload[1] != 0x00:  # dataFormatIdentifier: no compression, no encryption
            raise NrcError(0x31)
        config = server.config.download
        if config is None:
            raise NrcError(0x31)
        server.require_security(config.security)
        if server.transfer is not None:
            raise NrcError(0x22)
        location = MemoryLocation.from_bytes(
            payload[3 : 3 + address_length], payload[3 + address_length :]
        )
        start, size = location.address, location.memorysize
        if size == 0 or start < config.address or start + size > config.address + config.size:
            raise NrcError(0x31)
        server.transfer = Transfer(start, size, bytearray())
        server.state = replace(server.state, download_active=True)
        return self.positive(bytes([0x20]) + config.max_block_length.to_bytes(2, "big"))


class TransferData(Service):
    """Blocks in sequence (0x73 otherwise; a repeated block is acknowledged, not written
    twice), no more than requested (0x71).

    Seeded fault: ``block_counter_unchecked``.
    """

    sid = 0x36
    name = "TransferData"
    sessions = _PROGRAMMING

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) < 2:
            raise NrcError(0x13)
        transfer = server.transfer
        if transfer is None:
            raise NrcError(0x24)
        counter = payload[1]
        block = payload[2:]
        assert server.config.download is not None
        if len(payload) > server.config.download.max_block_length:
            raise NrcError(0x13)
        if counter == transfer.counter and transfer.counter != 0:
            return self.positive(bytes([counter]))  # a repeated block: not written twice
        expected = (transfer.counter + 1) & 0xFF
        if counter != expected and "block_counter_unchecked" not in faults:
            raise NrcError(0x73)
        if len(transfer.data) + len(block) > transfer.size:
            raise NrcError(0x71)
        transfer.data += block
        transfer.counter = counter
        return self.positive(bytes([counter]))


class RequestTransferExit(Service):
    """Ends a complete transfer (else 0x24); the image becomes
    :attr:`UdsServer.downloaded <harness.sim.uds.server.UdsServer.downloaded>`."""

    sid = 0x37
    name = "RequestTransferExit"
    sessions = _PROGRAMMING

    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes:
        transfer = server.transfer
        if transfer is None or len(transfer.data) != transfer.size:
            raise NrcError(0x24)
        server.downloaded = bytes(transfer.data)
        server.transfer = None
        server.state = replace(server.state, download_active=False)
        return self.positive(b"")

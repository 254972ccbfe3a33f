"""How the tester reaches the DUT: diagnostic transports, registered by name.

A transport turns a bench's ``[diagnostics]`` into a :class:`Link`: udsoncan connections
(physical, and functional where the transport has them) and what the clients say when
an exchange fails. :class:`~harness.diag.client.UdsClient` sees only the link, so the
services do not know whether they run over ISO-TP on a CAN channel or over anything
else; a new transport is one module with a :class:`Transport` and one row in
:data:`TRANSPORTS` (or an entry point of group ``harness.diag_transports``).

The bench file picks one with ``[diagnostics] transport = "isotp"`` (the default).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from harness.plugins import Registry

if TYPE_CHECKING:
    from udsoncan.connections import BaseConnection

    from harness.canbus.channel import Channel
    from harness.diag.config import DiagConfig


class Link(Protocol):
    """An open way to the DUT, as the diagnostic clients use it."""

    @property
    def name(self) -> str:
        """What a message calls it: ``body:normal 0x7E0->0x7E8``."""
        ...

    @property
    def protocol(self) -> str:
        """The transport protocol, as a message names it: ``ISO-TP``."""
        ...

    @property
    def channel(self) -> Channel | None:
        """The CAN channel the exchange is visible on, None when it runs elsewhere."""
        ...

    def connection(self, name: str) -> BaseConnection:
        """A udsoncan connection to the DUT (physical addressing), opened by the client."""
        ...

    def functional_connection(self, name: str) -> BaseConnection | None:
        """One that sends every request to all ECUs, None where the transport has none."""
        ...

    def errors(self) -> list[Exception]:
        """The transport's latest errors (newest last), named when an exchange fails."""
        ...


class Transport(Protocol):
    """Opens links of one kind; ``channels`` are the bench's CAN channels by name."""

    def open(
        self, config: DiagConfig, channels: Mapping[str, Channel]
    ) -> AbstractContextManager[Link]: ...


TRANSPORTS: Registry[Transport] = Registry(
    "diagnostic transport",
    "harness.diag_transports",
    {
        "isotp": "harness.diag.transport.on_can:ISOTP",
        "doip": "harness.diag.transport.on_ip:DOIP",
    },
)
"""Transports by the name ``[diagnostics] transport`` gives."""

"""What every service of the simulated UDS server is: :class:`Service`, and how a handler
answers (a positive response, :class:`NrcError`, :class:`Pending`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import TYPE_CHECKING, ClassVar

from udsoncan.BaseService import BaseService
from udsoncan.Response import Response

if TYPE_CHECKING:
    from harness.sim.uds.server import UdsServer

CLEARED = 0x00
"""The status byte of a DTC that is not set."""


class NrcError(Exception):
    """A negative response a handler decided on."""

    def __init__(self, code: int) -> None:
        super().__init__(f"NRC 0x{code:02X}")
        self.code = code


class Pending(Exception):  # noqa: N818 - control flow, not an error
    """A handler's job takes longer than P2: answer responsePending, then ``reply``."""

    def __init__(self, sid: int, duration: float, reply: bytes) -> None:
        super().__init__("responsePending")
        self.sid = sid
        self.duration = duration
        self.reply = reply


def positive(sid: int, data: bytes) -> bytes:
    """The positive response to service ``sid`` carrying ``data``."""
    service = BaseService.from_request_id(sid)
    assert service is not None, f"no udsoncan service for 0x{sid:02X}"
    return Response(service=service, code=Response.Code.PositiveResponse, data=data).get_payload()


class Service(ABC):
    """One UDS service of the simulated server.

    The server checks, in ISO 14229-1's order, that the service is :meth:`supported`
    (else 0x11), allowed in the active session (0x7F), that a request of a service with
    sub-functions has one (0x13) and that it is one of :attr:`subfunctions` (0x12); then
    :meth:`handle` does the rest: the service's own checks in the standard's order,
    raising :class:`NrcError`, then the state change and the positive response.
    Handlers run on the server's worker thread with its lock held.
    """

    sid: ClassVar[int]
    """The request service ID."""
    name: ClassVar[str]
    """udsoncan's name of the service, as ECU files write it (``service_sessions``)."""
    subfunctions: ClassVar[frozenset[int] | None] = None
    """The sub-functions implemented (others: 0x12 before the handler runs); None: no
    sub-function, or the handler checks it."""
    spr: ClassVar[bool] = False
    """The sub-function carries the suppressPosRspMsgIndicationBit."""
    sessions: ClassVar[tuple[str, ...] | None] = None
    """The sessions it runs in unless the ECU file says otherwise (others: 0x7F); None: all."""

    def supported(self, server: UdsServer) -> bool:
        """Whether this server offers the service at all (else serviceNotSupported)."""
        return True

    @abstractmethod
    def handle(self, server: UdsServer, payload: bytes, faults: Collection[str]) -> bytes | None:
        """The response to ``payload`` (None: the ECU does not answer), with the seeded
        diagnostic ``faults`` switched on now."""

    def positive(self, data: bytes) -> bytes:
        """This service's positive response carrying ``data``."""
        return positive(self.sid, data)

"""A J1939-73 diagnostic tool on a :class:`~.stack.J1939Node`: read DM1 and DM2, clear
with DM3 and DM11.

Each is a request to one node (J1939-21 5.4.2): DM1/DM2 come back as the message (by
TP when longer than a frame) or as a NACK; DM3/DM11 are commands the node
acknowledges (J1939-73 5.7.3, 5.7.11).

>>> tool = DiagnosticTool(node)                              # doctest: +SKIP
>>> [str(dtc) for dtc in tool.dm1(0x00).dtcs]                # doctest: +SKIP
['SPN 110 FMI 0 OC 3', 'SPN 100 FMI 1 OC 1']
>>> tool.dm11(0x00).meaning                                  # doctest: +SKIP
'ACK'
"""

from __future__ import annotations

from harness import clock
from harness.canbus.saej1939.addressing import GLOBAL_ADDRESS
from harness.canbus.saej1939.dm import DM1, DM2, DM3, DM11, DiagnosticMessage, parse_dm
from harness.canbus.saej1939.request import ACKNOWLEDGEMENT, Acknowledgement
from harness.canbus.saej1939.stack import J1939Error, J1939Node, Received

DEFAULT_TIMEOUT = 5.0
"""Seconds to wait for an answer: J1939-21's Tr is 200 ms, but a DM1 of many DTCs
crosses by BAM at 50 to 200 ms a packet."""

READS = {"dm1": DM1, "dm2": DM2}
CLEARS = {"dm3": DM3, "dm11": DM11}


class NegativeAcknowledgementError(J1939Error):
    """The node answered a request with a NACK (or access denied, cannot respond)."""

    def __init__(self, acknowledgement: Acknowledgement, source: int) -> None:
        self.acknowledgement = acknowledgement
        super().__init__(
            f"node 0x{source:02X} answered the request for PGN {acknowledgement.pgn} "
            f"with {acknowledgement.meaning}"
        )


class DiagnosticTool:
    """Requests DMs from one node at a time; ``timeout`` seconds for each answer."""

    def __init__(self, node: J1939Node, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.node = node
        self.timeout = timeout

    def dm1(self, address: int) -> DiagnosticMessage:
        """Active DTCs and lamps of the node at ``address``."""
        return parse_dm(self._read(DM1, address).data)

    def dm2(self, address: int) -> DiagnosticMessage:
        """Previously active DTCs of the node at ``address``."""
        return parse_dm(self._read(DM2, address).data)

    def dm3(self, address: int) -> Acknowledgement:
        """Clear the previously active DTCs; the node's acknowledgement (ACK or NACK)."""
        return self._command(DM3, address)

    def dm11(self, address: int) -> Acknowledgement:
        """Clear the active DTCs; the node's acknowledgement (ACK or NACK)."""
        return self._command(DM11, address)

    def _ask(self, pgn: int, address: int) -> tuple[Received, Acknowledgement | None]:
        if not 0 <= address < GLOBAL_ADDRESS - 1:
            raise J1939Error(f"address 0x{address:02X}: a node's address (0x00..0xFD) is needed")
        since = clock.now()
        self.node.request(pgn, address)

        def about_it(message: Received) -> bool:
            return message.pgn != ACKNOWLEDGEMENT or _concerns(message, pgn, self.node.address)

        answer = self.node.wait_any(
            {pgn, ACKNOWLEDGEMENT},
            source=address,
            since=since,
            timeout=self.timeout,
            where=about_it,
        )
        if answer.pgn == ACKNOWLEDGEMENT:
            return answer, Acknowledgement.parse(answer.data)
        return answer, None

    def _read(self, pgn: int, address: int) -> Received:
        answer, acknowledgement = self._ask(pgn, address)
        if acknowledgement is not None:
            raise NegativeAcknowledgementError(acknowledgement, address)
        return answer

    def _command(self, pgn: int, address: int) -> Acknowledgement:
        _, acknowledgement = self._ask(pgn, address)
        if acknowledgement is None:
            raise J1939Error(f"node 0x{address:02X} answered PGN {pgn} with data, not an ACK")
        return acknowledgement


def _concerns(message: Received, pgn: int, requester: int) -> bool:
    try:
        acknowledgement = Acknowledgement.parse(message.data)
    except ValueError:
        return False
    return acknowledgement.pgn == pgn and acknowledgement.address in (requester, GLOBAL_ADDRESS)

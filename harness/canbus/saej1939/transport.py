"""J1939-21 transport protocol (TP.CM / TP.DT): messages of 9 to 1785 bytes.

The constants are the standard's; :class:`Reassembler` rebuilds long messages from
frames already seen (a recorded trace, or a channel's history), for BAM broadcasts
and RTS/CTS connections alike. It checks sequence numbers and sizes and drops a
connection its sender or receiver aborts; it does not time out connections, which is
what a live stack does with the timers below.

>>> r = Reassembler()
>>> r.feed(0x1CECFF00, bytes([32, 10, 0, 2, 0xFF, 0xCA, 0xFE, 0x00]), 0.0)
>>> r.feed(0x1CEBFF00, bytes([1, 0, 0xFF, 110, 0, 3, 1, 0x00]), 0.05)
>>> r.feed(0x1CEBFF00, bytes([2, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]), 0.10).data.hex()
'00ff6e00030100000000'
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.canbus.saej1939.addressing import GLOBAL_ADDRESS, parse_id

TP_CM = 0xEC00
"""PGN 60416: transport protocol connection management."""
TP_DT = 0xEB00
"""PGN 60160: transport protocol data transfer (7 bytes a packet after a sequence number)."""

RTS = 16
CTS = 17
END_OF_MSG_ACK = 19
BAM = 32
ABORT = 255

PACKET_BYTES = 7
MAX_SIZE = 1785
"""255 packets of 7 bytes."""

# J1939-21 5.10.2.4 timers, seconds
TR = 0.200
"""Responder: the time within which a node must answer."""
TH = 0.500
"""Holding time between CTS(0) messages that keep a connection open."""
T1 = 0.750
"""Receiver: longest gap between data packets."""
T2 = 1.250
"""Receiver: after sending CTS, until the first data packet."""
T3 = 1.250
"""Sender: after the last packet of a block, until CTS or EndOfMsgAck."""
T4 = 1.050
"""Sender: after CTS(0), until the next CTS."""
BAM_GAP_MIN = 0.050
BAM_GAP_MAX = 0.200
"""A BAM sender's gap between data packets (J1939-21 5.10.3.5)."""


@dataclass(frozen=True, slots=True)
class Reassembled:
    """A long message rebuilt from its packets."""

    pgn: int
    source: int
    destination: int
    priority: int
    data: bytes
    timestamp: float
    """When its last packet arrived."""
    bam: bool


@dataclass(slots=True)
class _Session:
    pgn: int
    size: int
    packets: int
    priority: int
    bam: bool
    received: dict[int, bytes]


class Reassembler:
    """Feeds on frames; returns a :class:`Reassembled` when a long message completes.

    Sessions are keyed by (source, destination): J1939-21 allows one connection per
    pair and one BAM per source at a time; a new announcement replaces an old one.
    ``problems`` counts what did not add up (bad sizes, sequence numbers out of range).
    """

    def __init__(self) -> None:
        self._sessions: dict[tuple[int, int], _Session] = {}
        self.aborted = 0
        self.problems = 0

    def feed(self, can_id: int, data: bytes, timestamp: float) -> Reassembled | None:
        j1939 = parse_id(can_id)
        if j1939.pgn == TP_CM and len(data) >= 8:
            self._control(j1939.source, j1939.destination, j1939.priority, data)
        elif j1939.pgn == TP_DT and len(data) >= 1:
            return self._packet(j1939.source, j1939.destination, data, timestamp)
        return None

    def _control(self, source: int, destination: int, priority: int, data: bytes) -> None:
        control = data[0]
        if control in (RTS, BAM):
            size = int.from_bytes(data[1:3], "little")
            packets = data[3]
            if not 9 <= size <= MAX_SIZE or packets != -(-size // PACKET_BYTES):
                self.problems += 1
                return
            bam = control == BAM and destination == GLOBAL_ADDRESS
            pgn = int.from_bytes(data[5:8], "little")
            self._sessions[(source, destination)] = _Session(pgn, size, packets, priority, bam, {})
        elif control == ABORT:
            # either side may abort: the sender's data flows source -> destination
            for key in ((source, destination), (destination, source)):
                if self._sessions.pop(key, None) is not None:
                    self.aborted += 1

    def _packet(
        self, source: int, destination: int, data: bytes, timestamp: float
    ) -> Reassembled | None:
        session = self._sessions.get((source, destination))
        if session is None:
            return None
        sequence = data[0]
        if not 1 <= sequence <= session.packets:
            self.problems += 1
            return None
        session.received[sequence] = bytes(data[1:8])
        if len(session.received) < session.packets:
            return None
        del self._sessions[(source, destination)]
        payload = b"".join(session.received[n] for n in range(1, session.packets + 1))
        return Reassembled(
            session.pgn,
            source,
            destination,
            session.priority,
            payload[: session.size],
            timestamp,
            session.bam,
        )

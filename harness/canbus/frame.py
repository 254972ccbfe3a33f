"""A CAN frame as the harness records it: raw bytes, arrival time, and its decoding."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

NO_SIGNALS: Mapping[str, Any] = MappingProxyType({})


@dataclass(slots=True)
class Frame:
    """One frame seen or sent on a channel. Treat it as read-only.

    ``timestamp`` is read from :mod:`harness.clock` when the frame arrived (or
    was sent), so it compares directly with :meth:`Channel.mark` timestamps.
    ``bus_timestamp`` is the interface's own stamp (hardware time where the
    interface has it), the better source for intervals such as cycle times.
    ``name`` is set when the database knows the ID; ``signals`` when the payload
    also decodes, else ``decode_error`` says why. On a J1939 channel an extended
    frame also carries its ``priority``, ``pgn``, ``source_address`` and
    ``destination_address`` (255 for broadcast); elsewhere they are None.
    """

    timestamp: float
    arbitration_id: int
    data: bytes
    channel: str = ""
    is_extended_id: bool = False
    is_fd: bool = False
    is_rx: bool = True
    is_remote: bool = False
    is_error: bool = False
    name: str | None = None
    signals: Mapping[str, Any] = field(default_factory=lambda: NO_SIGNALS)
    decode_error: str | None = None
    bus_timestamp: float = 0.0
    priority: int | None = None
    pgn: int | None = None
    source_address: int | None = None
    destination_address: int | None = None

    @property
    def dlc(self) -> int:
        return len(self.data)

    def __getitem__(self, signal: str) -> Any:
        """``frame["VehicleSpeed"]``: a decoded signal value."""
        return self.signals[signal]

    def __repr__(self) -> str:
        return f"<Frame {self.describe()}>"

    def id_text(self) -> str:
        width = 8 if self.is_extended_id else 3
        return f"0x{self.arbitration_id:0{width}X}"

    def describe(self, since: float | None = None) -> str:
        """One line for evidence: time, direction, ID, name and signals (or raw bytes)."""
        t = self.timestamp - since if since is not None else self.timestamp
        stamp = f"{t:+.4f}s" if since is not None else f"{t:.4f}"
        direction = "rx" if self.is_rx else "tx"
        label = self.name or self.id_text()
        if self.pgn is not None:
            label += f" SA=0x{self.source_address:02X}"
            if self.destination_address != 0xFF:
                label += f" DA=0x{self.destination_address:02X}"
        if self.signals:
            body = " ".join(f"{k}={_fmt(v)}" for k, v in self.signals.items())
        else:
            body = self.data.hex(" ") or "(no data)"
            if self.decode_error:
                body += f"  [undecodable: {self.decode_error}]"
        return f"{stamp} {self.channel} {direction} {label} {body}".replace("  ", " ", 1)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)

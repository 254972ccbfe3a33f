"""A CAN frame as the harness records it: raw bytes, arrival time, and its decoding."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame seen or sent on a channel.

    ``timestamp`` is read from :mod:`harness.clock` when the frame arrived (or
    was sent), so it compares directly with :meth:`Channel.mark` timestamps.
    ``name`` and ``signals`` are set when the database knows the ID and the
    payload decodes; ``decode_error`` says why when it does not.
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
    signals: dict[str, Any] = field(default_factory=dict)
    decode_error: str | None = None
    seq: int = -1

    @property
    def dlc(self) -> int:
        return len(self.data)

    def __getitem__(self, signal: str) -> Any:
        """``frame["VehicleSpeed"]``: a decoded signal value."""
        return self.signals[signal]

    def id_text(self) -> str:
        width = 8 if self.is_extended_id else 3
        return f"0x{self.arbitration_id:0{width}X}"

    def describe(self, since: float | None = None) -> str:
        """One line for evidence: time, direction, ID, name and signals (or raw bytes)."""
        t = self.timestamp - since if since is not None else self.timestamp
        stamp = f"{t:+.4f}s" if since is not None else f"{t:.4f}"
        direction = "rx" if self.is_rx else "tx"
        label = self.name or self.id_text()
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

"""The ISO-TP stack of a simulated ECU: the tester's stack, able to stray from its settings
while a seeded fault is on (STmin ignored, frames unpadded).

The stack asks for its deviation before every payload it sends and every frame it
receives, so a fault switched on while the bench runs takes effect with the next frame.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.diag.transport.on_can import ChannelStack

if TYPE_CHECKING:
    import can
    import isotp

    from harness.canbus.channel import Channel
    from harness.diag.config import IsoTpConfig

log = logging.getLogger(__name__)

STMIN_IGNORED = "isotp_stmin_ignored"
"""Seeded fault primitive: consecutive frames go out back to back, whatever STmin."""
NO_PADDING = "isotp_no_padding"
"""Seeded fault primitive: frames go out unpadded (shortest DLC) although padding is set."""


@dataclass(frozen=True)
class Deviation:
    """How a simulated ECU's ISO-TP layer departs from its settings (seeded faults).

    >>> Deviation.from_faults({"isotp_no_padding"})
    Deviation(stmin_ignored=False, unpadded=True)
    """

    stmin_ignored: bool = False
    """Send consecutive frames back to back, whatever STmin the receiver's flow control asks."""
    unpadded: bool = False
    """Send every frame at its shortest length, whatever padding the settings name."""

    @classmethod
    def from_faults(cls, faults: Collection[str]) -> Deviation:
        """The deviation the diagnostic fault primitives switched on now call for."""
        return cls(stmin_ignored=STMIN_IGNORED in faults, unpadded=NO_PADDING in faults)

    def params(self, transport: IsoTpConfig) -> dict[str, Any]:
        """The can-isotp parameters a stack with ``transport`` settings sends with."""
        padded = transport.padding is not None and not self.unpadded
        return {
            "override_receiver_stmin": 0.0 if self.stmin_ignored else None,
            "tx_padding": transport.padding if padded else None,
            "tx_data_min_length": 8 if padded else None,
        }


NO_DEVIATION = Deviation()


class EcuStack(ChannelStack):
    """A :class:`ChannelStack` whose ``deviation`` source says how it departs from
    ``transport`` now; it is asked before each payload sent and each frame received, so
    it must be quick. If it raises, the error is logged and the last deviation stays."""

    def __init__(
        self,
        channel: Channel,
        address: isotp.Address,
        transport: IsoTpConfig,
        *,
        listen: bool = False,
        deviation: Callable[[], Deviation] | None = None,
    ) -> None:
        self._deviation_source = deviation
        self._deviation_lock = threading.Lock()
        self.deviation = NO_DEVIATION
        """The deviation in force (set by :meth:`refresh_deviation`)."""
        super().__init__(channel, address, transport, listen=listen)
        self.refresh_deviation()

    def refresh_deviation(self) -> Deviation:
        """Apply the deviation the stack's source names now (parameters change only when it
        does; can-isotp reads them per frame: STmin when a flow control arrives, padding when
        a frame is built)."""
        source = self._deviation_source
        try:
            wanted = source() if source is not None else NO_DEVIATION
        except Exception:  # raised on the Notifier's thread, it would stop the channel
            log.exception("ISO-TP on %s: deviation not refreshed", self.channel.name)
            return self.deviation
        with self._deviation_lock:
            if wanted != self.deviation:
                for key, value in wanted.params(self.settings).items():
                    self.params.set(key, value, validate=False)
                self.deviation = wanted
                log.debug("ISO-TP on %s: deviation %s", self.channel.name, wanted)
        return wanted

    def _on_message_received(self, msg: can.Message) -> None:
        """The Notifier's listener (can-isotp's hook): the deviation is brought up to date
        before the frame reaches the stack, so the flow control that answers a first frame
        and the consecutive frames that follow a flow control obey the fault in force."""
        if self._deviation_source is not None:
            self.refresh_deviation()
        super()._on_message_received(msg)

    def send(
        self,
        data: Any,
        target_address_type: Any = None,
        send_timeout: float | None = None,
    ) -> None:
        if self._deviation_source is not None:
            self.refresh_deviation()
        super().send(data, target_address_type, send_timeout)

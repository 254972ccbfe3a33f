"""The residual bus: the rest of the vehicle around the DUT, the simulated ECUs
addressed by message name (the ``residual_bus`` fixture).

Tests say what the vehicle does (``residual_bus.set("ABS_WheelSpeeds",
VehicleSpeed=30)``) without caring which simulated ECU sends that message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.datafile import suggest
from harness.exceptions import UnknownNameError
from harness.sim.nodes import Fault

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.canbus.database import SignalValues
    from harness.sim.ecu import SimulatedEcu
    from harness.sim.nodes import SimulatedMessage


SETTLE_MARGIN = 0.5
"""Seconds beyond two periods that :meth:`ResidualBus.set` waits for the new values."""


class ResidualBus:
    """Several simulated ECUs seen as one residual bus.

    ``observers`` maps an ECU name to the harness channel that hears it, so that
    :meth:`set` can return once the new values are on the bus.
    """

    def __init__(
        self, ecus: Mapping[str, SimulatedEcu], observers: Mapping[str, Channel] | None = None
    ) -> None:
        self.ecus = dict(ecus)
        self.observers = dict(observers or {})

    def message(self, name: str) -> SimulatedMessage:
        """The simulated message called ``name``, whichever ECU sends it."""
        return self._find(name)[1]

    def _find(self, name: str) -> tuple[str, SimulatedMessage]:
        for ecu_name, ecu in self.ecus.items():
            if ecu.residual is not None and name in ecu.residual.messages:
                return ecu_name, ecu.residual.messages[name]
        known = sorted(m for e in self.ecus.values() if e.residual for m in e.residual.messages)
        owners = ", ".join(self.ecus) or "no simulated ECUs"
        raise UnknownNameError(f"no simulated ECU ({owners}) sends {name!r}{suggest(name, known)}")

    def set(
        self,
        message: str,
        signals: SignalValues | None = None,
        /,
        *,
        wait: bool = True,
        **values: Any,
    ) -> None:
        """Change signals of a simulated message from its next frame on.

        With ``wait`` (the default) it returns once the harness has seen a frame
        carrying the new values, so whatever the test sends next reaches the DUT
        after them (the bus is first in, first out).
        """
        __tracebackhide__ = True  # failures point at the test, not here
        ecu_name, sim = self._find(message)
        changes = {**(signals or {}), **values}
        observer = self.observers.get(ecu_name)
        since = observer.mark() if observer is not None else None
        sim.set_values(changes)
        if not wait or observer is None or since is None or not (sim.running or sim.is_event):
            return
        db = sim.channel.db
        assert db is not None, "a simulated message always has a database"
        sent = db.decode(sim.definition, db.encode(message, sim.values)[1])
        expected = {name: sent[name] for name in changes}
        observer.wait_for(
            message,
            where=expected,
            since=since,
            timeout=2 * sim.period + SETTLE_MARGIN,
            sent=observer is sim.channel,
        )

    def get(self, message: str) -> dict[str, Any]:
        return self.message(message).values

    def inject(self, message: str, kind: str, **params: Any) -> Fault:
        """Switch a residual-bus fault on for one message (see harness.sim.nodes)."""
        fault = Fault(kind, **params)
        self.message(message).inject(fault)
        return fault

    def clear(self, message: str) -> None:
        self.message(message).clear()

    def stop(self, message: str) -> None:
        self.message(message).stop()

    def start(self, message: str) -> None:
        sim = self.message(message)
        if not sim.is_event:
            sim.start(sim.base_period)

    def reset(self) -> None:
        """Every message back to its initial values, faults off, sending again."""
        for ecu in self.ecus.values():
            ecu.reset_messages()

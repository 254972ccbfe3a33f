"""Simulated DBC nodes: the messages a node sends, played on a channel (what each
simulated ECU's residual-bus part is; :mod:`harness.sim.residual_bus` is the handle a
test gets for all of them).

Every message the played nodes send goes out at its ``GenMsgCycleTime`` (or a
per-message override) on a python-can cyclic task, with its rolling counter
and checksum computed per frame (:mod:`harness.canbus.protection`). Messages
without a cycle time are event-triggered: sent when a signal changes.

Faults are switched on per message from a test, and off again:

============== =====================================================
``timeout``    stop sending (the receiver should detect a timeout)
``counter_skip`` counter jumps by two each frame
``counter_freeze`` counter stops changing
``bad_checksum`` checksum (or E2E CRC) inverted
``cycle_factor`` period multiplied by ``factor``
``wrong_dlc``  payload cut to ``length`` bytes
``burst``      ``count`` extra frames sent back to back, once
============== =====================================================

>>> rbs = SimulatedNodes(channel, ["ABS", "ECM"])    # doctest: +SKIP
>>> rbs.set("ABS_WheelSpeeds", VehicleSpeed=50)      # doctest: +SKIP
>>> rbs.inject("ABS_WheelSpeeds", "counter_freeze")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from harness import clock
from harness.canbus.channel import PeriodicMessage
from harness.canbus.expect import require_db
from harness.canbus.protection import (
    Protection,
    counter_modulo,
    protect,
    validate,
)
from harness.closing import Closing
from harness.datafile import suggest
from harness.exceptions import UnknownNameError

if TYPE_CHECKING:
    from cantools.database.can import Message

    from harness.canbus.channel import Channel
    from harness.canbus.database import SignalValues

FAULT_KINDS = (
    "timeout",
    "counter_skip",
    "counter_freeze",
    "bad_checksum",
    "cycle_factor",
    "wrong_dlc",
    "burst",
)


@dataclass(frozen=True)
class Fault:
    """A fault on one simulated message; see the module docstring for the kinds."""

    kind: str
    factor: float = 2.0
    length: int = 0
    count: int = 10

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            hint = suggest(self.kind, list(FAULT_KINDS))
            raise UnknownNameError(f"no fault kind {self.kind!r}{hint}; kinds: {FAULT_KINDS}")
        if self.kind == "cycle_factor" and self.factor <= 0:
            raise ValueError(f"cycle_factor needs factor > 0, got {self.factor}")


@dataclass(frozen=True)
class MessageSettings:
    """How the residual bus sends one message, where the database alone is not enough."""

    period: float | None = None
    """Seconds; None takes GenMsgCycleTime (no cycle time: event-triggered)."""
    protection: Protection | None = None
    """Counter and checksum; None guesses them from signal names."""
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Initial signal values."""
    enabled: bool = True
    """False: the message exists but is not sent until started."""
    on_change: bool = False
    """Also send at once when a signal changes ("cyclic and on change")."""


class SimulatedMessage(PeriodicMessage):
    """A message with a live counter, a checksum and switchable faults."""

    def __init__(
        self,
        channel: Channel,
        definition: Message,
        values: Mapping[str, Any],
        period: float | None,
        protection: Protection,
        *,
        autostart: bool,
        on_change: bool = False,
    ) -> None:
        self.protection = protection
        self.on_change = on_change
        self.base_period = period
        self.counter = 0
        self.fault: Fault | None = None
        self._modulo = counter_modulo(definition, protection)
        super().__init__(
            channel, definition, values, period or 0.0, autostart=autostart and bool(period)
        )

    @property
    def is_event(self) -> bool:
        """Sent on change rather than periodically."""
        return not self.base_period

    def payload(self) -> bytes:
        """The next frame: signals, advanced counter, checksum, then any fault applied."""
        protection = self.protection
        with self._lock:
            fault = self.fault.kind if self.fault else None
            counter = self.counter
            if fault != "counter_freeze":
                step = 2 if fault == "counter_skip" else 1
                self.counter = (counter + step) % self._modulo
            values = self._values
            data = self._data
        if protection.counter is not None and not protection.is_e2e:
            values = {**values, protection.counter: counter}
            data = require_db(self.channel).encode(self.definition.name, values)[1]
        buffer = bytearray(data)
        protect(buffer, self.definition, protection, counter)
        if fault == "bad_checksum":
            self._corrupt_checksum(buffer)
        elif fault == "wrong_dlc" and self.fault is not None:
            del buffer[self.fault.length :]
        return bytes(buffer)

    def _corrupt_checksum(self, buffer: bytearray) -> None:
        protection = self.protection
        if protection.checksum is not None and not protection.is_e2e:
            signal = self.definition.get_signal_by_name(protection.checksum)
            buffer[signal.start // 8] ^= 0xFF
        elif protection.is_e2e:
            buffer[protection.offset] ^= 0xFF

    def send_once(self) -> None:
        """Send one frame now (event-triggered messages, bursts)."""
        msg = self.channel._message_for(self.definition, self.payload())
        msg.dlc = len(msg.data)
        self.channel._transmit(msg)

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Change signals; an event-triggered (or on-change) message goes out at once if
        anything changed."""
        before = self.values
        self.update(values)
        if (self.is_event or (self.on_change and self.running)) and self.values != before:
            self.send_once()

    def inject(self, fault: Fault) -> None:
        self.clear()
        with self._lock:
            self.fault = fault
        if fault.kind == "timeout":
            self.stop()
        elif fault.kind == "cycle_factor" and self.base_period:
            self.start(self.base_period * fault.factor)
        elif fault.kind == "burst":
            for _ in range(fault.count):
                self.send_once()
            with self._lock:
                self.fault = None

    def reset(self, settings: MessageSettings) -> None:
        """Back to how the simulation started: initial values, no fault, sending if enabled."""
        self.clear()
        data = require_db(self.channel).encode(self.definition.name, settings.values)[1]
        with self._lock:
            self._values = dict(settings.values)
            self._data = data
        if not settings.enabled:
            self.stop()
        elif not self.is_event and not self.running:
            self.start(self.base_period)

    def clear(self) -> None:
        """Back to normal: counter continues, period and sending restored."""
        with self._lock:
            fault, self.fault = self.fault, None
        if fault is not None and fault.kind in ("timeout", "cycle_factor") and self.base_period:
            self.start(self.base_period)


class SimulatedNodes(Closing):
    """The messages of ``nodes`` (DBC node names) simulated on ``channel``."""

    def __init__(
        self,
        channel: Channel,
        nodes: Iterable[str],
        settings: Mapping[str, MessageSettings] | None = None,
        *,
        autostart: bool = True,
        source: str = "residual bus",
    ) -> None:
        db = require_db(channel)
        self.channel = channel
        self.nodes = tuple(nodes)
        settings = settings or {}
        self.settings = settings
        for node in self.nodes:
            if node not in db.nodes:
                hint = suggest(node, db.nodes)
                raise UnknownNameError(f"{db.name} has no node {node!r}{hint}")
        for name in settings:
            db.message(name)  # a settings entry for an unknown message is a typo
        self.messages: dict[str, SimulatedMessage] = {}
        try:
            for message in db.messages:
                if any(node in message.senders for node in self.nodes):
                    self.messages[message.name] = self._simulate(
                        message, settings.get(message.name, MessageSettings()), autostart, source
                    )
        except BaseException:
            self.close()
            raise
        self.started_at = clock.now()

    def _simulate(
        self, message: Message, settings: MessageSettings, autostart: bool, source: str
    ) -> SimulatedMessage:
        protection = settings.protection or require_db(self.channel).protection(message.name)
        validate(protection, message, source, f"messages.{message.name}")
        cycle = message.cycle_time / 1000 if message.cycle_time else None
        return SimulatedMessage(
            self.channel,
            message,
            settings.values,
            settings.period or cycle,
            protection,
            autostart=autostart and settings.enabled,
            on_change=settings.on_change,
        )

    def message(self, name: str) -> SimulatedMessage:
        try:
            return self.messages[name]
        except KeyError:
            hint = suggest(name, list(self.messages))
            raise UnknownNameError(
                f"the residual bus ({', '.join(self.nodes)}) does not send {name!r}{hint}"
            ) from None

    def set(self, message: str, signals: SignalValues | None = None, /, **values: Any) -> None:
        """Change signals of a simulated message from its next frame on."""
        self.message(message).set_values({**(signals or {}), **values})

    def get(self, message: str) -> dict[str, Any]:
        """The signal values a simulated message is sending (as set)."""
        return self.message(message).values

    def start(self, message: str | None = None) -> None:
        """(Re)start one periodic message, or all of them."""
        for sim in self._selected(message):
            if not sim.is_event:
                sim.start(sim.base_period)

    def stop(self, message: str | None = None) -> None:
        """Stop sending one message, or all of them."""
        for sim in self._selected(message):
            sim.stop()

    def inject(self, message: str, kind: str, **params: Any) -> Fault:
        """Switch a fault on for one message (replacing any fault it had)."""
        fault = Fault(kind, **params)
        self.message(message).inject(fault)
        return fault

    def clear(self, message: str | None = None) -> None:
        """Switch faults off for one message, or for all."""
        for sim in self._selected(message):
            sim.clear()

    def reset(self) -> None:
        """Every message back to its initial values, faults off, sending as configured."""
        for name, sim in self.messages.items():
            sim.reset(self.settings.get(name, MessageSettings()))

    def _selected(self, message: str | None) -> list[SimulatedMessage]:
        return [self.message(message)] if message else list(self.messages.values())

    def close(self) -> None:
        for sim in self.messages.values():
            sim.stop()

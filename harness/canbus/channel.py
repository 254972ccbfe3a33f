"""A CAN channel: python-can Bus + Notifier + signal database + history of frames.

Frames are decoded on arrival (in the Notifier's thread) and appended to the
channel's bounded :class:`~harness.canbus.history.History`, which the
expectations of :class:`~harness.canbus.expect.TrafficView` wait on. Frames the
channel sends are recorded too (``is_rx=False``) so evidence shows stimulus
and response side by side.

>>> with Channel.open(config, db) as body:                 # doctest: +SKIP
...     since = body.mark()
...     body.send("BCM_Request", DoorUnlock=1)
...     body.wait_for("BCM_DoorStatus", where={"DriverDoorLocked": "UNLOCKED"}, since=since)
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import can

from harness import clock
from harness.canbus.config import DEFAULT_HISTORY
from harness.canbus.database import NOT_DECODED
from harness.canbus.expect import Matcher, TrafficView, Where, require_db
from harness.canbus.frame import Frame
from harness.canbus.history import History
from harness.canbus.saej1939.addressing import parse_id
from harness.closing import Closing
from harness.exceptions import BusError, EncodeError

if TYPE_CHECKING:
    from cantools.database.can import Message

    from harness.canbus.config import CanChannelConfig
    from harness.canbus.database import SignalDatabase, SignalValues

CAN_FD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)
ECHOING_INTERFACES = ("udp_multicast",)
"""Interfaces that hand a bus its own frames back as received; the channel drops those echoes."""
_ECHO_WINDOW = 1024
_JOIN_MARGIN = 1.0
"""Seconds beyond one period to wait for a periodic sender's thread to finish."""


def decode_frame(
    msg: can.Message,
    db: SignalDatabase | None,
    channel: str,
    timestamp: float,
    *,
    is_rx: bool | None = None,
) -> Frame:
    """Turn a python-can message into a Frame, decoded when the database knows its ID.

    Never raises for bad payloads: an undecodable frame keeps its bytes and says why.
    ``is_rx`` overrides the message's own direction flag.
    """
    data = bytes(msg.data)
    if db is None or msg.is_error_frame or msg.is_remote_frame:
        name, signals, error = NOT_DECODED
    else:
        name, signals, error = db.decode_payload(msg.arbitration_id, msg.is_extended_id, data)
    frame = Frame(
        timestamp,
        msg.arbitration_id,
        data,
        channel,
        msg.is_extended_id,
        msg.is_fd,
        msg.is_rx if is_rx is None else is_rx,
        msg.is_remote_frame,
        msg.is_error_frame,
        name,
        signals,
        error,
        msg.timestamp,
    )
    if msg.is_extended_id and db is not None and db.is_j1939:
        j1939 = parse_id(msg.arbitration_id)
        frame.priority = j1939.priority
        frame.pgn = j1939.pgn
        frame.source_address = j1939.source
        frame.destination_address = j1939.destination
    return frame


class _Receiver(can.Listener):
    """The Notifier's view of a channel: decode, record, and report a dying bus."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def on_message_received(self, msg: can.Message) -> None:
        channel = self.channel
        echoes = channel._echoes
        if echoes is not None and echoes:
            try:
                echoes.remove((msg.arbitration_id, bytes(msg.data)))
            except ValueError:
                pass  # not one of ours
            else:
                return  # our own frame coming back: already recorded as sent
        frame = decode_frame(msg, channel.db, channel.name, clock.now())
        channel.history.append(frame)
        for subscriber in channel._subscribers:
            subscriber(frame)
        for tap in channel._taps:
            tap(frame)

    def on_error(self, exc: Exception) -> None:
        self.channel.history.fail(exc)

    def stop(self) -> None:
        """Nothing to release: the channel owns the history."""


@dataclass(frozen=True)
class Reaction:
    """A stimulus, the response it caused, and the time between them."""

    stimulus: Frame
    response: Frame

    @property
    def seconds(self) -> float:
        return self.response.timestamp - self.stimulus.timestamp


class Channel(TrafficView, Closing):
    """One CAN channel of a bench. Thread-safe for sending and waiting from several threads."""

    def __init__(
        self,
        name: str,
        bus: can.BusABC,
        db: SignalDatabase | None = None,
        *,
        history: int = DEFAULT_HISTORY,
        dut_node: str | None = None,
        fd: bool = False,
        echoes: bool = False,
    ) -> None:
        super().__init__(name, db, History(name, history))
        self._echoes: deque[tuple[int, bytes]] | None = (
            deque(maxlen=_ECHO_WINDOW) if echoes else None
        )
        self.bus = bus
        self.dut_node = dut_node
        self.fd = fd
        self._periodic: list[PeriodicMessage] = []
        self._subscribers: list[Callable[[Frame], None]] = []
        self._taps: list[Callable[[Frame], None]] = []
        self._closed = False
        self._notifier = can.Notifier(bus, [_Receiver(self)], timeout=0.1)

    @classmethod
    def open(cls, config: CanChannelConfig, db: SignalDatabase | None) -> Channel:
        """Open the python-can bus a bench file describes; any failure is a BusError."""
        kwargs: dict[str, Any] = dict(config.options)
        if config.bitrate is not None:
            kwargs["bitrate"] = config.bitrate
        if config.fd:
            kwargs["fd"] = True
        if config.data_bitrate is not None:
            kwargs["data_bitrate"] = config.data_bitrate
        try:
            bus = can.Bus(interface=config.interface, channel=config.channel, **kwargs)
        except Exception as exc:  # interfaces raise anything from ImportError to OSError
            raise BusError(
                f"cannot open CAN channel {config.name!r} "
                f"(interface {config.interface!r}, channel {config.channel!r}): {exc}"
            ) from exc
        try:
            return cls(
                config.name,
                bus,
                db,
                history=config.history,
                dut_node=config.dut_node,
                fd=config.fd,
                echoes=config.interface in ECHOING_INTERFACES,
            )
        except BaseException:
            bus.shutdown()
            raise

    def subscribe(self, callback: Callable[[Frame], None]) -> None:
        """Call ``callback`` with every received frame, on the receive thread.

        For simulations that react to traffic; it must be quick and must not raise.
        Tests wait with :meth:`wait_for` instead.
        """
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[Frame], None]) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def tap(self, callback: Callable[[Frame], None]) -> None:
        """Call ``callback`` with every frame recorded, received and sent, in history order.

        For recorders (traces, logs). Runs on the thread that recorded the frame;
        it must be quick and must not raise.
        """
        self._taps.append(callback)

    def untap(self, callback: Callable[[Frame], None]) -> None:
        if callback in self._taps:
            self._taps.remove(callback)

    @property
    def notifier(self) -> can.Notifier:
        """The python-can Notifier reading this channel's bus, for protocol stacks that add
        their own listener (ISO-TP); they should send through :meth:`send_raw` so their
        frames are recorded too."""
        return self._notifier

    # -- sending ------------------------------------------------------------------

    def send(self, message: str, signals: SignalValues | None = None, /, **values: Any) -> Frame:
        """Send ``message`` by name; signals not given take their initial value.

        >>> body.send("BCM_Request", DoorUnlock=1)       # doctest: +SKIP
        >>> body.send("BCM_Request", {"DoorUnlock": 1})  # doctest: +SKIP
        """
        definition, data = require_db(self).encode(message, {**(signals or {}), **values})
        return self._transmit(self._message_for(definition, data))

    def send_raw(
        self,
        arbitration_id: int,
        data: bytes | bytearray = b"",
        *,
        is_extended_id: bool | None = None,
        is_fd: bool = False,
        bitrate_switch: bool | None = None,
        recorded: bytes | None = None,
    ) -> Frame:
        """Send a frame by ID and bytes, known to the database or not.

        ``is_extended_id`` defaults to True for IDs above 0x7FF. ``recorded``, if
        given, is what the history, taps and traces keep instead of ``data`` (the bus
        gets ``data``): how secrets such as security-access keys stay out of evidence.
        """
        extended = arbitration_id > 0x7FF if is_extended_id is None else is_extended_id
        _check_frame(arbitration_id, bytes(data), extended, is_fd)
        msg = can.Message(
            arbitration_id=arbitration_id,
            data=bytes(data),
            is_extended_id=extended,
            is_fd=is_fd,
            bitrate_switch=is_fd if bitrate_switch is None else bitrate_switch,
        )
        return self._transmit(msg, recorded)

    def send_periodic(
        self,
        message: str,
        signals: SignalValues | None = None,
        /,
        *,
        period: float | None = None,
        **values: Any,
    ) -> PeriodicMessage:
        """Send ``message`` every ``period`` seconds (default: its GenMsgCycleTime) until
        stopped; ``update()`` on the result changes signals while it runs."""
        db = require_db(self)
        definition = db.message(message)
        if period is None:
            if not definition.cycle_time:
                raise EncodeError(f"{message} has no GenMsgCycleTime; pass period=")
            period = definition.cycle_time / 1000
        if period <= 0:
            raise EncodeError(f"period must be positive, got {period}")
        return PeriodicMessage(self, definition, {**(signals or {}), **values}, period)

    def reaction_time(
        self,
        stimulus: str,
        signals: SignalValues | None,
        response: str,
        where: Where = None,
        *,
        timeout: float = 1.0,
    ) -> Reaction:
        """Send ``stimulus`` and wait for ``response``; the Reaction holds both frames."""
        __tracebackhide__ = True  # failures point at the test, not here
        Matcher(self.db, response, where)  # fail on a bad name before sending anything
        since = self.mark()
        sent = self.send(stimulus, signals)
        received = self.wait_for(response, where, timeout=timeout, since=since)
        return Reaction(sent, received)

    def _message_for(self, definition: Message, data: bytes) -> can.Message:
        return can.Message(
            arbitration_id=definition.frame_id,
            data=data,
            is_extended_id=definition.is_extended_frame,
            is_fd=definition.is_fd,
            bitrate_switch=definition.is_fd,
        )

    def _transmit(self, msg: can.Message, recorded: bytes | None = None) -> Frame:
        if self._closed:
            raise BusError(f"channel {self.name!r} is closed")
        stamp = clock.now()
        echo = self._expect_echo(msg)
        try:
            self.bus.send(msg)
        except can.CanError as exc:
            if echo is not None and self._echoes is not None:
                self._echoes.remove(echo)
            raise BusError(f"channel {self.name!r}: cannot send {msg}: {exc}") from exc
        if recorded is not None:
            msg = copy.copy(msg)
            msg.data = bytearray(recorded)
        return self._record_tx(msg, stamp)

    def _expect_echo(self, msg: can.Message) -> tuple[int, bytes] | None:
        """Note a frame about to go out, so its echo (on echoing interfaces) is dropped."""
        if self._echoes is None:
            return None
        key = (msg.arbitration_id, bytes(msg.data))
        self._echoes.append(key)
        return key

    def _record_tx(self, msg: can.Message, stamp: float) -> Frame:
        frame = decode_frame(msg, self.db, self.name, stamp, is_rx=False)
        frame.bus_timestamp = stamp
        self.history.append(frame)
        for tap in self._taps:
            tap(frame)
        return frame

    # -- the DUT ------------------------------------------------------------------

    @property
    def dut_messages(self) -> list[Message]:
        """Messages the DUT node sends, per the database (empty without ``dut_node``)."""
        if self.db is None or self.dut_node is None:
            return []
        return [m for m in self.db.messages if self.dut_node in m.senders]

    # -- lifetime -----------------------------------------------------------------

    @property
    def periodic(self) -> tuple[PeriodicMessage, ...]:
        """The periodic messages this channel is sending."""
        return tuple(self._periodic)

    def stop_periodic(self) -> None:
        """Stop every periodic message this channel started."""
        while self._periodic:
            self._periodic.pop().stop()

    def close(self) -> None:
        """Stop periodic sends, the Notifier and the bus. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop_periodic()
            self._notifier.stop()
        finally:
            self.bus.shutdown()

    def __repr__(self) -> str:
        db = self.db.name if self.db else "no database"
        return f"<Channel {self.name!r} {self.bus.channel_info} {db}>"


class PeriodicMessage:
    """A message a channel sends on a python-can cyclic task, with signals changeable while
    it runs. Every frame it sends is recorded in the channel's history.

    Subclasses change what goes out by overriding :meth:`payload` (called before
    every send, on the sender thread).
    """

    def __init__(
        self,
        channel: Channel,
        definition: Message,
        values: Mapping[str, Any],
        period: float,
        *,
        autostart: bool = True,
    ) -> None:
        self.channel = channel
        self.definition = definition
        self.period = period
        self._lock = threading.Lock()
        self._values = dict(values)
        self._data = require_db(channel).encode(definition.name, self._values)[1]
        self._task: can.broadcastmanager.CyclicSendTaskABC | None = None
        if autostart:
            self.start()

    @property
    def values(self) -> dict[str, Any]:
        """The signal values being sent (as given; defaults not included)."""
        with self._lock:
            return dict(self._values)

    @property
    def running(self) -> bool:
        return self._task is not None

    def update(self, signals: SignalValues | None = None, /, **values: Any) -> None:
        """Change signals from the next frame on; the rest keep their values."""
        merged = {**self.values, **(signals or {}), **values}
        data = require_db(self.channel).encode(self.definition.name, merged)[1]
        with self._lock:
            self._values = merged
            self._data = data

    def payload(self) -> bytes:
        """The bytes of the next frame."""
        with self._lock:
            return self._data

    def start(self, period: float | None = None) -> None:
        """Start sending (again), optionally at a new period."""
        self.stop()
        if period is not None:
            self.period = period
        msg = self.channel._message_for(self.definition, self.payload())
        try:
            self._task = self.channel.bus.send_periodic(
                msg, self.period, modifier_callback=self._before_send
            )
        except can.CanError as exc:
            raise BusError(
                f"channel {self.channel.name!r}: cannot send {self.definition.name} "
                f"periodically: {exc}"
            ) from exc
        self.channel._periodic.append(self)

    def _before_send(self, msg: can.Message) -> None:
        data = self.payload()
        msg.data = bytearray(data)
        msg.dlc = len(data)
        self.channel._expect_echo(msg)
        self.channel._record_tx(msg, clock.now())

    def stop(self) -> None:
        """Stop sending and wait for the sender thread to finish its last frame."""
        task, self._task = self._task, None
        if self in self.channel._periodic:
            self.channel._periodic.remove(self)
        if task is None:
            return
        task.stop()
        thread = getattr(task, "thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.period + _JOIN_MARGIN)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _check_frame(arbitration_id: int, data: bytes, extended: bool, is_fd: bool) -> None:
    limit = 0x1FFFFFFF if extended else 0x7FF
    if not 0 <= arbitration_id <= limit:
        kind = "29-bit" if extended else "11-bit"
        raise EncodeError(f"arbitration ID 0x{arbitration_id:X} does not fit a {kind} identifier")
    if is_fd:
        if len(data) not in CAN_FD_LENGTHS:
            raise EncodeError(f"{len(data)} bytes is not a CAN FD frame length {CAN_FD_LENGTHS}")
    elif len(data) > 8:
        raise EncodeError(
            f"{len(data)} bytes do not fit a classic CAN frame (max 8; use is_fd=True)"
        )

"""A J1939 controller application on a harness channel, from the ecosystem's stack.

can-j1939 (``j1939``) does the protocol: NAME and address claim (J1939-81), the
request PGN, TP.CM/TP.DT in BAM and RTS/CTS with the J1939-21 timers and aborts. It
normally opens its own python-can bus; here it runs on a :class:`Channel` instead,
through its two documented hooks (``send_message=`` for sending, ``notify`` for
received frames), so every frame it sends or receives is in the channel's history and
the per-test trace, and waits on the channel see them.

>>> node = J1939Node(channel, name(identity=7, function=0), address=0x00)  # doctest: +SKIP
>>> node.answer(65262, lambda: et1_payload)                               # doctest: +SKIP
>>> node.send(65226, dm1_payload)         # > 8 bytes: BAM                 # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import j1939

from harness import clock
from harness.canbus.saej1939.addressing import GLOBAL_ADDRESS, NULL_ADDRESS, is_pdu1
from harness.canbus.saej1939.request import ACKNOWLEDGEMENT, Acknowledgement, Control
from harness.canbus.saej1939.transport import BAM_GAP_MIN
from harness.closing import Closing
from harness.exceptions import ExpectationError, HarnessError

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.canbus.frame import Frame

_RECEIVED_KEPT = 1024
"""Whole messages a node keeps for :meth:`J1939Node.wait_message`."""


class J1939Error(HarnessError):
    """A J1939 node cannot do what was asked (no address, a transfer already running)."""


@dataclass(frozen=True, slots=True)
class Received:
    """A whole message a node received: one frame, or a transfer the stack reassembled."""

    pgn: int
    source: int
    priority: int
    data: bytes
    timestamp: float


def name(
    *,
    identity: int,
    function: int,
    manufacturer: int = 0x7FF,
    arbitrary_address_capable: bool = False,
    industry_group: int = 1,
    ecu_instance: int = 0,
) -> Any:
    """A J1939-81 NAME (can-j1939's ``Name``); lower values win address contention.

    Industry group 1 is on-highway equipment; manufacturer 0x7FF is reserved for tests.
    """
    return j1939.Name(
        arbitrary_address_capable=arbitrary_address_capable,
        industry_group=industry_group,
        vehicle_system_instance=0,
        vehicle_system=0,
        function=function,
        function_instance=0,
        ecu_instance=ecu_instance,
        manufacturer_code=manufacturer,
        identity_number=identity,
    )


class _Application(j1939.ControllerApplication):  # type: ignore[misc]
    """can-j1939's controller application, telling when its claim state may have changed
    (it has no callback for that), so :meth:`J1939Node.wait_claimed` waits on an event."""

    def __init__(self, node_name: Any, address: int, changed: Callable[[], None]) -> None:
        super().__init__(node_name, address)
        self._changed = changed

    def start(self) -> None:
        """Claim at once (can-j1939 waits 500 ms): J1939-81 has a node claim before it
        sends anything, and the residual bus starts with the ECU."""
        self._ecu.add_timer(0.0, self._process_claim_async)

    def _process_claim_async(self, cookie: object) -> bool:
        again = super()._process_claim_async(cookie)
        self._changed()
        return bool(again)

    def _process_addressclaim(self, mid: Any, data: Any, timestamp: float) -> None:
        super()._process_addressclaim(mid, data, timestamp)
        self._changed()


class J1939Node(Closing):
    """One controller application on a channel: claims ``address`` for ``name``,
    answers requests from :meth:`answer` and :meth:`acknowledge`, sends with :meth:`send`.

    A request sent to the node's own address for a PGN it neither answers nor
    acknowledges gets a NACK (J1939-21 5.4.4), unless ``nack_unsupported`` is False;
    requests to everyone for such a PGN are ignored, as the standard says. ``on_lost`` is
    called (on the stack's thread) when the node loses its address to a higher-priority
    NAME and cannot claim another: what else it sends must stop.
    """

    def __init__(
        self,
        channel: Channel,
        node_name: Any,
        address: int,
        *,
        bam_gap: float = BAM_GAP_MIN,
        nack_unsupported: bool = True,
        on_lost: Callable[[], object] | None = None,
    ) -> None:
        self.channel = channel
        self.nack_unsupported = nack_unsupported
        self._on_lost = on_lost
        self._ecu = j1939.ElectronicControlUnit(send_message=self._send_frame)
        # can-j1939 2.0.12 leaves the BAM gap unset when one is passed to it (only its
        # default, Tb = 50 ms, is assigned), so a simulated fault sets it after the fact
        self._ecu.j1939_dll._minimum_tp_bam_dt_interval = bam_gap
        self._arrived = threading.Condition()
        self._ca = _Application(node_name, address, self._state_changed)
        self._ecu.add_ca(controller_application=self._ca)
        self._ca.subscribe(self._on_message)
        self._ca.subscribe_request(self._on_request)
        self._answers: dict[int, Callable[[], bytes]] = {}
        self._commands: dict[int, Callable[[], bool]] = {}
        self._received: deque[Received] = deque(maxlen=_RECEIVED_KEPT)
        self._closed = False
        channel.subscribe(self._on_frame)
        self._ca.start()

    @property
    def address(self) -> int:
        """The address the node holds: 254 (null) before its claim or after it lost one."""
        return int(self._ca.device_address)

    @property
    def cannot_claim(self) -> bool:
        return bool(self._ca.state == j1939.ControllerApplication.State.CANNOT_CLAIM)

    def wait_claimed(self, timeout: float) -> int:
        """Wait until the claim is decided; the address held (254 if it cannot claim one).

        ExpectationError when ``timeout`` seconds pass with the claim still open."""
        deadline = clock.now() + timeout
        with self._arrived:
            while not self._decided():
                left = deadline - clock.now()
                if left <= 0 or not self._arrived.wait(left):
                    if self._decided():
                        break
                    raise ExpectationError(
                        f"J1939 node: its address claim is not decided after {timeout:g} s"
                    )
        return self.address

    def answer(self, pgn: int, payload: Callable[[], bytes]) -> None:
        """Answer requests for ``pgn`` with ``payload()`` (sent by TP when longer than 8)."""
        self._answers[pgn] = payload

    def acknowledge(self, pgn: int, command: Callable[[], bool]) -> None:
        """Carry out requests for ``pgn`` (a command such as DM3 or DM11) with
        ``command()``; a request to this node gets an ACK if it returned True, else a NACK
        (a request to everyone gets no acknowledgement, J1939-73 5.7.3)."""
        self._commands[pgn] = command

    def every(self, period: float, callback: Callable[[], object]) -> None:
        """Call ``callback`` every ``period`` seconds on the stack's own timer thread."""

        def tick(cookie: object) -> bool:
            callback()
            return True  # can-j1939: call again

        self._ecu.add_timer(period, tick)

    def request(self, pgn: int, destination: int = GLOBAL_ADDRESS) -> None:
        """Send a request (PGN 59904) for ``pgn`` to ``destination``."""
        self._need_address()
        self._ca.send_request(0, pgn, destination)

    def send(
        self, pgn: int, data: bytes, *, destination: int = GLOBAL_ADDRESS, priority: int = 6
    ) -> None:
        """Send ``data`` as ``pgn``: one frame up to 8 bytes, else BAM (to everyone) or
        RTS/CTS (to one node, PDU1 PGNs only)."""
        self._need_address()
        ps = destination if is_pdu1(pgn) else pgn & 0xFF
        sent = self._ca.send_pgn((pgn >> 16) & 0x3, (pgn >> 8) & 0xFF, ps, priority, list(data))
        if sent is False:
            raise J1939Error(
                f"J1939 node 0x{self.address:02X}: "
                f"a transfer to 0x{destination:02X} is still running"
            )

    def wait_message(
        self,
        pgn: int,
        *,
        source: int | None = None,
        since: float = 0.0,
        timeout: float,
        where: Callable[[Received], bool] | None = None,
    ) -> Received:
        """The first whole message of ``pgn`` (from ``source``, for which ``where`` holds)
        received after ``since``; ExpectationError with what did arrive when none comes in
        ``timeout`` seconds."""
        return self.wait_any({pgn}, source=source, since=since, timeout=timeout, where=where)

    def wait_any(
        self,
        pgns: set[int],
        *,
        source: int | None = None,
        since: float = 0.0,
        timeout: float,
        where: Callable[[Received], bool] | None = None,
    ) -> Received:
        """Like :meth:`wait_message`, for the first message of any of ``pgns``."""
        deadline = clock.now() + timeout

        def found() -> Received | None:
            for message in self._received:
                if (
                    message.pgn in pgns
                    and message.timestamp >= since
                    and (source is None or message.source == source)
                    and (where is None or where(message))
                ):
                    return message
            return None

        with self._arrived:
            while (message := found()) is None:
                left = deadline - clock.now()
                if left <= 0 or not self._arrived.wait(left):
                    if (message := found()) is not None:
                        return message
                    kinds = Counter((m.pgn, m.source) for m in self._received)
                    seen = ", ".join(
                        f"PGN {p} from 0x{sa:02X} ({n}x)" for (p, sa), n in kinds.most_common(8)
                    ) + (", ..." if len(kinds) > 8 else "")
                    raise ExpectationError(
                        f"J1939 node 0x{self.address:02X}: no PGN "
                        + " or ".join(map(str, sorted(pgns)))
                        + (f" from 0x{source:02X}" if source is not None else "")
                        + f" within {timeout:g} s; received: {seen or 'nothing'}"
                    )
        return message

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.channel.unsubscribe(self._on_frame)
        self._ca.stop()
        self._ecu.stop()

    def _decided(self) -> bool:
        state = self._ca.state
        states = j1939.ControllerApplication.State
        return bool(state in (states.NORMAL, states.CANNOT_CLAIM))

    def _state_changed(self) -> None:
        with self._arrived:
            self._arrived.notify_all()
        if self.cannot_claim and self._on_lost is not None:
            lost, self._on_lost = self._on_lost, None
            lost()

    def _need_address(self) -> None:
        if self.address == NULL_ADDRESS:
            raise J1939Error("J1939 node has no address (its claim is not done, or it lost it)")

    def _send_frame(
        self, can_id: int, extended_id: bool, data: Any, fd_format: bool = False
    ) -> None:
        if not self._closed:
            self.channel.send_raw(can_id, bytes(data), is_extended_id=True)

    def _on_frame(self, frame: Frame) -> None:
        if frame.is_extended_id and not frame.is_error and not frame.is_remote:
            self._ecu.notify(frame.arbitration_id, bytearray(frame.data), frame.timestamp)

    def _on_message(
        self, priority: int, pgn: int, source: int, timestamp: float, data: Any
    ) -> None:
        with self._arrived:
            # can-j1939 stamps reassembled transfers with time.time(); keep the harness clock
            self._received.append(Received(pgn, source, priority, bytes(data), clock.now()))
            self._arrived.notify_all()

    def _on_request(self, source: int, destination: int, pgn: int) -> None:
        to_me = destination != GLOBAL_ADDRESS
        command = self._commands.get(pgn)
        if command is not None:
            done = command()
            if to_me:
                self._acknowledge(Control.ACK if done else Control.NACK, pgn, source)
            return
        payload = self._answers.get(pgn)
        if payload is None:
            if to_me and self.nack_unsupported:
                self._acknowledge(Control.NACK, pgn, source)
            return
        data = payload()
        target = source if is_pdu1(pgn) and destination != GLOBAL_ADDRESS else GLOBAL_ADDRESS
        with contextlib.suppress(HarnessError):  # a transfer still running: the requester
            self.send(pgn, data, destination=target)  # times out and says so

    def _acknowledge(self, control: Control, pgn: int, requester: int) -> None:
        """An acknowledgement to everyone, naming the requester (J1939-21 5.4.4)."""
        with contextlib.suppress(HarnessError):  # the claim lost meanwhile: nothing to say
            self.send(ACKNOWLEDGEMENT, Acknowledgement(control, pgn, requester).pack())

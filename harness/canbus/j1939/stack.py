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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import j1939

from harness import clock
from harness.canbus.j1939.addressing import GLOBAL_ADDRESS, NULL_ADDRESS, is_pdu1
from harness.canbus.j1939.transport import BAM_GAP_MIN
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


class J1939Node(Closing):
    """One controller application on a channel: claims ``address`` for ``name``,
    answers requests from :meth:`answer`, sends with :meth:`send`."""

    def __init__(
        self, channel: Channel, node_name: Any, address: int, *, bam_gap: float = BAM_GAP_MIN
    ) -> None:
        self.channel = channel
        self._ecu = j1939.ElectronicControlUnit(send_message=self._send_frame)
        # can-j1939 2.0.12 leaves the BAM gap unset when one is passed to it (only its
        # default, Tb = 50 ms, is assigned), so a simulated fault sets it after the fact
        self._ecu.j1939_dll._minimum_tp_bam_dt_interval = bam_gap
        self._ca = j1939.ControllerApplication(node_name, address)
        self._ecu.add_ca(controller_application=self._ca)
        self._ca.subscribe(self._on_message)
        self._ca.subscribe_request(self._on_request)
        self._answers: dict[int, Callable[[], bytes]] = {}
        self._received: deque[Received] = deque(maxlen=_RECEIVED_KEPT)
        self._arrived = threading.Condition()
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

    def answer(self, pgn: int, payload: Callable[[], bytes]) -> None:
        """Answer requests for ``pgn`` with ``payload()`` (sent by TP when longer than 8)."""
        self._answers[pgn] = payload

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
        self, pgn: int, *, source: int | None = None, since: float = 0.0, timeout: float
    ) -> Received:
        """The first whole message of ``pgn`` (from ``source``) received after ``since``;
        ExpectationError with what did arrive when none comes in ``timeout`` seconds."""
        deadline = clock.now() + timeout

        def found() -> Received | None:
            for message in self._received:
                if (
                    message.pgn == pgn
                    and message.timestamp >= since
                    and (source is None or message.source == source)
                ):
                    return message
            return None

        with self._arrived:
            while (message := found()) is None:
                left = deadline - clock.now()
                if left <= 0 or not self._arrived.wait(left):
                    if (message := found()) is not None:
                        return message
                    seen = ", ".join(f"PGN {m.pgn} from 0x{m.source:02X}" for m in self._received)
                    raise ExpectationError(
                        f"J1939 node 0x{self.address:02X}: no PGN {pgn}"
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
        payload = self._answers.get(pgn)
        if payload is None:
            return
        data = payload()
        target = source if is_pdu1(pgn) and destination != GLOBAL_ADDRESS else GLOBAL_ADDRESS
        with contextlib.suppress(HarnessError):  # a transfer still running: the requester
            self.send(pgn, data, destination=target)  # times out and says so
